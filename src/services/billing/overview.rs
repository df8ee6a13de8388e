//! What the billing page and `GET /api/v1/billing` show (DESIGN section 2, rule 9): the
//! plan, the period and its allowance, the packages, the upcoming invoice, past invoices and
//! the ledger.

use super::{
    package_line_text, plan_row,
    renewal::renewed_account,
    terms,
    usage::{ChatbotAllowance, current_usage},
};
use crate::{
    domain::{
        package::{self as packages, PackageTerms},
        role::Role,
    },
    services::{Actor, Context, ServiceError},
    storage::{
        self,
        entities::{invoice, invoice_line, package, plan},
    },
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

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
    pub(super) fn of(row: package::Model, now: DateTime<Utc>) -> Self {
        let terms = PackageTerms::from(&row);
        let active = terms.active_at(now);
        Self {
            id: row.id,
            quantity: row.quantity,
            conversations: row.conversations,
            auto_renew: row.auto_renew,
            status: if active { "active" } else { "expired" },
            active_from: row.active_from,
            renews_at: terms.renews_at(now),
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
        amount_minor: packages::amount(unit_minor, quantity),
    }
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
        .filter(|p| PackageTerms::from(*p).renews_after(&period))
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
    let held = packages::conversations_in(&terms(&packages), &period);
    let plans = storage::plans::list(&ctx.db)
        .await?
        .into_iter()
        .filter(|p| !p.legacy || p.code == plan.code)
        .map(PlanView::from)
        .collect();
    Ok(BillingOverview {
        chatbot: ChatbotAllowance::of(&usage),
        packages_over_cap: packages::over_cap(next_plan.package_cap, held),
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
    let before = crate::services::cursor::decode_param(cursor)?;
    let limit = limit.clamp(1, 1000);
    let rows =
        storage::billing::ledger(&ctx.db, actor.account_id.as_uuid(), before, limit + 1).await?;
    let (rows, next_cursor) = crate::services::cursor::page(rows, limit, |row| (row.at, row.id));
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
