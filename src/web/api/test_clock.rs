//! `POST /api/v1/test-clock`: sets the simulated time (only with `FRONTDESK_TEST_CLOCK=1`).

use crate::{
    domain::role::Role,
    services::{Context, ServiceError},
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(set_test_clock);
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockBody {
    /// RFC 3339 time, e.g. `2026-02-28T00:00:00Z`.
    now: DateTime<Utc>,
}

/// Freezes the server's clock at `now` (owner only). Exists only when the server runs with
/// `FRONTDESK_TEST_CLOCK=1`; otherwise it answers 404.
#[utoipa::path(post, path = "/api/v1/test-clock", tag = "testing", request_body = TestClockBody,
    responses((status = 200, body = TestClockBody), (status = 403, body = super::ErrorBody),
        (status = 404, description = "The server runs without the test clock", body = super::ErrorBody)))]
#[post("/test-clock")]
async fn set_test_clock(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<TestClockBody>,
) -> Result<HttpResponse, ApiError> {
    actor.require(Role::Owner)?;
    let clock = ctx.test_clock.as_ref().ok_or(ServiceError::NotFound)?;
    clock.set(body.now);
    tracing::info!(now = %body.now, "test clock set");
    Ok(HttpResponse::Ok().json(TestClockBody {
        now: ctx.clock.now(),
    }))
}
