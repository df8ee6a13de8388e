//! `/api/v1/billing`: the plan, the period's chatbot conversations, packages, invoices and
//! the ledger (owner only).

use crate::{
    services::{
        Context,
        billing::{self, BillingOverview, InvoiceView, LedgerPage, PackageView},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_billing)
        .service(put_plan)
        .service(buy_packages)
        .service(patch_package)
        .service(list_invoices)
        .service(list_ledger);
}

/// Plan, period, chatbot conversations (included, from packages, limit, used, remaining),
/// packages, next renewal and the upcoming invoice.
#[utoipa::path(get, path = "/api/v1/billing", tag = "billing",
    responses((status = 200, body = BillingOverview), (status = 403, body = super::ErrorBody)))]
#[get("/billing")]
async fn get_billing(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(billing::overview(&ctx, &actor).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// `FREE`, `SOLO`, `PLUS` or `EXPERT`.
    plan: String,
}

/// Changes the plan: an upgrade applies at once, a downgrade at the next renewal.
#[utoipa::path(put, path = "/api/v1/billing/plan", tag = "billing", request_body = PlanBody,
    responses((status = 200, body = BillingOverview), (status = 422, body = super::ErrorBody)))]
#[put("/billing/plan")]
async fn put_plan(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<PlanBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(billing::change_plan(&ctx, &actor, &body.plan).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyBody {
    /// Packages of 100 chatbot conversations, 1 to 100.
    quantity: i32,
}

/// Buys packages: charged at once, added to this period's limit at once, renewed every
/// period until disabled.
#[utoipa::path(post, path = "/api/v1/billing/packages", tag = "billing", request_body = BuyBody,
    responses((status = 201, body = PackageView), (status = 422, body = super::ErrorBody)))]
#[post("/billing/packages")]
async fn buy_packages(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<BuyBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(billing::buy_packages(&ctx, &actor, body.quantity).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagePatch {
    auto_renew: bool,
}

/// Turns a package's renewal off (it stays active until the end of the period paid for)
/// or on again.
#[utoipa::path(patch, path = "/api/v1/billing/packages/{id}", tag = "billing",
    params(("id" = uuid::Uuid, Path)), request_body = PackagePatch,
    responses((status = 200, body = PackageView), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
#[patch("/billing/packages/{id}")]
async fn patch_package(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<PackagePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.parse().map_err(|_| ApiError::not_found())?;
    Ok(HttpResponse::Ok().json(billing::set_auto_renew(&ctx, &actor, id, body.auto_renew).await?))
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceList {
    invoices: Vec<InvoiceView>,
}

/// Invoices, newest first, with their lines.
#[utoipa::path(get, path = "/api/v1/billing/invoices", tag = "billing",
    responses((status = 200, body = InvoiceList)))]
#[get("/billing/invoices")]
async fn list_invoices(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(InvoiceList {
        invoices: billing::invoices(&ctx, &actor).await?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerParams {
    /// 1 to 1000 (default 200).
    limit: Option<u64>,
    /// `next_cursor` of the previous page: continues with older entries.
    cursor: Option<String>,
}

/// The append-only usage ledger, newest first: every counted conversation (with its id),
/// purchase, renewal, expiry, toggle and plan change.
#[utoipa::path(get, path = "/api/v1/billing/ledger", tag = "billing", params(LedgerParams),
    responses((status = 200, body = LedgerPage)))]
#[get("/billing/ledger")]
async fn list_ledger(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    params: web::Query<LedgerParams>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        billing::ledger_page(
            &ctx,
            &actor,
            params.cursor.as_deref(),
            params.limit.unwrap_or(200),
        )
        .await?,
    ))
}
