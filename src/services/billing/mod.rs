//! Plans, the monthly chatbot conversation limit, packages that renew every period until
//! disabled, invoices and the ledger (DESIGN section 2, rules 6 to 9, "Plans", "Billing
//! periods, packages and auto-renewal" and "Time").
//!
//! Every change to an account's billing takes the account's row lock first, so purchases,
//! toggles, plan changes and renewals of one account never interleave, also across
//! processes. Counting a conversation does not take that lock: it is one conditional update
//! of the period's usage row (`used < included + from_packages`) in the click's transaction.
//!
//! By job: `usage` (the period's limit and counting against it), `purchases` (packages
//! bought and toggled, plan changes), `renewal` (rolling periods over and billing them),
//! `overview` (what the billing page and the API show). The arithmetic of periods, packages
//! and plan changes is in `domain::billing`, `domain::package` and `domain::plan`.

mod overview;
mod purchases;
mod renewal;
mod usage;

pub use overview::{
    BillingOverview, InvoiceView, LedgerPage, LedgerView, LineView, PackageView, PeriodView,
    PlanView, UpcomingInvoice, invoices, ledger_page, overview,
};
pub use purchases::{MAX_QUANTITY, buy_packages, change_plan, set_auto_renew};
pub(crate) use renewal::open_first_period;
pub use renewal::{TickReport, tick};
pub use usage::{ChatbotAllowance, Count, allowance};
pub(crate) use usage::{count_conversation, remaining_in};

use super::{Context, ServiceError};
use crate::{
    domain::{
        billing::{CONVERSATIONS_PER_PACKAGE, Period},
        package::PackageTerms,
    },
    storage::{
        self,
        entities::{account, ledger_entry, package, plan},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

fn unexpected(what: &str) -> ServiceError {
    ServiceError::Unexpected(anyhow::anyhow!("{what}"))
}

async fn account_row(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
) -> Result<account::Model, ServiceError> {
    storage::accounts::find(conn, account_id)
        .await?
        .ok_or(ServiceError::NotFound)
}

async fn plan_row(conn: &impl ConnectionTrait, code: &str) -> Result<plan::Model, ServiceError> {
    storage::plans::find(conn, code)
        .await?
        .ok_or_else(|| unexpected("an account's plan is missing"))
}

/// The terms of the account's packages, for the arithmetic in `domain::package`.
fn terms(packages: &[package::Model]) -> Vec<PackageTerms> {
    packages.iter().map(PackageTerms::from).collect()
}

impl From<&package::Model> for PackageTerms {
    fn from(row: &package::Model) -> Self {
        Self {
            conversations: row.conversations,
            auto_renew: row.auto_renew,
            active_from: row.active_from,
            active_until: row.active_until,
            expired_at: row.expired_at,
        }
    }
}

/// Appends a `plan_change` row (no quantity) to the ledger.
async fn ledger_plan_change(
    txn: &DatabaseTransaction,
    account_id: uuid::Uuid,
    at: DateTime<Utc>,
    period: &Period,
    note: String,
) -> Result<(), ServiceError> {
    let entry = ledger(account_id, at, "plan_change", period, 0, note);
    storage::billing::append_ledger(txn, entry).await?;
    Ok(())
}

fn ledger(
    account_id: uuid::Uuid,
    at: DateTime<Utc>,
    kind: &str,
    period: &Period,
    quantity: i32,
    note: String,
) -> ledger_entry::Model {
    ledger_entry::Model {
        id: uuid::Uuid::now_v7(),
        account_id,
        at,
        kind: kind.to_owned(),
        period_start: period.start,
        conversation_id: None,
        package_id: None,
        quantity,
        note,
    }
}

async fn record_event(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
    kind: &str,
    payload: serde_json::Value,
    dedupe_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    // Recorded whether or not anybody listens, and queued to the subscribed webhook endpoints.
    crate::services::webhooks::record(conn, account_id, kind, payload, dedupe_key, now).await
}

/// `billing.invoice_created` for a new invoice; a renewal's names the period it opens.
async fn invoice_created(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
    (invoice_id, total_minor, currency): (uuid::Uuid, i64, &str),
    period_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    let mut payload = serde_json::json!({
        "invoice_id": invoice_id, "total_minor": total_minor, "currency": currency,
    });
    if let Some(start) = period_start {
        payload["period_start"] = serde_json::json!(start);
    }
    record_event(
        conn,
        account_id,
        "billing.invoice_created",
        payload,
        None,
        now,
    )
    .await
}

fn package_line_text(quantity: i32) -> String {
    format!(
        "Chatbot conversation package{} ({} conversations each)",
        if quantity == 1 { "" } else { "s" },
        CONVERSATIONS_PER_PACKAGE
    )
}

async fn begin_locked(
    ctx: &Context,
    account_id: uuid::Uuid,
) -> Result<(DatabaseTransaction, account::Model), ServiceError> {
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    storage::billing::lock_account(&txn, account_id).await?;
    let account = account_row(&txn, account_id).await?;
    Ok((txn, account))
}
