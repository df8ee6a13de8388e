//! The WebSocket endpoints and their sessions (`widget`, `agent`, each one task per socket): `/ws/widget` (checked against the account's allowed domains
//! before the upgrade) and `/ws/agent` (the inbox: session cookie, same origin only).

pub mod agent;
pub mod frame_limit;
pub mod widget;

use super::{errors::ApiError, throttle::ConnectThrottle};
use crate::{
    domain::{ids::UserId, user::AgentStatus},
    services::{self, Context, ServiceError},
};
use actix_session::SessionExt;
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(widget_socket).service(agent_socket);
}

#[derive(Deserialize)]
struct WidgetQuery {
    key: String,
}

fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim_end_matches('/').to_lowercase())
}

/// Accepts only origins the account allows (any when it lists none).
fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    allowed.is_empty()
        || origin.is_some_and(|origin| allowed.iter().any(|allowed| allowed == origin))
}

#[get("/ws/widget")]
async fn widget_socket(
    req: HttpRequest,
    body: web::Payload,
    ctx: web::Data<Context>,
    query: web::Query<WidgetQuery>,
    throttle: web::Data<ConnectThrottle>,
) -> Result<HttpResponse, ApiError> {
    if !throttle.allow(req.peer_addr().map(|addr| addr.ip())) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many chat connections from this address; retry in a few seconds",
        ));
    }
    let account = services::accounts::find_by_widget_key(&ctx, &query.key).await?;
    let origin = origin(&req);
    if !origin_allowed(&account.allowed_domains, origin.as_deref()) {
        tracing::info!(?origin, account_id = %account.id, "widget origin refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "This website is not in the account's allowed domains",
        ));
    }
    let (response, session, stream) = upgrade(&req, body).await?;
    let look = serde_json::json!({
        "color": account.widget.color,
        "position": account.widget.position,
        "title": account.widget.title.clone().unwrap_or(account.name),
        "texts": account.widget.texts,
    });
    crate::in_runtime::spawn_local(widget::run(
        ctx.into_inner(),
        account.id,
        look,
        req.peer_addr().map(|addr| addr.ip()),
        session,
        stream,
    ));
    Ok(response)
}

/// Upgrades to a WebSocket whose incoming messages are limited to `MAX_FRAME_BYTES`, refused
/// at the frame header (see `frame_limit`).
async fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, actix_ws::Session, actix_ws::MessageStream), ApiError> {
    let not_a_websocket = |error: actix_web::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_websocket",
            error.to_string(),
        )
    };
    let body = frame_limit::limit_messages(req, body, widget::MAX_FRAME_BYTES)
        .await
        .map_err(not_a_websocket)?;
    actix_ws::handle(req, body).map_err(not_a_websocket)
}

/// The server's own origin as the browser sends it.
fn own_origin(req: &HttpRequest, ctx: &Context) -> String {
    match &ctx.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_lowercase(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host()).to_lowercase()
        }
    }
}

/// `?watch=1`: the supervisor page's socket, which gets the account's events without making
/// its user present (available for conversations) the way the inbox does.
fn watching(req: &HttpRequest) -> bool {
    req.query_string()
        .split('&')
        .any(|pair| pair == "watch=1" || pair == "watch=true")
}

#[get("/ws/agent")]
async fn agent_socket(
    req: HttpRequest,
    body: web::Payload,
    ctx: web::Data<Context>,
) -> Result<HttpResponse, ApiError> {
    if origin(&req).as_deref() != Some(own_origin(&req, &ctx).as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "The inbox socket is same-origin only",
        ));
    }
    let user_id = req
        .get_session()
        .get::<uuid::Uuid>("uid")
        .ok()
        .flatten()
        .ok_or(ServiceError::Unauthorized)?;
    let actor = services::users::session_actor(&ctx, UserId::from_uuid(user_id))
        .await?
        .ok_or(ServiceError::Unauthorized)?;
    let user = services::users::get_user(&ctx, &actor, actor.user_id).await?;
    let (response, session, stream) = upgrade(&req, body).await?;
    let presence = if watching(&req) {
        agent::Presence::Watching
    } else if user.status == AgentStatus::Online {
        agent::Presence::Online
    } else {
        agent::Presence::Away
    };
    crate::in_runtime::spawn_local(agent::run(
        ctx.into_inner(),
        actor,
        presence,
        session,
        stream,
    ));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn origins_are_checked_only_when_the_account_lists_some() {
        assert!(origin_allowed(&[], None));
        let allowed = vec!["https://shop.example.com".to_owned()];
        assert!(origin_allowed(&allowed, Some("https://shop.example.com")));
        assert!(!origin_allowed(&allowed, Some("https://evil.example.com")));
        assert!(!origin_allowed(&allowed, None));
    }
}
