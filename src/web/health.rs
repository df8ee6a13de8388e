//! Liveness (`/healthz`) and readiness (`/readyz`: the database answers) for load balancers.

use crate::services::Context;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_health).service(get_ready);
}

#[get("/healthz")]
async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[get("/readyz")]
async fn get_ready(ctx: web::Data<Context>) -> HttpResponse {
    match ctx.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": "database unreachable"}))
        }
    }
}
