//! HTTP: server-rendered pages, the JSON REST API, health checks, metrics and static assets;
//! each area exposes `configure`.

pub mod api;
pub mod assets;
pub mod auth;
pub mod errors;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod throttle;
pub mod ws;

use actix_web::web::ServiceConfig;

/// Registers every route. The test-clock endpoint exists only when `test_clock` is on.
pub fn configure(cfg: &mut ServiceConfig, test_clock: bool) {
    health::configure(cfg);
    metrics::configure(cfg);
    assets::configure(cfg);
    api::configure(cfg, test_clock);
    ws::configure(cfg);
    pages::configure(cfg);
}
