//! `/api/v1/visitors/{id}/block` and `/api/v1/blocks`: block and unblock visitors (by their
//! token and, by default, the IP address their widget connects from) and list the blocks.

use crate::{
    domain::ids::VisitorId,
    services::{
        Context,
        blocking::{self, BlockInput, BlockView},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(block_visitor)
        .service(unblock_visitor)
        .service(list_blocks)
        .service(delete_block);
}

fn uuid(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Blocks a visitor (any role). Their open widgets get an `error` frame `blocked` and close;
/// with `block_ip` (default true) the address their widget last connected from is blocked too.
#[utoipa::path(post, path = "/api/v1/visitors/{id}/block", tag = "blocking",
    params(("id" = uuid::Uuid, Path)), request_body = BlockInput,
    responses((status = 201, body = BlockView), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[post("/visitors/{id}/block")]
async fn block_visitor(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<BlockInput>,
) -> Result<HttpResponse, ApiError> {
    let visitor_id = VisitorId::from_uuid(uuid(&path)?);
    let block = blocking::block_visitor(&ctx, &actor, visitor_id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(block))
}

/// Lifts the block on a visitor (and on the address blocked with it). Admins lift any block,
/// agents the ones they placed.
#[utoipa::path(delete, path = "/api/v1/visitors/{id}/block", tag = "blocking",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
#[delete("/visitors/{id}/block")]
async fn unblock_visitor(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    blocking::unblock_visitor(&ctx, &actor, VisitorId::from_uuid(uuid(&path)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct BlockList {
    blocks: Vec<BlockView>,
}

/// The account's blocks, newest first.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "blocking", responses((status = 200, body = BlockList)))]
#[get("/blocks")]
async fn list_blocks(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(BlockList {
        blocks: blocking::list(&ctx, &actor).await?,
    }))
}

/// Lifts one block by its id.
#[utoipa::path(delete, path = "/api/v1/blocks/{id}", tag = "blocking",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
#[delete("/blocks/{id}")]
async fn delete_block(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    blocking::unblock(&ctx, &actor, uuid(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
