//! Signing in and out.

use super::{redirect, render, render_with_status};
use crate::{
    services::{self, Context, ServiceError},
    web::{
        auth::{EmptyForm, SecureForm, SignedIn, csrf_token, start_session},
        errors::PageError,
        throttle::SignInThrottle,
    },
};
use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

/// The one message for an unknown email, a wrong password and a deactivated user.
const INVALID_CREDENTIALS: &str = "That email and password do not match an active user.";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_root)
        .service(get_sign_in)
        .service(post_sign_in)
        .service(post_sign_out);
}

#[derive(Template)]
#[template(path = "auth/sign_in.html")]
struct SignInPage {
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths, so `next` cannot send anyone to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/inbox".to_owned(),
    }
}

#[get("/")]
async fn get_root(session: Session) -> HttpResponse {
    match session.get::<uuid::Uuid>("uid") {
        Ok(Some(_)) => redirect("/inbox"),
        _ => redirect("/login"),
    }
}

#[get("/login")]
async fn get_sign_in(
    session: Session,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    render(&SignInPage {
        csrf: csrf_token(&session),
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

#[post("/login")]
#[tracing::instrument(skip_all)]
async fn post_sign_in(
    req: HttpRequest,
    ctx: web::Data<Context>,
    throttle: web::Data<SignInThrottle>,
    session: Session,
    SecureForm(form): SecureForm<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(form.next.as_deref());
    let again = |status: StatusCode, error: &str| {
        render_with_status(
            &SignInPage {
                csrf: csrf_token(&session),
                email: form.email.clone(),
                next: next.clone(),
                error: Some(error.to_owned()),
            },
            status,
        )
    };
    let ip = req.peer_addr().map(|addr| addr.ip());
    if !throttle.allow(ip, &form.email) {
        tracing::warn!(?ip, "sign-in throttled");
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts. Wait a minute and try again.",
        );
    }
    match services::users::sign_in(&ctx, &form.email, &form.password).await {
        Ok(actor) => {
            start_session(&session, &actor)?;
            tracing::info!(user_id = %actor.user_id, "signed in");
            Ok(redirect(if actor.must_change_password {
                "/account/password"
            } else {
                &next
            }))
        }
        Err(ServiceError::Unauthorized) => again(StatusCode::UNAUTHORIZED, INVALID_CREDENTIALS),
        Err(ServiceError::Busy) => again(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy. Try again in a moment.",
        ),
        Err(error) => Err(error.into()),
    }
}

#[post("/logout")]
async fn post_sign_out(signed_in: SignedIn, SecureForm(_): SecureForm<EmptyForm>) -> HttpResponse {
    tracing::info!(user_id = %signed_in.actor.user_id, "signed out");
    signed_in.session.purge();
    redirect("/login")
}
