//! Liveness (`/healthz`) and readiness (`/readyz`: the database answers) for load balancers.
//! With Redis, `/readyz` also says whether this node is subscribed (`"redis": "connected"`),
//! without failing: a node cut off from Redis still serves its own sockets.

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
    let redis = ctx.hub.broker_connected().map(|connected| {
        if connected {
            "connected"
        } else {
            "disconnected"
        }
    });
    match ctx.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(match redis {
            Some(redis) => json!({"status": "ready", "redis": redis}),
            None => json!({"status": "ready"}),
        }),
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": "database unreachable"}))
        }
    }
}
