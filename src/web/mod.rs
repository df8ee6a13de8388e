//! HTTP: server-rendered pages, the JSON REST API, health checks, metrics and static assets;
//! each area exposes `configure`.

pub mod api;
pub mod assets;
pub mod auth;
pub mod errors;
pub mod files;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod request_log;
pub mod sockets;
pub mod throttle;

use actix_web::web::{self, ServiceConfig};

/// Registers every route. The test-clock endpoint exists only when `test_clock` is on. An
/// unknown URL answers 404 in its area's form: JSON under `/api/`, the HTML error page
/// elsewhere.
pub fn configure(cfg: &mut ServiceConfig, test_clock: bool) {
    health::configure(cfg);
    metrics::configure(cfg);
    assets::configure(cfg);
    api::configure(cfg, test_clock);
    files::configure(cfg);
    sockets::configure(cfg);
    pages::configure(cfg);
    cfg.default_service(web::to(errors::not_found));
}
