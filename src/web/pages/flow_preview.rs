//! The flow preview: a widget-like chat panel (`static/flow-preview.js`) that keeps a flow
//! run's state in the page and posts each event here; the pure interpreter runs on the stored
//! flow, so nothing is written, counted or sent.

use super::{
    Chrome,
    chatbot::{admin, flow_id},
    render,
};
use crate::{
    domain::flow::interpreter::{self, Event, Refusal, RunState},
    services::{self, Context},
    web::{
        auth::{SignedIn, csrf_header_valid},
        errors::{ApiError, PageError},
    },
};
use actix_web::{
    HttpRequest, HttpResponse, get,
    http::{StatusCode, header},
    post, web,
};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_flow_preview).service(post_preview_step);
}

#[derive(Template)]
#[template(path = "chatbot/preview.html")]
struct FlowPreviewPage {
    chrome: Chrome,
    id: String,
    name: String,
    enabled: bool,
}

#[get("/chatbot/flows/{id}/preview")]
async fn get_flow_preview(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let flow = services::flows::get(&ctx, actor, flow_id(&path)?).await?;
    render(&FlowPreviewPage {
        chrome: Chrome::new(&ctx, actor, &signed_in.session, "chatbot").await?,
        id: flow.id.to_string(),
        name: flow.definition.name,
        enabled: flow.definition.enabled,
    })
}

/// An event of the preview, as the page's script sends it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PreviewEvent {
    Start,
    Choose {
        button_id: String,
        #[serde(default)]
        step_id: Option<String>,
    },
    Text {
        text: String,
    },
}

#[derive(Deserialize)]
struct PreviewRequest {
    /// Absent or null before the run starts.
    #[serde(default)]
    state: Option<RunState>,
    event: PreviewEvent,
}

fn refusal(refusal: Refusal) -> ApiError {
    let (code, message) = match refusal {
        Refusal::NotRunning => (
            "not_running",
            "The flow is not running; restart the preview.",
        ),
        Refusal::StaleButton => ("stale_button", "That button belongs to an earlier step."),
        Refusal::UnknownButton => ("unknown_button", "No step of this flow has that button."),
        Refusal::AlreadyStarted => ("already_started", "The flow has already started."),
    };
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// One step of the preview: `{state, event}` in, `{state, actions}` out. Runs the pure
/// interpreter on the stored flow; nothing is written, counted or sent.
#[post("/chatbot/flows/{id}/preview/step")]
async fn post_preview_step(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !csrf_header_valid(&req, &signed_in.session) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "Reload the page and try again",
        ));
    }
    let flow = services::flows::get(&ctx, &signed_in.actor, flow_id(&path)?).await?;
    let request: PreviewRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("Send {{state, event}}: {error}"),
        )
    })?;
    let event = match &request.event {
        PreviewEvent::Start => Event::Start,
        PreviewEvent::Choose { button_id, step_id } => Event::Choose {
            step_id: step_id.as_deref(),
            button_id,
        },
        PreviewEvent::Text { text } => Event::Text(text),
    };
    let (state, actions) = interpreter::advance(
        &flow.definition,
        &request.state.clone().unwrap_or_default(),
        event,
    )
    .map_err(refusal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "state": state, "actions": actions })))
}
