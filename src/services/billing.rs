//! Plans, the monthly chatbot conversation limit, packages that renew every period until
//! disabled, invoices and the ledger (DESIGN section 2, rules 6 to 9, "Plans", "Billing
//! periods, packages and auto-renewal" and "Time").
//!
//! Every change to an account's billing takes the account's row lock first, so purchases,
//! toggles, plan changes and renewals of one account never interleave, also across
//! processes. Counting a conversation does not take that lock: it is one conditional update
//! of the period's usage row (`used < included + from_packages`) in the click's transaction.

use super::{Actor, Context, ServiceError};
use crate::{
    domain::{
        FieldError,
        billing::{self, CONVERSATIONS_PER_PACKAGE, Period, Usage},
        role::Role,
    },
    storage::{
        self,
        entities::{account, chatbot_usage, invoice, invoice_line, ledger_entry, package, plan},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::Serialize;
use utoipa::ToSchema;

/// Most packages bought at once.
pub const MAX_QUANTITY: i32 = 100;
/// Accounts renewed per round of the billing job.
const TICK_BATCH: u64 = 200;

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

/// Conversations that the account's packages add in `period` (paid for it already).
fn package_conversations(packages: &[package::Model], period: &Period) -> i32 {
    packages
        .iter()
        .filter(|p| p.expired_at.is_none_or(|at| at > period.start))
        .filter(|p| p.active_from < period.end && p.active_until > period.start)
        .map(|p| p.conversations)
        .sum()
}

/// The period's included and package conversations. A period that has begun but that the
/// billing job has not renewed yet gets what its renewal will give it: the pending plan, and
/// the packages that renew. Nobody counts against a wrong limit in between.
async fn period_limits(
    conn: &impl ConnectionTrait,
    account: &account::Model,
    period: &Period,
) -> Result<(i32, i32), ServiceError> {
    let renewed = account
        .next_renewal_at
        .is_none_or(|next| period.start < next);
    let code = match (&account.pending_plan, renewed) {
        (Some(pending), false) => pending,
        _ => &account.plan_code,
    };
    let plan = plan_row(conn, code).await?;
    let packages = storage::billing::packages(conn, account.id).await?;
    let from_packages = if plan.package_cap <= 0 {
        0
    } else if renewed {
        package_conversations(&packages, period)
    } else {
        packages
            .iter()
            .filter(|p| p.expired_at.is_none() && p.active_from < period.end)
            .filter(|p| p.active_until > period.start || p.auto_renew)
            .map(|p| p.conversations)
            .sum()
    };
    Ok((plan.chatbot_conversations, from_packages))
}

/// The usage row of the period containing `now`, created when missing.
async fn current_usage(
    conn: &impl ConnectionTrait,
    account: &account::Model,
    now: DateTime<Utc>,
) -> Result<(Period, chatbot_usage::Model), ServiceError> {
    let period = billing::period_at(account.billing_anchor, now);
    if let Some(row) = storage::billing::usage(conn, account.id, period.start).await? {
        return Ok((period, row));
    }
    let (included, from_packages) = period_limits(conn, account, &period).await?;
    storage::billing::ensure_usage(
        conn,
        chatbot_usage::Model {
            account_id: account.id,
            period_start: period.start,
            period_end: period.end,
            included,
            from_packages,
            used: 0,
        },
    )
    .await?;
    let row = storage::billing::usage(conn, account.id, period.start)
        .await?
        .ok_or_else(|| unexpected("a usage row vanished"))?;
    Ok((period, row))
}

/// Recomputes the period's package conversations (and, when the plan changed, its included
/// ones) under the account lock. A period keeps the included number it opened with otherwise,
/// so an operator's `plan set` never changes a period under way.
async fn refresh_limits(
    txn: &DatabaseTransaction,
    account: &account::Model,
    period: &Period,
    plan_changed: bool,
) -> Result<(), ServiceError> {
    let (_, row) = current_usage(txn, account, period.start).await?;
    let (included, from_packages) = period_limits(txn, account, period).await?;
    storage::billing::set_usage_limits(
        txn,
        account.id,
        period.start,
        if plan_changed { included } else { row.included },
        from_packages,
    )
    .await?;
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
    super::webhooks::record(conn, account_id, kind, payload, dedupe_key, now).await
}

/// Warnings are sent once per period and limit: buying packages and using them up again
/// warns again.
fn limit_key(kind: &str, account_id: uuid::Uuid, period: &Period, limit: i64) -> String {
    format!("{kind}/{account_id}/{}/{limit}", period.start.timestamp())
}

/// What counting a conversation's first interaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Counted now: one conversation of the period used.
    Counted,
    /// Counted before (another flow or click of the same conversation).
    AlreadyCounted,
    /// Nothing was left: not counted (rule 8).
    LimitReached,
}

/// Chatbot conversations left this period, read inside the caller's transaction (an external
/// bot is not invoked when none are left; the count itself stays `count_conversation`'s).
pub(crate) async fn remaining_in(
    txn: &DatabaseTransaction,
    account_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    let account = account_row(txn, account_id).await?;
    let (_, usage) = current_usage(txn, &account, now).await?;
    Ok(ChatbotAllowance::of(&usage).remaining)
}

/// Counts a conversation's first interaction with a bot, inside the click's transaction:
/// the record (at most one per conversation) and the conditional use of one conversation
/// of the period (never over the limit), together or not at all (rules 3 and 7).
pub(crate) async fn count_conversation(
    txn: &DatabaseTransaction,
    account_id: uuid::Uuid,
    conversation_id: uuid::Uuid,
    flow_id: Option<uuid::Uuid>,
    now: DateTime<Utc>,
) -> Result<Count, ServiceError> {
    let account = account_row(txn, account_id).await?;
    let (period, _) = current_usage(txn, &account, now).await?;
    if !storage::billing::insert_counted(txn, account_id, conversation_id, flow_id, now).await? {
        return Ok(Count::AlreadyCounted);
    }
    if !storage::billing::try_consume(txn, account_id, period.start).await? {
        storage::billing::delete_counted(txn, conversation_id).await?;
        let usage = storage::billing::usage(txn, account_id, period.start)
            .await?
            .ok_or_else(|| unexpected("a usage row vanished"))?;
        let limit = i64::from(usage.included) + i64::from(usage.from_packages);
        record_event(
            txn,
            account_id,
            "chatbot.limit_reached",
            serde_json::json!({"used": usage.used, "limit": limit,
                "period_start": period.start, "period_end": period.end}),
            Some(limit_key(
                "chatbot.limit_reached",
                account_id,
                &period,
                limit,
            )),
            now,
        )
        .await?;
        return Ok(Count::LimitReached);
    }
    storage::chatbot::label(txn, account_id, conversation_id).await?;
    let mut entry = ledger(
        account_id,
        now,
        "counted",
        &period,
        1,
        "Chatbot conversation".to_owned(),
    );
    entry.conversation_id = Some(conversation_id);
    storage::billing::append_ledger(txn, entry).await?;
    let usage = storage::billing::usage(txn, account_id, period.start)
        .await?
        .ok_or_else(|| unexpected("a usage row vanished"))?;
    let (used, limit) = (
        i64::from(usage.used),
        i64::from(usage.included) + i64::from(usage.from_packages),
    );
    let payload = serde_json::json!({"used": used, "limit": limit,
        "period_start": period.start, "period_end": period.end});
    let key = |kind: &str| Some(limit_key(kind, account_id, &period, limit));
    match billing::usage(used, limit) {
        Usage::Fine => {}
        Usage::Warning => {
            record_event(
                txn,
                account_id,
                "chatbot.limit_warning",
                payload,
                key("chatbot.limit_warning"),
                now,
            )
            .await?;
        }
        Usage::Reached => {
            record_event(
                txn,
                account_id,
                "chatbot.limit_warning",
                payload.clone(),
                key("chatbot.limit_warning"),
                now,
            )
            .await?;
            record_event(
                txn,
                account_id,
                "chatbot.limit_reached",
                payload,
                key("chatbot.limit_reached"),
                now,
            )
            .await?;
        }
    }
    Ok(Count::Counted)
}

/// The period's chatbot conversations, as the chatbot and billing pages and the API show them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChatbotAllowance {
    pub included: i64,
    pub from_packages: i64,
    pub limit: i64,
    pub used: i64,
    pub remaining: i64,
}

impl ChatbotAllowance {
    fn of(row: &chatbot_usage::Model) -> Self {
        let limit = i64::from(row.included) + i64::from(row.from_packages);
        let used = i64::from(row.used);
        Self {
            included: row.included.into(),
            from_packages: row.from_packages.into(),
            limit,
            used,
            remaining: (limit - used).max(0),
        }
    }

    /// `fine`, `warning` (80 % used) or `reached`.
    pub fn state(&self) -> &'static str {
        match billing::usage(self.used, self.limit) {
            Usage::Fine => "fine",
            Usage::Warning => "warning",
            Usage::Reached => "reached",
        }
    }

    /// Whole percent used (for the meter).
    pub fn percent(&self) -> i64 {
        if self.limit <= 0 {
            100
        } else {
            (self.used * 100 / self.limit).min(100)
        }
    }
}

/// The current period and its allowance (no role check: the chatbot runtime and banners).
pub async fn allowance(
    ctx: &Context,
    account_id: uuid::Uuid,
) -> Result<(Period, ChatbotAllowance), ServiceError> {
    let now = ctx.clock.now();
    let account = renewed_account(ctx, account_id, now).await?;
    let (period, row) = current_usage(&ctx.db, &account, now).await?;
    Ok((period, ChatbotAllowance::of(&row)))
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub chatbot_conversations: i32,
    /// Most conversations packages may add per period (0: packages cannot be bought).
    pub package_cap: i32,
    pub package_price_minor: i64,
    pub legacy: bool,
}

impl From<plan::Model> for PlanView {
    fn from(row: plan::Model) -> Self {
        Self {
            code: row.code,
            name: row.name,
            price_minor: row.price_minor,
            currency: row.currency,
            chatbot_conversations: row.chatbot_conversations,
            package_cap: row.package_cap,
            package_price_minor: row.package_price_minor,
            legacy: row.legacy,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PackageView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    pub quantity: i32,
    pub conversations: i32,
    pub auto_renew: bool,
    /// `active` (paid for the current period) or `expired`.
    pub status: &'static str,
    pub active_from: DateTime<Utc>,
    /// The end of the last period paid for.
    pub active_until: DateTime<Utc>,
    /// When it renews and is billed next; null when disabled or expired.
    pub renews_at: Option<DateTime<Utc>>,
}

impl PackageView {
    fn of(row: package::Model, now: DateTime<Utc>) -> Self {
        let active = row.expired_at.is_none() && row.active_until > now;
        Self {
            id: row.id,
            quantity: row.quantity,
            conversations: row.conversations,
            auto_renew: row.auto_renew,
            status: if active { "active" } else { "expired" },
            active_from: row.active_from,
            renews_at: (active && row.auto_renew).then_some(row.active_until),
            active_until: row.active_until,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineView {
    pub description: String,
    pub quantity: i32,
    pub unit_minor: i64,
    pub amount_minor: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    /// `period` (the plan and renewed packages) or `purchase`.
    pub kind: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub total_minor: i64,
    pub currency: String,
    pub lines: Vec<LineView>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UpcomingInvoice {
    pub at: DateTime<Utc>,
    pub lines: Vec<LineView>,
    pub total_minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BillingOverview {
    pub plan: PlanView,
    /// A downgrade that takes effect at the next renewal.
    pub pending_plan: Option<PlanView>,
    pub period: PeriodView,
    pub chatbot: ChatbotAllowance,
    pub packages: Vec<PackageView>,
    /// When the next period starts: packages renew and the plan is billed.
    pub next_renewal: DateTime<Utc>,
    pub upcoming_invoice: UpcomingInvoice,
    /// Conversations the held packages add beyond the plan's cap (after a downgrade).
    pub packages_over_cap: i32,
    /// Plans an owner may move to.
    pub plans: Vec<PlanView>,
}

fn line(description: String, quantity: i32, unit_minor: i64) -> LineView {
    LineView {
        description,
        quantity,
        unit_minor,
        amount_minor: unit_minor * i64::from(quantity),
    }
}

fn package_line_text(quantity: i32) -> String {
    format!(
        "Chatbot conversation package{} ({} conversations each)",
        if quantity == 1 { "" } else { "s" },
        CONVERSATIONS_PER_PACKAGE
    )
}

/// The billing page and `GET /api/v1/billing` (owner).
pub async fn overview(ctx: &Context, actor: &Actor) -> Result<BillingOverview, ServiceError> {
    actor.require(Role::Owner)?;
    let now = ctx.clock.now();
    let account = renewed_account(ctx, actor.account_id.as_uuid(), now).await?;
    let (period, usage) = current_usage(&ctx.db, &account, now).await?;
    let plan = plan_row(&ctx.db, &account.plan_code).await?;
    let pending = match &account.pending_plan {
        Some(code) => Some(plan_row(&ctx.db, code).await?),
        None => None,
    };
    let packages = storage::billing::packages(&ctx.db, account.id).await?;
    let next_plan = pending.clone().unwrap_or_else(|| plan.clone());
    let renewing: Vec<&package::Model> = packages
        .iter()
        .filter(|p| p.expired_at.is_none() && p.auto_renew && p.active_until >= period.end)
        .collect();
    let mut lines = vec![line(
        format!("{} plan", next_plan.name),
        1,
        next_plan.price_minor,
    )];
    for package in &renewing {
        lines.push(line(
            package_line_text(package.quantity),
            package.quantity,
            package.unit_price_minor,
        ));
    }
    let held = package_conversations(&packages, &period);
    let plans = storage::plans::list(&ctx.db)
        .await?
        .into_iter()
        .filter(|p| !p.legacy || p.code == plan.code)
        .map(PlanView::from)
        .collect();
    Ok(BillingOverview {
        chatbot: ChatbotAllowance::of(&usage),
        packages_over_cap: (held - next_plan.package_cap).max(0),
        upcoming_invoice: UpcomingInvoice {
            at: period.end,
            total_minor: lines.iter().map(|l| l.amount_minor).sum(),
            currency: plan.currency.clone(),
            lines,
        },
        plan: plan.into(),
        pending_plan: pending.map(PlanView::from),
        period: PeriodView {
            start: period.start,
            end: period.end,
        },
        packages: packages
            .into_iter()
            .map(|p| PackageView::of(p, now))
            .collect(),
        next_renewal: period.end,
        plans,
    })
}

fn invoice_view((row, lines): (invoice::Model, Vec<invoice_line::Model>)) -> InvoiceView {
    InvoiceView {
        id: row.id,
        kind: row.kind,
        period_start: row.period_start,
        period_end: row.period_end,
        total_minor: row.total_minor,
        currency: row.currency,
        lines: lines
            .into_iter()
            .map(|l| LineView {
                description: l.description,
                quantity: l.quantity,
                unit_minor: l.unit_minor,
                amount_minor: l.amount_minor,
            })
            .collect(),
        created_at: row.created_at,
    }
}

pub async fn invoices(ctx: &Context, actor: &Actor) -> Result<Vec<InvoiceView>, ServiceError> {
    actor.require(Role::Owner)?;
    Ok(
        storage::billing::invoices(&ctx.db, actor.account_id.as_uuid(), 200)
            .await?
            .into_iter()
            .map(invoice_view)
            .collect(),
    )
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LedgerView {
    pub at: DateTime<Utc>,
    /// `counted`, `purchase`, `renewal`, `expiry`, `toggle`, `plan_change`.
    pub kind: String,
    pub period_start: DateTime<Utc>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub conversation_id: Option<uuid::Uuid>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub package_id: Option<uuid::Uuid>,
    pub quantity: i32,
    pub note: String,
}

/// One page of the ledger, newest first, and the cursor of the next (older) page.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LedgerPage {
    pub entries: Vec<LedgerView>,
    /// Pass as `cursor` for the older entries; null on the last page.
    pub next_cursor: Option<String>,
}

/// The ledger, newest first, `limit` (1 to 1000) entries after `cursor`.
pub async fn ledger_page(
    ctx: &Context,
    actor: &Actor,
    cursor: Option<&str>,
    limit: u64,
) -> Result<LedgerPage, ServiceError> {
    actor.require(Role::Owner)?;
    let before = super::cursor::decode_param(cursor)?;
    let limit = limit.clamp(1, 1000);
    let rows =
        storage::billing::ledger(&ctx.db, actor.account_id.as_uuid(), before, limit + 1).await?;
    let (rows, next_cursor) = super::cursor::page(rows, limit, |row| (row.at, row.id));
    Ok(LedgerPage {
        entries: rows
            .into_iter()
            .map(|row| LedgerView {
                at: row.at,
                kind: row.kind,
                period_start: row.period_start,
                conversation_id: row.conversation_id,
                package_id: row.package_id,
                quantity: row.quantity,
                note: row.note,
            })
            .collect(),
        next_cursor,
    })
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

/// Buys `quantity` packages: charged at once (an invoice) and added to the current
/// period's limit at once; they renew every period until disabled.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, quantity))]
pub async fn buy_packages(
    ctx: &Context,
    actor: &Actor,
    quantity: i32,
) -> Result<PackageView, ServiceError> {
    actor.require(Role::Owner)?;
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(ServiceError::invalid(FieldError::new(
            "quantity",
            format!("must be a whole number from 1 to {MAX_QUANTITY}"),
        )));
    }
    let now = ctx.clock.now();
    let (txn, account) = begin_locked(ctx, actor.account_id.as_uuid()).await?;
    let plan = plan_row(&txn, &account.plan_code).await?;
    if plan.package_cap <= 0 {
        return Err(ServiceError::invalid(FieldError::new(
            "quantity",
            format!(
                "the {} plan includes no chatbot conversations and cannot buy packages; upgrade to a paid plan first",
                plan.name
            ),
        )));
    }
    let period = billing::period_at(account.billing_anchor, now);
    let packages = storage::billing::packages(&txn, account.id).await?;
    let held = package_conversations(&packages, &period);
    let adding = quantity * CONVERSATIONS_PER_PACKAGE;
    if held + adding > plan.package_cap {
        let left = (plan.package_cap - held).max(0) / CONVERSATIONS_PER_PACKAGE;
        return Err(ServiceError::invalid(FieldError::new(
            "quantity",
            format!(
                "the {} plan allows packages up to {} conversations per period; you hold {held}, so you can buy {left} more package{}",
                plan.name,
                plan.package_cap,
                if left == 1 { "" } else { "s" }
            ),
        )));
    }
    let bought = storage::billing::insert_package(
        &txn,
        package::Model {
            id: uuid::Uuid::now_v7(),
            account_id: account.id,
            quantity,
            conversations: adding,
            unit_price_minor: plan.package_price_minor,
            currency: plan.currency.clone(),
            auto_renew: true,
            active_from: now,
            active_until: period.end,
            expired_at: None,
            created_at: now,
        },
    )
    .await?;
    refresh_limits(&txn, &account, &period, false).await?;
    let amount = plan.package_price_minor * i64::from(quantity);
    let invoice_id = uuid::Uuid::now_v7();
    storage::billing::insert_invoice(
        &txn,
        invoice::Model {
            id: invoice_id,
            account_id: account.id,
            kind: "purchase".to_owned(),
            period_start: period.start,
            period_end: period.end,
            total_minor: amount,
            currency: plan.currency.clone(),
            period_key: None,
            created_at: now,
        },
        vec![invoice_line::Model {
            id: uuid::Uuid::now_v7(),
            invoice_id,
            description: package_line_text(quantity),
            quantity,
            unit_minor: plan.package_price_minor,
            amount_minor: amount,
            package_id: Some(bought.id),
        }],
    )
    .await?;
    let mut entry = ledger(
        account.id,
        now,
        "purchase",
        &period,
        quantity,
        format!("Bought {quantity} × {CONVERSATIONS_PER_PACKAGE} conversations"),
    );
    entry.package_id = Some(bought.id);
    storage::billing::append_ledger(&txn, entry).await?;
    record_event(
        &txn,
        account.id,
        "billing.invoice_created",
        serde_json::json!({"invoice_id": invoice_id, "total_minor": amount, "currency": plan.currency}),
        None,
        now,
    )
    .await?;
    txn.commit().await.context("committing a purchase")?;
    tracing::info!("packages bought");
    Ok(PackageView::of(bought, now))
}

/// Turns a package's renewal off or on. Off: it stays active until the end of the period
/// paid for, then expires. On again before then: it keeps renewing.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %package_id))]
pub async fn set_auto_renew(
    ctx: &Context,
    actor: &Actor,
    package_id: uuid::Uuid,
    auto_renew: bool,
) -> Result<PackageView, ServiceError> {
    actor.require(Role::Owner)?;
    let now = ctx.clock.now();
    let (txn, account) = begin_locked(ctx, actor.account_id.as_uuid()).await?;
    let package = storage::billing::find_package(&txn, account.id, package_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if package.expired_at.is_some() || package.active_until <= now {
        return Err(ServiceError::Conflict(
            "this package has expired; buy a new one instead".to_owned(),
        ));
    }
    if package.auto_renew != auto_renew {
        storage::billing::set_auto_renew(&txn, package.id, auto_renew).await?;
        let period = billing::period_at(account.billing_anchor, now);
        let mut entry = ledger(
            account.id,
            now,
            "toggle",
            &period,
            package.quantity,
            if auto_renew {
                "Renewal turned on".to_owned()
            } else {
                format!(
                    "Renewal turned off; active until {}",
                    package.active_until.format("%Y-%m-%d %H:%M UTC")
                )
            },
        );
        entry.package_id = Some(package.id);
        storage::billing::append_ledger(&txn, entry).await?;
    }
    txn.commit().await.context("committing a package toggle")?;
    let row = storage::billing::find_package(&ctx.db, account.id, package_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(PackageView::of(row, now))
}

/// Moves the account to another plan. An upgrade (more chatbot conversations) takes effect
/// at once: the current period's allowance rises now and the new price is billed from the
/// next period. A downgrade takes effect at the next renewal. Packages are never deleted.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, plan = code))]
pub async fn change_plan(
    ctx: &Context,
    actor: &Actor,
    code: &str,
) -> Result<BillingOverview, ServiceError> {
    actor.require(Role::Owner)?;
    let now = ctx.clock.now();
    let (txn, account) = begin_locked(ctx, actor.account_id.as_uuid()).await?;
    let code = code.trim().to_uppercase();
    let unknown = || {
        ServiceError::invalid(FieldError::new(
            "plan",
            "no such plan is offered; pick FREE, SOLO, PLUS or EXPERT",
        ))
    };
    let target = storage::plans::find(&txn, &code)
        .await?
        .ok_or_else(unknown)?;
    if target.legacy && target.code != account.plan_code {
        return Err(unknown());
    }
    let current = plan_row(&txn, &account.plan_code).await?;
    let period = billing::period_at(account.billing_anchor, now);
    if target.code == current.code {
        // Back to the current plan: a pending downgrade is called off.
        if account.pending_plan.is_some() {
            storage::billing::set_plan(&txn, account.id, &current.code, None).await?;
            storage::billing::append_ledger(
                &txn,
                ledger(
                    account.id,
                    now,
                    "plan_change",
                    &period,
                    0,
                    format!("Stays on {}", current.name),
                ),
            )
            .await?;
        }
    } else if target.chatbot_conversations > current.chatbot_conversations
        || (target.chatbot_conversations == current.chatbot_conversations
            && target.price_minor >= current.price_minor)
    {
        storage::billing::set_plan(&txn, account.id, &target.code, None).await?;
        let updated = account_row(&txn, account.id).await?;
        refresh_limits(&txn, &updated, &period, true).await?;
        // The higher plan is charged for this period at once: what it costs more.
        let difference = (target.price_minor - current.price_minor).max(0);
        if difference > 0 {
            let invoice_id = uuid::Uuid::now_v7();
            storage::billing::insert_invoice(
                &txn,
                invoice::Model {
                    id: invoice_id,
                    account_id: account.id,
                    kind: "upgrade".to_owned(),
                    period_start: period.start,
                    period_end: period.end,
                    total_minor: difference,
                    currency: target.currency.clone(),
                    period_key: None,
                    created_at: now,
                },
                vec![invoice_line::Model {
                    id: uuid::Uuid::now_v7(),
                    invoice_id,
                    description: format!(
                        "Upgrade from {} to {} for the rest of this period",
                        current.name, target.name
                    ),
                    quantity: 1,
                    unit_minor: difference,
                    amount_minor: difference,
                    package_id: None,
                }],
            )
            .await?;
            record_event(
                &txn,
                account.id,
                "billing.invoice_created",
                serde_json::json!({"invoice_id": invoice_id, "total_minor": difference, "currency": target.currency}),
                None,
                now,
            )
            .await?;
        }
        storage::billing::append_ledger(
            &txn,
            ledger(
                account.id,
                now,
                "plan_change",
                &period,
                0,
                format!(
                    "Upgraded from {} to {}, effective now",
                    current.name, target.name
                ),
            ),
        )
        .await?;
    } else {
        storage::billing::set_plan(&txn, account.id, &current.code, Some(&target.code)).await?;
        storage::billing::append_ledger(
            &txn,
            ledger(
                account.id,
                now,
                "plan_change",
                &period,
                0,
                format!(
                    "Downgrade from {} to {} on {}",
                    current.name,
                    target.name,
                    period.end.format("%Y-%m-%d")
                ),
            ),
        )
        .await?;
    }
    txn.commit().await.context("committing a plan change")?;
    overview(ctx, actor).await
}

/// The first period's invoice (the plan), inside the account's creation.
pub(crate) async fn open_first_period(
    txn: &DatabaseTransaction,
    account: &account::Model,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let period = billing::period_at(account.billing_anchor, now);
    storage::billing::set_next_renewal(txn, account.id, period.end).await?;
    let plan = plan_row(txn, &account.plan_code).await?;
    bill_period(txn, account, &plan, &period, &[], now).await?;
    Ok(())
}

/// The period invoice: the plan plus the renewed packages; `false` when the period was
/// billed already.
async fn bill_period(
    txn: &DatabaseTransaction,
    account: &account::Model,
    plan: &plan::Model,
    period: &Period,
    renewed: &[package::Model],
    now: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    let invoice_id = uuid::Uuid::now_v7();
    let mut lines = vec![invoice_line::Model {
        id: uuid::Uuid::now_v7(),
        invoice_id,
        description: format!("{} plan", plan.name),
        quantity: 1,
        unit_minor: plan.price_minor,
        amount_minor: plan.price_minor,
        package_id: None,
    }];
    for package in renewed {
        lines.push(invoice_line::Model {
            id: uuid::Uuid::now_v7(),
            invoice_id,
            description: package_line_text(package.quantity),
            quantity: package.quantity,
            unit_minor: package.unit_price_minor,
            amount_minor: package.unit_price_minor * i64::from(package.quantity),
            package_id: Some(package.id),
        });
    }
    let total: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let stored = storage::billing::insert_invoice(
        txn,
        invoice::Model {
            id: invoice_id,
            account_id: account.id,
            kind: "period".to_owned(),
            period_start: period.start,
            period_end: period.end,
            total_minor: total,
            currency: plan.currency.clone(),
            period_key: Some(format!("{}/{}", account.id, period.start.timestamp())),
            created_at: now,
        },
        lines,
    )
    .await?;
    if stored.is_some() {
        record_event(
            txn,
            account.id,
            "billing.invoice_created",
            serde_json::json!({"invoice_id": invoice_id, "total_minor": total,
                "currency": plan.currency, "period_start": period.start}),
            None,
            now,
        )
        .await?;
    }
    Ok(stored.is_some())
}

/// The account as at `now`. When a period has ended and the billing job has not renewed it
/// yet, the read renews it first: the same idempotent renewal as the job, under the account
/// lock, so the plan, the packages, the limit and the invoice a read shows are all of the
/// new period, never half of it, and the job finds nothing left to do.
async fn renewed_account(
    ctx: &Context,
    account_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<account::Model, ServiceError> {
    let account = account_row(&ctx.db, account_id).await?;
    if account.next_renewal_at.is_none_or(|next| next > now) {
        return Ok(account);
    }
    let mut report = TickReport::default();
    renew_account(ctx, account_id, now, &mut report).await?;
    if report.periods > 0 {
        tracing::info!(%account_id, ?report, "billing period rolled over on read");
    }
    account_row(&ctx.db, account_id).await
}

/// What a billing tick did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TickReport {
    /// Periods rolled over (and billed) across all accounts.
    pub periods: u64,
    pub packages_renewed: u64,
    pub packages_expired: u64,
}

/// Rolls every account whose period ended by `now` into its next period(s): applies a
/// pending downgrade, renews enabled packages, expires disabled ones, bills the period once
/// and opens its usage at zero. Idempotent: ticking twice, or in two processes at once,
/// bills each period once.
#[tracing::instrument(skip_all, fields(%now))]
pub async fn tick(ctx: &Context, now: DateTime<Utc>) -> Result<TickReport, ServiceError> {
    let mut report = TickReport::default();
    loop {
        let due = storage::billing::due_for_renewal(&ctx.db, now, TICK_BATCH).await?;
        let mut progressed = false;
        for account_id in &due {
            // One account's failure must not hold up every other account's renewal.
            match renew_account(ctx, *account_id, now, &mut report).await {
                Ok(done) => progressed |= done,
                Err(error) => {
                    tracing::error!(?error, %account_id, "cannot renew an account; retrying next round");
                }
            }
        }
        if due.len() < TICK_BATCH as usize || !progressed {
            break;
        }
    }
    if report.periods > 0 {
        tracing::info!(?report, "billing periods rolled over");
    }
    Ok(report)
}

async fn renew_account(
    ctx: &Context,
    account_id: uuid::Uuid,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<bool, ServiceError> {
    let (txn, mut account) = begin_locked(ctx, account_id).await?;
    let Some(mut next) = account.next_renewal_at else {
        // An account from before billing: its next renewal is the end of today's period.
        let period = billing::period_at(account.billing_anchor, now);
        storage::billing::set_next_renewal(&txn, account.id, period.end).await?;
        txn.commit().await.context("committing a renewal date")?;
        return Ok(true);
    };
    let mut progressed = false;
    while next <= now {
        progressed = true;
        let period = billing::period_at(account.billing_anchor, next);
        if let Some(code) = account.pending_plan.clone() {
            let from = plan_row(&txn, &account.plan_code).await?;
            let to = plan_row(&txn, &code).await?;
            storage::billing::set_plan(&txn, account.id, &code, None).await?;
            storage::billing::append_ledger(
                &txn,
                ledger(
                    account.id,
                    next,
                    "plan_change",
                    &period,
                    0,
                    format!("Moved from {} to {}", from.name, to.name),
                ),
            )
            .await?;
            account = account_row(&txn, account.id).await?;
        }
        let plan = plan_row(&txn, &account.plan_code).await?;
        let mut renewed = Vec::new();
        for package in storage::billing::packages(&txn, account.id).await? {
            if package.expired_at.is_some() || package.active_until > period.start {
                continue;
            }
            let mut entry = ledger(
                account.id,
                next,
                "",
                &period,
                package.quantity,
                String::new(),
            );
            entry.package_id = Some(package.id);
            if package.auto_renew && plan.package_cap > 0 {
                storage::billing::extend_package(&txn, package.id, period.end).await?;
                entry.kind = "renewal".to_owned();
                entry.note = format!(
                    "Renewed {} × {CONVERSATIONS_PER_PACKAGE} conversations until {}",
                    package.quantity,
                    period.end.format("%Y-%m-%d")
                );
                record_event(
                    &txn,
                    account.id,
                    "billing.package_renewed",
                    serde_json::json!({"package_id": package.id, "quantity": package.quantity,
                        "period_start": period.start, "period_end": period.end}),
                    Some(format!(
                        "billing.package_renewed/{}/{}",
                        package.id,
                        period.start.timestamp()
                    )),
                    next,
                )
                .await?;
                report.packages_renewed += 1;
                renewed.push(package);
            } else {
                storage::billing::expire_package(&txn, package.id, period.start).await?;
                entry.kind = "expiry".to_owned();
                entry.note = format!(
                    "Expired {} × {CONVERSATIONS_PER_PACKAGE} conversations ({})",
                    package.quantity,
                    if package.auto_renew {
                        "the plan has no packages"
                    } else {
                        "renewal was off"
                    }
                );
                report.packages_expired += 1;
            }
            storage::billing::append_ledger(&txn, entry).await?;
        }
        bill_period(&txn, &account, &plan, &period, &renewed, next).await?;
        storage::billing::set_next_renewal(&txn, account.id, period.end).await?;
        account = account_row(&txn, account.id).await?;
        refresh_limits(&txn, &account, &period, true).await?;
        report.periods += 1;
        next = period.end;
    }
    txn.commit().await.context("committing a renewal")?;
    Ok(progressed)
}
