//! `GET /api/v1/reports`: team figures for a range of days (conversations, first response
//! and resolution medians, ratings, bot versus human), in total, per agent and per team.

use crate::{
    services::{
        Context,
        insights::Range,
        reports::{self, Report},
    },
    web::{api::chatbot::InsightsParams, auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, get, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_reports);
}

/// Figures of the range from the append-only reporting events (owner, admin). Days are UTC;
/// each figure counts on the day its event happened.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(InsightsParams),
    responses((status = 200, body = Report), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
#[get("/reports")]
async fn get_reports(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    params: web::Query<InsightsParams>,
) -> Result<HttpResponse, ApiError> {
    let range = Range::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        ctx.clock.now().date_naive(),
    )?;
    Ok(HttpResponse::Ok().json(reports::report(&ctx, &actor, range).await?))
}
