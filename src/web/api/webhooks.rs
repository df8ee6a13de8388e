//! `/api/v1/webhooks`: webhook endpoints (owner, admin), their delivery logs and test events.

use crate::{
    services::{
        Context,
        webhooks::{self, DeliveryView, EndpointInput, EndpointView},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(delete_webhook)
        .service(list_deliveries)
        .service(send_test_event);
}

fn id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<EndpointView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// The account's webhook endpoints, with their signing secrets.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 403, body = super::ErrorBody)))]
#[get("/webhooks")]
async fn list_webhooks(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: webhooks::endpoints(&ctx, &actor).await?,
    }))
}

/// Adds an endpoint: an absolute http(s) `url`, `events` to send (absent or `["*"]`: every
/// event). The answer carries the new `secret` (`whsec_…`).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = EndpointInput,
    responses((status = 201, body = EndpointView), (status = 422, body = super::ErrorBody)))]
#[post("/webhooks")]
async fn create_webhook(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = webhooks::create_endpoint(&ctx, &actor, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(endpoint))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = EndpointView), (status = 404, body = super::ErrorBody)))]
#[get("/webhooks/{id}")]
async fn get_webhook(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(webhooks::endpoint(&ctx, &actor, id(&path)?).await?))
}

/// Removes an endpoint; its pending deliveries are dropped.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    webhooks::delete_endpoint(&ctx, &actor, id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The endpoint's latest deliveries, newest first: status, attempts, last response code or
/// error, next retry.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = DeliveryList), (status = 404, body = super::ErrorBody)))]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: webhooks::deliveries(&ctx, &actor, Some(id(&path)?)).await?,
    }))
}

/// Queues a `webhook.test` event to this endpoint only; answers the queued delivery.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = DeliveryView), (status = 404, body = super::ErrorBody)))]
#[post("/webhooks/{id}/test")]
async fn send_test_event(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(webhooks::send_test(&ctx, &actor, id(&path)?).await?))
}
