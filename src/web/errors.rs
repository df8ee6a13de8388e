//! How errors reach clients: a JSON body `{"error": {code, message, details}}` for the API, an
//! HTML page (or a redirect to sign-in) for pages. Internal causes only go to the log.

use crate::error::{ServiceError, log_unexpected};
use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use askama::Template;
use serde_json::{Value, json};
use std::fmt;

/// An API error: HTTP status, a stable snake_case code, a human message, optional details.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => Self::not_found(),
            ServiceError::Forbidden(message) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            ServiceError::Invalid(fields) => Self {
                details: Some(json!(fields)),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    fields
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            },
            ServiceError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            ServiceError::Refused { code, message } => {
                Self::new(refused_status(code), code, message)
            }
            ServiceError::Unauthorized => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a valid API token as `Authorization: Bearer <token>`",
            ),
            ServiceError::TooManyAttempts => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests; try again later",
            ),
            ServiceError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The server is busy; try again shortly",
            ),
            ServiceError::Unexpected(cause) => {
                log_unexpected(&cause);
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side",
                )
            }
        }
    }
}

/// The status of a refusal: a file too large (413) or of a refused type (415) has its own; any
/// other refusal is a conflict with the current state (409).
fn refused_status(code: &str) -> StatusCode {
    match code {
        crate::services::attachments::TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        crate::services::attachments::TYPE_REFUSED => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        crate::services::blocking::BLOCKED_CODE => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(details) = &self.details {
            body["details"] = details.clone();
        }
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(json!({ "error": body }))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page error: a redirect, or an HTML error page with the right status.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page, then come back to `next`.
    SignInRequired {
        next: String,
    },
    /// Go elsewhere first (e.g. a temporary password must be changed).
    Redirect(String),
    /// A form without a valid CSRF token.
    CsrfRejected,
    /// A form body that cannot be read.
    BadForm(String),
    Service(ServiceError),
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        Self::Service(error)
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        Self::Service(ServiceError::Unexpected(
            anyhow::Error::new(error).context("rendering a page"),
        ))
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl PageError {
    fn page(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::SignInRequired { .. } | Self::Redirect(_) => (StatusCode::SEE_OTHER, "", String::new()),
            Self::CsrfRejected => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from a page of this site, or it expired. Go back, reload the page and try again.".to_owned(),
            ),
            Self::BadForm(reason) => (StatusCode::BAD_REQUEST, "Bad form", format!("The form could not be read: {reason}")),
            Self::Service(error) => match error {
                ServiceError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing here.".to_owned()),
                ServiceError::Forbidden(_) => (
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    "Your role does not give access to this page. Ask an owner or admin of your account.".to_owned(),
                ),
                ServiceError::Invalid(fields) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid input",
                    fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                ),
                ServiceError::Conflict(message) => (StatusCode::CONFLICT, "Conflict", message.clone()),
                ServiceError::Refused { message, .. } => (StatusCode::CONFLICT, "Not now", message.clone()),
                ServiceError::Unauthorized => (StatusCode::UNAUTHORIZED, "Sign in", "Please sign in.".to_owned()),
                ServiceError::TooManyAttempts => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    "Too many attempts. Wait a minute and try again.".to_owned(),
                ),
                ServiceError::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Busy",
                    "The server is busy. Try again in a moment.".to_owned(),
                ),
                ServiceError::Unexpected(cause) => {
                    log_unexpected(cause);
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "Something went wrong on our side. It has been logged; try again.".to_owned(),
                    )
                }
            },
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.page().0
    }

    fn error_response(&self) -> HttpResponse {
        let location = match self {
            Self::SignInRequired { next } => Some(format!(
                "/login?next={}",
                serde_urlencoded::to_string([("", next)])
                    .map(|encoded| encoded.trim_start_matches('=').to_owned())
                    .unwrap_or_default()
            )),
            Self::Redirect(to) => Some(to.clone()),
            _ => None,
        };
        if let Some(location) = location {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let (status, title, message) = self.page();
        let body = ErrorPage {
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        HttpResponse::build(status)
            .insert_header((header::CONTENT_SECURITY_POLICY, super::pages::CSP))
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

/// The answer to a URL no route matches: the API's JSON error body under `/api/` (a client
/// of the API parses it like any other error), the HTML error page elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if path == "/api" || path.starts_with("/api/") {
        ApiError::not_found().error_response()
    } else {
        PageError::Service(ServiceError::NotFound).error_response()
    }
}
