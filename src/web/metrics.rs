//! `GET /metrics`: this node's Prometheus metrics, open unless `metrics_token` is set, then
//! only for `Authorization: Bearer <token>`.

use super::{auth::bearer_token, errors::ApiError};
use crate::services::{Context, ServiceError};
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use subtle::ConstantTimeEq;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_metrics);
}

#[get("/metrics")]
async fn get_metrics(req: HttpRequest, ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &ctx.settings.metrics_token {
        // Both sides trimmed: a token pasted with a trailing newline still matches.
        let expected = expected.expose().trim().as_bytes();
        let allowed =
            bearer_token(&req).is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(expected)));
        if !allowed {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send the metrics token as `Authorization: Bearer <token>`",
            ));
        }
    }
    let text = ctx
        .metrics
        .render(ctx.writer.stats(), ctx.writer.checkpoints())
        .map_err(|error| {
            ServiceError::Unexpected(anyhow::Error::new(error).context("rendering the metrics"))
        })?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(text))
}
