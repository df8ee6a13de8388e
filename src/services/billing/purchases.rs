//! What an owner buys and changes (DESIGN section 2, "Billing periods, packages and
//! auto-renewal"): packages charged at once and added to the current limit, their renewal
//! turned off or on, and moves to another plan (an upgrade at once, a downgrade at the next
//! renewal).

use super::{
    account_row, begin_locked, invoice_created, ledger, ledger_plan_change,
    overview::{BillingOverview, PackageView, overview},
    package_line_text, plan_row, terms,
    usage::refresh_limits,
};
use crate::{
    domain::{
        FieldError,
        billing::{self, CONVERSATIONS_PER_PACKAGE},
        package as packages,
        plan::{self, PlanChange, PlanTerms},
        role::Role,
    },
    services::{Actor, Context, ServiceError},
    storage::{
        self,
        entities::{invoice, invoice_line, package},
    },
};
use anyhow::Context as _;

/// Most packages bought at once.
pub const MAX_QUANTITY: i32 = 100;

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
    let held = packages::conversations_in(
        &terms(&storage::billing::packages(&txn, account.id).await?),
        &period,
    );
    let adding = packages::within_cap(plan.package_cap, held, quantity).map_err(|left| {
        ServiceError::invalid(FieldError::new(
            "quantity",
            format!(
                "the {} plan allows packages up to {} conversations per period; you hold {held}, so you can buy {left} more package{}",
                plan.name,
                plan.package_cap,
                if left == 1 { "" } else { "s" }
            ),
        ))
    })?;
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
    let amount = packages::amount(plan.package_price_minor, quantity);
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
    invoice_created(
        &txn,
        account.id,
        (invoice_id, amount, &plan.currency),
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
    let (from, to) = (plan_terms(&current), plan_terms(&target));
    if target.code == current.code {
        // Back to the current plan: a pending downgrade is called off.
        if account.pending_plan.is_some() {
            storage::billing::set_plan(&txn, account.id, &current.code, None).await?;
            ledger_plan_change(
                &txn,
                account.id,
                now,
                &period,
                format!("Stays on {}", current.name),
            )
            .await?;
        }
    } else if plan::change(from, to) == PlanChange::Upgrade {
        storage::billing::set_plan(&txn, account.id, &target.code, None).await?;
        let updated = account_row(&txn, account.id).await?;
        refresh_limits(&txn, &updated, &period, true).await?;
        // The higher plan is charged for this period at once: what it costs more.
        let difference = plan::upgrade_charge(from, to);
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
            invoice_created(
                &txn,
                account.id,
                (invoice_id, difference, &target.currency),
                None,
                now,
            )
            .await?;
        }
        ledger_plan_change(
            &txn,
            account.id,
            now,
            &period,
            format!(
                "Upgraded from {} to {}, effective now",
                current.name, target.name
            ),
        )
        .await?;
    } else {
        storage::billing::set_plan(&txn, account.id, &current.code, Some(&target.code)).await?;
        ledger_plan_change(
            &txn,
            account.id,
            now,
            &period,
            format!(
                "Downgrade from {} to {} on {}",
                current.name,
                target.name,
                period.end.format("%Y-%m-%d")
            ),
        )
        .await?;
    }
    txn.commit().await.context("committing a plan change")?;
    overview(ctx, actor).await
}

fn plan_terms(row: &storage::entities::plan::Model) -> PlanTerms {
    PlanTerms {
        chatbot_conversations: row.chatbot_conversations,
        price_minor: row.price_minor,
    }
}
