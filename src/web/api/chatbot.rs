//! `GET /api/v1/chatbot/insights`: the chatbot's figures for a range of days.

use crate::{
    services::{
        Context,
        insights::{self, Insights, Range},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_insights);
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InsightsParams {
    /// First day (UTC), `YYYY-MM-DD`; default 29 days before `to`.
    pub(crate) from: Option<String>,
    /// Last day (UTC), included; default today. At most 366 days in all.
    pub(crate) to: Option<String>,
}

/// Per flow and in total: triggered, interacted, counted, resolved by chatbot, escalated to
/// human, no interaction, rates, average times, the step funnel, clicks per button, and the
/// figures per day (owner, admin).
#[utoipa::path(get, path = "/api/v1/chatbot/insights", tag = "chatbot", params(InsightsParams),
    responses((status = 200, body = Insights), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
#[get("/chatbot/insights")]
async fn get_insights(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    params: web::Query<InsightsParams>,
) -> Result<HttpResponse, ApiError> {
    let range = Range::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        ctx.clock.now().date_naive(),
    )?;
    Ok(HttpResponse::Ok().json(insights::insights(&ctx, &actor, range).await?))
}
