//! `/settings/webhooks` (owners and admins): webhook endpoints with their secrets, the form to
//! add one, "Send test event", and the delivery log with response codes and next retries.

use super::{Chrome, error_lines, redirect, render, render_with_status};
use crate::{
    domain::{role::Role, webhook::EVENT_KINDS},
    services::{
        self, Context, ServiceError,
        webhooks::{DeliveryView, EndpointInput, EndpointView},
    },
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_webhooks)
        .service(post_webhook)
        .service(post_delete_webhook)
        .service(post_test_webhook);
}

#[derive(Template)]
#[template(path = "settings/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    tab: &'static str,
    endpoints: Vec<EndpointView>,
    deliveries: Vec<DeliveryView>,
    kinds: [&'static str; 8],
    errors: Vec<String>,
    notice: Option<&'static str>,
}

/// To the second: retries come seconds apart.
fn at(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn maybe_at(time: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.as_ref().map(at).unwrap_or_default()
}

async fn page(
    ctx: &Context,
    signed_in: &SignedIn,
    errors: Vec<String>,
    notice: Option<&'static str>,
) -> Result<WebhooksPage, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    Ok(WebhooksPage {
        chrome: Chrome::new(ctx, actor, &signed_in.session, "settings").await?,
        tab: "webhooks",
        endpoints: services::webhooks::endpoints(ctx, actor).await?,
        deliveries: services::webhooks::deliveries(ctx, actor, None).await?,
        kinds: EVENT_KINDS,
        errors,
        notice,
    })
}

#[derive(serde::Deserialize)]
struct Notice {
    saved: Option<String>,
    sent: Option<String>,
}

#[get("/settings/webhooks")]
async fn get_webhooks(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let notice = if query.sent.is_some() {
        Some("Test event queued; it shows in the delivery log below.")
    } else if query.saved.is_some() {
        Some("Saved.")
    } else {
        None
    };
    render(&page(&ctx, &signed_in, Vec::new(), notice).await?)
}

async fn done(
    ctx: &Context,
    signed_in: &SignedIn,
    result: Result<(), ServiceError>,
    to: &str,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(()) => Ok(redirect(to)),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            render_with_status(
                &page(ctx, signed_in, errors, None).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

fn path_id(raw: &str) -> Result<uuid::Uuid, PageError> {
    Ok(raw.parse().map_err(|_| ServiceError::NotFound)?)
}

/// The add form: `url`, `description`, one `event` per checked event (none: every event).
#[post("/settings/webhooks")]
async fn post_webhook(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let value = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let events: Vec<String> = form
        .iter()
        .filter(|(key, _)| key == "event")
        .map(|(_, value)| value.clone())
        .collect();
    let input = EndpointInput {
        url: value("url").unwrap_or_default(),
        events: Some(events),
        description: value("description"),
    };
    let result = services::webhooks::create_endpoint(&ctx, &signed_in.actor, input)
        .await
        .map(|_| ());
    done(&ctx, &signed_in, result, "/settings/webhooks?saved=1").await
}

#[post("/settings/webhooks/{id}/delete")]
async fn post_delete_webhook(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let id = path_id(&path)?;
    let result = services::webhooks::delete_endpoint(&ctx, &signed_in.actor, id).await;
    done(&ctx, &signed_in, result, "/settings/webhooks?saved=1").await
}

#[post("/settings/webhooks/{id}/test")]
async fn post_test_webhook(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let id = path_id(&path)?;
    let result = services::webhooks::send_test(&ctx, &signed_in.actor, id)
        .await
        .map(|_| ());
    done(&ctx, &signed_in, result, "/settings/webhooks?sent=1").await
}
