//! `/billing` (owners): the plan and its price, the period, the meter of chatbot
//! conversations, packages with their renewal switches, a buy form (with a confirmation
//! step naming the amount), plan changes, invoices and the ledger (paged by cursor).

use super::{Chrome, error_lines, format_time, redirect, render, render_with_status};
use crate::{
    domain::role::Role,
    services::{
        self, Context, ServiceError,
        billing::{BillingOverview, InvoiceView, LedgerView},
    },
    web::{
        auth::{SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_billing)
        .service(post_buy)
        .service(post_toggle)
        .service(post_plan);
}

/// Money as people read it: "10.00 USD".
pub fn money(minor: &i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, (minor % 100).abs())
}

pub fn day(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%B %-d, %Y").to_string()
}

#[derive(Template)]
#[template(path = "billing/index.html")]
struct BillingPage {
    chrome: Chrome,
    billing: BillingOverview,
    invoices: Vec<InvoiceView>,
    ledger: Vec<LedgerView>,
    /// The cursor of the next (older) ledger page.
    ledger_next: Option<String>,
    /// This is not the newest ledger page.
    older_page: bool,
    errors: Vec<String>,
    notice: Option<String>,
    quantity: String,
}

/// How many ledger entries one page shows.
const LEDGER_PAGE: u64 = 50;

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
    /// A ledger cursor: show the entries older than it.
    older: Option<String>,
}

/// The confirmation step of a purchase: the quantity and the amount charged now.
#[derive(Template)]
#[template(path = "billing/confirm.html")]
struct ConfirmBuyPage {
    chrome: Chrome,
    quantity: i32,
    conversations: i64,
    total: String,
    renewal: String,
}

async fn page(
    ctx: &Context,
    signed_in: &SignedIn,
    errors: Vec<String>,
    notice: Option<String>,
    quantity: String,
    older: Option<&str>,
) -> Result<BillingPage, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Owner)?;
    let ledger = services::billing::ledger_page(ctx, actor, older, LEDGER_PAGE).await?;
    Ok(BillingPage {
        chrome: Chrome::new(ctx, actor, &signed_in.session, "billing").await?,
        billing: services::billing::overview(ctx, actor).await?,
        invoices: services::billing::invoices(ctx, actor).await?,
        ledger: ledger.entries,
        ledger_next: ledger.next_cursor,
        older_page: older.is_some_and(|cursor| !cursor.is_empty()),
        errors,
        notice,
        quantity,
    })
}

#[get("/billing")]
async fn get_billing(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let notice = match query.done.as_deref() {
        Some("bought") => Some(
            "Packages bought: the conversations are yours this period, and an invoice was made."
                .to_owned(),
        ),
        Some("renewal_off") => Some(
            "Renewal turned off: the package stays active until the end of the period paid for."
                .to_owned(),
        ),
        Some("renewal_on") => {
            Some("Renewal turned on: the package renews and is billed every period.".to_owned())
        }
        Some("plan") => Some("Plan changed.".to_owned()),
        _ => None,
    };
    render(
        &page(
            &ctx,
            &signed_in,
            Vec::new(),
            notice,
            "1".to_owned(),
            query.older.as_deref(),
        )
        .await?,
    )
}

/// Renders the page again with the form's problems (422), or fails for other errors.
async fn refused(
    ctx: &Context,
    signed_in: &SignedIn,
    error: ServiceError,
    quantity: String,
) -> Result<HttpResponse, PageError> {
    match error_lines(&error) {
        Some(lines) => render_with_status(
            &page(ctx, signed_in, lines, None, quantity, None).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        None => Err(error.into()),
    }
}

#[derive(Deserialize)]
struct BuyForm {
    quantity: String,
    /// Set by the confirmation page: without it, the purchase is only shown for confirming.
    confirmed: Option<String>,
}

/// The largest quantity one purchase may buy (the buy form's `max`).
const MAX_QUANTITY: i32 = 100;

#[post("/billing/packages")]
async fn post_buy(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<BuyForm>,
) -> Result<HttpResponse, PageError> {
    let quantity = form
        .quantity
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            ServiceError::invalid(crate::domain::FieldError::new(
                "quantity",
                "must be a whole number from 1 to 100",
            ))
        });
    let quantity = match quantity {
        Ok(quantity) => quantity,
        Err(error) => return refused(&ctx, &signed_in, error, form.quantity).await,
    };
    if form.confirmed.as_deref() != Some("1") {
        let actor = &signed_in.actor;
        actor.require(Role::Owner)?;
        let billing = services::billing::overview(&ctx, actor).await?;
        return render(&ConfirmBuyPage {
            chrome: Chrome::new(&ctx, actor, &signed_in.session, "billing").await?,
            quantity,
            conversations: i64::from(quantity) * 100,
            total: money(
                &(billing.plan.package_price_minor * i64::from(quantity)),
                &billing.plan.currency,
            ),
            renewal: day(&billing.next_renewal),
        });
    }
    let result = services::billing::buy_packages(&ctx, &signed_in.actor, quantity).await;
    match result {
        Ok(_) => Ok(redirect("/billing?done=bought")),
        Err(error) => refused(&ctx, &signed_in, error, form.quantity).await,
    }
}

#[derive(Deserialize)]
struct ToggleForm {
    auto_renew: String,
}

#[post("/billing/packages/{id}/renewal")]
async fn post_toggle(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<ToggleForm>,
) -> Result<HttpResponse, PageError> {
    let id: uuid::Uuid = path.parse().map_err(|_| ServiceError::NotFound)?;
    let on = form.auto_renew == "true";
    match services::billing::set_auto_renew(&ctx, &signed_in.actor, id, on).await {
        Ok(_) => Ok(redirect(if on {
            "/billing?done=renewal_on"
        } else {
            "/billing?done=renewal_off"
        })),
        Err(error) => refused(&ctx, &signed_in, error, "1".to_owned()).await,
    }
}

#[derive(Deserialize)]
struct PlanForm {
    plan: String,
}

#[post("/billing/plan")]
async fn post_plan(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<PlanForm>,
) -> Result<HttpResponse, PageError> {
    match services::billing::change_plan(&ctx, &signed_in.actor, &form.plan).await {
        Ok(_) => Ok(redirect("/billing?done=plan")),
        Err(error) => refused(&ctx, &signed_in, error, "1".to_owned()).await,
    }
}

/// The ledger's times, as on other pages.
pub fn when(time: &chrono::DateTime<chrono::Utc>) -> String {
    format_time(*time)
}
