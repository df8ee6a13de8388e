//! Who is asking: the signed-in user of a page (session cookie), the API caller (Bearer token),
//! and CSRF protection for every form.

use super::errors::{ApiError, PageError};
use crate::{
    domain::ids::UserId,
    services::{self, Actor, Context},
};
use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

const SESSION_USER: &str = "uid";
const SESSION_CSRF: &str = "csrf";
/// The name of the hidden field every form carries.
pub const CSRF_FIELD: &str = "csrf_token";
/// Paths a user with a temporary password may still open.
const PASSWORD_CHANGE_PATHS: [&str; 2] = ["/account/password", "/logout"];

fn context(req: &HttpRequest) -> Option<web::Data<Context>> {
    req.app_data::<web::Data<Context>>().cloned()
}

/// The CSRF token of this session, made on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(SESSION_CSRF) {
        return token;
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    if let Err(error) = session.insert(SESSION_CSRF, &token) {
        tracing::warn!(%error, "cannot store the CSRF token in the session");
    }
    token
}

/// Starts a fresh session for a user who just signed in (no session fixation).
pub fn start_session(session: &Session, actor: &Actor) -> Result<(), PageError> {
    session.renew();
    session.remove(SESSION_CSRF);
    session
        .insert(SESSION_USER, actor.user_id.as_uuid())
        .map_err(|error| {
            PageError::Service(anyhow::anyhow!("storing the session: {error}").into())
        })?;
    Ok(())
}

/// A signed-in user on a page. Redirects to sign-in when there is none.
pub struct SignedIn {
    pub actor: Actor,
    pub session: Session,
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let ctx = context(req);
        let path = req.path().to_owned();
        let next = req
            .uri()
            .path_and_query()
            .map_or_else(|| path.clone(), |pq| pq.to_string());
        Box::pin(async move {
            let ctx =
                ctx.ok_or_else(|| PageError::Service(anyhow::anyhow!("no context").into()))?;
            let user_id = session.get::<uuid::Uuid>(SESSION_USER).ok().flatten();
            let Some(user_id) = user_id else {
                return Err(PageError::SignInRequired { next });
            };
            let Some(actor) =
                services::users::session_actor(&ctx, UserId::from_uuid(user_id)).await?
            else {
                session.purge();
                return Err(PageError::SignInRequired { next });
            };
            if actor.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&path.as_str()) {
                return Err(PageError::Redirect("/account/password".to_owned()));
            }
            Ok(SignedIn { actor, session })
        })
    }
}

/// The signed-in user of the request's session cookie, if any (for endpoints that also take
/// other credentials, such as file downloads).
pub async fn session_actor(req: &HttpRequest) -> Result<Option<Actor>, services::ServiceError> {
    let Some(ctx) = context(req) else {
        return Ok(None);
    };
    let user_id = req
        .get_session()
        .get::<uuid::Uuid>(SESSION_USER)
        .ok()
        .flatten();
    match user_id {
        Some(user_id) => services::users::session_actor(&ctx, UserId::from_uuid(user_id)).await,
        None => Ok(None),
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The caller of the REST API, from `Authorization: Bearer <token>`.
pub struct ApiActor(pub Actor);

impl FromRequest for ApiActor {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = context(req);
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| {
                ApiError::from(services::ServiceError::Unexpected(anyhow::anyhow!(
                    "no context"
                )))
            })?;
            let token = token.ok_or(services::ServiceError::Unauthorized)?;
            Ok(ApiActor(
                services::tokens::authenticate(&ctx, &token).await?,
            ))
        })
    }
}

/// The header a page's script sends the CSRF token in (JSON requests have no form field).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether a script's request carries this session's CSRF token in [`CSRF_HEADER`].
pub fn csrf_header_valid(req: &HttpRequest, session: &Session) -> bool {
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .map(actix_web::http::header::HeaderValue::as_bytes);
    match (sent, session.get::<String>(SESSION_CSRF).ok().flatten()) {
        (Some(sent), Some(expected)) => bool::from(sent.ct_eq(expected.as_bytes())),
        _ => false,
    }
}

/// A form that carries nothing but its CSRF token (sign out, resolve, revoke, delete).
#[derive(serde::Deserialize)]
pub struct EmptyForm {}

/// A URL-encoded form whose `csrf_token` field matched the session's token.
pub struct SecureForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for SecureForm<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|error| PageError::BadForm(error.to_string()))?;
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|error| PageError::BadForm(error.to_string()))?;
            let sent = fields
                .iter()
                .find(|(name, _)| name == CSRF_FIELD)
                .map(|(_, value)| value.as_bytes());
            let expected = session.get::<String>(SESSION_CSRF).ok().flatten();
            let valid = match (sent, expected) {
                (Some(sent), Some(expected)) => bool::from(sent.ct_eq(expected.as_bytes())),
                _ => false,
            };
            if !valid {
                return Err(PageError::CsrfRejected);
            }
            serde_urlencoded::from_bytes::<T>(&body)
                .map(SecureForm)
                .map_err(|error| PageError::BadForm(error.to_string()))
        })
    }
}
