//! `GET/POST /api/v1/flows`, `GET/PUT/DELETE /api/v1/flows/{id}`: chatbot flows as the JSON of
//! DESIGN section 3 (what GET exports, POST and PUT import).

use crate::{
    services::{self, Context},
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde_json::{Value, json};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_flows)
        .service(create_flow)
        .service(get_flow)
        .service(replace_flow)
        .service(delete_flow);
}

fn flow_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The account's flows, highest priority first (owner, admin).
#[utoipa::path(get, path = "/api/v1/flows", tag = "flows",
    responses((status = 200, description = "`{\"flows\": [flow JSON with id]}`"), (status = 403, body = super::ErrorBody)))]
#[get("/flows")]
async fn list_flows(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    let flows: Vec<Value> = services::flows::list(&ctx, &actor)
        .await?
        .iter()
        .map(|f| f.to_json())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "flows": flows })))
}

/// Creates a flow from its JSON; `422` lists every problem with its path.
#[utoipa::path(post, path = "/api/v1/flows", tag = "flows", request_body(content = Object, description = "The flow JSON of DESIGN section 3"),
    responses((status = 201, description = "The flow with its id"), (status = 422, body = super::ErrorBody)))]
#[post("/flows")]
async fn create_flow(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let flow = services::flows::create(&ctx, &actor, &body).await?;
    Ok(HttpResponse::Created().json(flow.to_json()))
}

/// One flow, as JSON that `POST /api/v1/flows` imports again.
#[utoipa::path(get, path = "/api/v1/flows/{id}", tag = "flows", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The flow"), (status = 404, body = super::ErrorBody)))]
#[get("/flows/{id}")]
async fn get_flow(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        services::flows::get(&ctx, &actor, flow_id(&path)?)
            .await?
            .to_json(),
    ))
}

/// Replaces a flow's definition.
#[utoipa::path(put, path = "/api/v1/flows/{id}", tag = "flows", params(("id" = uuid::Uuid, Path)),
    request_body(content = Object, description = "The flow JSON"),
    responses((status = 200, description = "The flow"), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[put("/flows/{id}")]
async fn replace_flow(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        services::flows::replace(&ctx, &actor, flow_id(&path)?, &body)
            .await?
            .to_json(),
    ))
}

/// Deletes a flow.
#[utoipa::path(delete, path = "/api/v1/flows/{id}", tag = "flows", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
#[delete("/flows/{id}")]
async fn delete_flow(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services::flows::delete(&ctx, &actor, flow_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
