//! `GET /api/v1/emails`: the account's email outbox, newest first, to see what was sent.

use crate::{
    services::{self, Context, email::EmailView},
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

/// Most emails one call lists.
const MAX_LIMIT: u64 = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_emails);
}

#[derive(Deserialize, IntoParams)]
pub struct EmailParams {
    /// How many (default 50, at most 200).
    limit: Option<u64>,
}

/// The account's newest emails with their delivery status (owner or admin).
#[utoipa::path(get, path = "/api/v1/emails", tag = "email", params(EmailParams),
    responses((status = 200, body = Vec<EmailView>), (status = 403, body = super::ErrorBody)))]
#[get("/emails")]
async fn list_emails(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    params: web::Query<EmailParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let emails = services::email::recent_emails(&ctx, &actor, limit).await?;
    Ok(HttpResponse::Ok().json(emails))
}
