//! The period's chatbot conversation limit and counting against it (DESIGN section 2, rules
//! 6 to 9): the usage row of the current period, the plan's allowance plus the packages', a
//! conversation counted once and never over the limit, warnings at 80 % and at the limit.

use super::{
    account_row, ledger, plan_row, record_event, renewal::renewed_account, terms, unexpected,
};
use crate::{
    domain::{
        billing::{self, Period, Usage},
        package,
    },
    services::{Context, ServiceError},
    storage::{
        self,
        entities::{account, chatbot_usage},
    },
};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::Serialize;
use utoipa::ToSchema;

/// The period's included and package conversations. A period that has begun but that the
/// billing job has not renewed yet gets what its renewal will give it: the pending plan, and
/// the packages that renew. Nobody counts against a wrong limit in between.
async fn period_limits(
    conn: &impl ConnectionTrait,
    account: &account::Model,
    period: &Period,
) -> Result<(i32, i32), ServiceError> {
    let renewed = billing::renewed_into(period, account.next_renewal_at);
    let code = match (&account.pending_plan, renewed) {
        (Some(pending), false) => pending,
        _ => &account.plan_code,
    };
    let plan = plan_row(conn, code).await?;
    let packages = terms(&storage::billing::packages(conn, account.id).await?);
    let from_packages = if plan.package_cap <= 0 {
        0
    } else if renewed {
        package::conversations_in(&packages, period)
    } else {
        package::conversations_after_renewal(&packages, period)
    };
    Ok((plan.chatbot_conversations, from_packages))
}

/// The usage row of the period containing `now`, created when missing.
pub(super) async fn current_usage(
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
pub(super) async fn refresh_limits(
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
        let limit = billing::limit(usage.included, usage.from_packages);
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
        billing::limit(usage.included, usage.from_packages),
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
    pub(super) fn of(row: &chatbot_usage::Model) -> Self {
        let limit = billing::limit(row.included, row.from_packages);
        let used = i64::from(row.used);
        Self {
            included: row.included.into(),
            from_packages: row.from_packages.into(),
            limit,
            used,
            remaining: billing::remaining(used, limit),
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
        billing::percent_used(self.used, self.limit)
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
