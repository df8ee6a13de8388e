//! `/api/v1/visitors/{id}/export`, `DELETE /api/v1/visitors/{id}` and `/api/v1/audit-log`:
//! data protection (export and erase a visitor, read the audit log).

use crate::{
    domain::ids::VisitorId,
    services::{
        Context,
        privacy::{self, AuditPage, VisitorExport},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, delete, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(export_visitor)
        .service(erase_visitor)
        .service(list_audit_log);
}

fn visitor_id(raw: &str) -> Result<VisitorId, ApiError> {
    raw.parse()
        .map(VisitorId::from_uuid)
        .map_err(|_| ApiError::not_found())
}

/// Everything stored about a visitor (owner or admin): contact fields and variables, their
/// conversations with the messages they saw (internal notes are not included), attachments
/// (none until files exist), ratings, pages visited and events. Recorded in the audit log.
#[utoipa::path(get, path = "/api/v1/visitors/{id}/export", tag = "privacy",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = VisitorExport), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
#[get("/visitors/{id}/export")]
async fn export_visitor(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let export = privacy::export_visitor(&ctx, &actor, visitor_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(export))
}

/// Erases a visitor (owner or admin): messages, emails, contact fields, variables, IP
/// address, pages and verified user id go; their token stops working and their open widgets
/// close. Report, insight and billing totals stay as they were. Recorded in the audit log.
#[utoipa::path(delete, path = "/api/v1/visitors/{id}", tag = "privacy",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
#[delete("/visitors/{id}")]
async fn erase_visitor(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    privacy::erase_visitor(&ctx, &actor, visitor_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// 1 to 200 (default 50).
    limit: Option<u64>,
    /// `next_cursor` of the previous page: continues with older entries.
    cursor: Option<String>,
}

/// The audit log (owners only), newest first: every export and erase of a visitor and every
/// retention run that deleted something.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "privacy", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
#[get("/audit-log")]
async fn list_audit_log(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let page = privacy::audit_log(
        &ctx,
        &actor,
        params.cursor.as_deref(),
        params.limit.unwrap_or(50),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
