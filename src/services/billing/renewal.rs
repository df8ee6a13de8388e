//! Rolling accounts into their next periods (DESIGN section 2, "Billing periods, packages
//! and auto-renewal"): a pending downgrade applied, enabled packages renewed and the others
//! expired, the period billed once (idempotent) and its usage opened at zero; by the billing
//! job, and by a read that finds its period ended.

use super::{
    account_row, begin_locked, invoice_created, ledger, ledger_plan_change, package_line_text,
    plan_row, record_event, usage::refresh_limits,
};
use crate::{
    domain::{
        billing::{self, CONVERSATIONS_PER_PACKAGE, Period},
        package::{self as packages, ExpiryReason, PackageTerms, Renewal},
    },
    services::{Context, ServiceError},
    storage::{
        self,
        entities::{account, invoice, invoice_line, package, plan},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::Serialize;

/// Accounts renewed per round of the billing job.
const TICK_BATCH: u64 = 200;

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
            amount_minor: packages::amount(package.unit_price_minor, package.quantity),
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
        invoice_created(
            txn,
            account.id,
            (invoice_id, total, &plan.currency),
            Some(period.start),
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
pub(super) async fn renewed_account(
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
            ledger_plan_change(
                &txn,
                account.id,
                next,
                &period,
                format!("Moved from {} to {}", from.name, to.name),
            )
            .await?;
            account = account_row(&txn, account.id).await?;
        }
        let plan = plan_row(&txn, &account.plan_code).await?;
        let mut renewed = Vec::new();
        for package in storage::billing::packages(&txn, account.id).await? {
            let renewal = PackageTerms::from(&package).renewal(&period, plan.package_cap > 0);
            let (kind, note) = match renewal {
                Renewal::NotDue => continue,
                Renewal::Renew => {
                    storage::billing::extend_package(&txn, package.id, period.end).await?;
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
                    (
                        "renewal",
                        format!(
                            "Renewed {} × {CONVERSATIONS_PER_PACKAGE} conversations until {}",
                            package.quantity,
                            period.end.format("%Y-%m-%d")
                        ),
                    )
                }
                Renewal::Expire(reason) => {
                    storage::billing::expire_package(&txn, package.id, period.start).await?;
                    report.packages_expired += 1;
                    (
                        "expiry",
                        format!(
                            "Expired {} × {CONVERSATIONS_PER_PACKAGE} conversations ({})",
                            package.quantity,
                            match reason {
                                ExpiryReason::PlanHasNoPackages => "the plan has no packages",
                                ExpiryReason::RenewalOff => "renewal was off",
                            }
                        ),
                    )
                }
            };
            let mut entry = ledger(account.id, next, kind, &period, package.quantity, note);
            entry.package_id = Some(package.id);
            storage::billing::append_ledger(&txn, entry).await?;
            if renewal == Renewal::Renew {
                renewed.push(package);
            }
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
