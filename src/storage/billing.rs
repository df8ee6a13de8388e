//! Billing storage: the per-period usage counter (with its conditional, atomic update),
//! packages, invoices, the ledger and recorded events. Every function runs in the caller's
//! transaction.

use super::entities::{
    account, chatbot_conversation, chatbot_usage, event, invoice, invoice_line, ledger_entry,
    package,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

/// Takes the account's row lock (a no-op update): billing changes of one account, and two
/// processes renewing it, run one after the other.
pub async fn lock_account(conn: &impl ConnectionTrait, account_id: Uuid) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(
            account::Column::NextRenewalAt,
            Expr::col(account::Column::NextRenewalAt),
        )
        .filter(account::Column::Id.eq(account_id))
        .exec(conn)
        .await
        .map(|_| ())
}

pub async fn set_plan(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    plan_code: &str,
    pending_plan: Option<&str>,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::PlanCode, Expr::value(plan_code))
        .col_expr(
            account::Column::PendingPlan,
            Expr::value(pending_plan.map(str::to_owned)),
        )
        .filter(account::Column::Id.eq(account_id))
        .exec(conn)
        .await
        .map(|_| ())
}

pub async fn set_next_renewal(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::NextRenewalAt, Expr::value(at))
        .filter(account::Column::Id.eq(account_id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// Accounts whose next period has started by `now` (or is not worked out yet).
pub async fn due_for_renewal(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(account::Entity::find()
        .filter(
            account::Column::NextRenewalAt
                .lte(now)
                .or(account::Column::NextRenewalAt.is_null()),
        )
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect())
}

pub async fn usage(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    period_start: DateTime<Utc>,
) -> Result<Option<chatbot_usage::Model>, DbErr> {
    chatbot_usage::Entity::find_by_id((account_id, period_start))
        .one(conn)
        .await
}

/// Creates the period's usage row unless it exists (two creators at once: one wins).
pub async fn ensure_usage(
    conn: &impl ConnectionTrait,
    row: chatbot_usage::Model,
) -> Result<(), DbErr> {
    chatbot_usage::Entity::insert(chatbot_usage::ActiveModel::from(row))
        .on_conflict_do_nothing()
        .exec(conn)
        .await
        .map(|_| ())
}

/// Sets the period's included and package conversations (after a purchase, renewal or
/// plan change, under the account lock).
pub async fn set_usage_limits(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    period_start: DateTime<Utc>,
    included: i32,
    from_packages: i32,
) -> Result<(), DbErr> {
    chatbot_usage::Entity::update_many()
        .col_expr(chatbot_usage::Column::Included, Expr::value(included))
        .col_expr(
            chatbot_usage::Column::FromPackages,
            Expr::value(from_packages),
        )
        .filter(chatbot_usage::Column::AccountId.eq(account_id))
        .filter(chatbot_usage::Column::PeriodStart.eq(period_start))
        .exec(conn)
        .await
        .map(|_| ())
}

/// Uses one conversation of the period when one is left: a single conditional update, so
/// concurrent callers can never take more than the limit. Answers whether it took one.
pub async fn try_consume(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    period_start: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use chatbot_usage::Column;
    let result = chatbot_usage::Entity::update_many()
        .col_expr(Column::Used, Expr::col(Column::Used).add(1))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::PeriodStart.eq(period_start))
        .filter(
            Expr::col(Column::Used)
                .lt(Expr::col(Column::Included).add(Expr::col(Column::FromPackages))),
        )
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Inserts the conversation's chatbot record unless it has one; answers whether it did.
pub async fn insert_counted(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    conversation_id: Uuid,
    flow_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let inserted = chatbot_conversation::Entity::insert(chatbot_conversation::ActiveModel {
        conversation_id: Set(conversation_id),
        account_id: Set(account_id),
        flow_id: Set(flow_id),
        counted_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(conn)
    .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(_)))
}

pub async fn delete_counted(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<(), DbErr> {
    chatbot_conversation::Entity::delete_by_id(conversation_id)
        .exec(conn)
        .await
        .map(|_| ())
}

pub async fn insert_package(
    conn: &impl ConnectionTrait,
    row: package::Model,
) -> Result<package::Model, DbErr> {
    package::ActiveModel::from(row).insert(conn).await
}

/// The account's packages, newest first (expired ones included).
pub async fn packages(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<package::Model>, DbErr> {
    package::Entity::find()
        .filter(package::Column::AccountId.eq(account_id))
        .order_by_desc(package::Column::CreatedAt)
        .order_by_desc(package::Column::Id)
        .all(conn)
        .await
}

pub async fn find_package(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<package::Model>, DbErr> {
    package::Entity::find_by_id(id)
        .filter(package::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn set_auto_renew(
    conn: &impl ConnectionTrait,
    id: Uuid,
    auto_renew: bool,
) -> Result<(), DbErr> {
    package::Entity::update_many()
        .col_expr(package::Column::AutoRenew, Expr::value(auto_renew))
        .filter(package::Column::Id.eq(id))
        .exec(conn)
        .await
        .map(|_| ())
}

pub async fn extend_package(
    conn: &impl ConnectionTrait,
    id: Uuid,
    active_until: DateTime<Utc>,
) -> Result<(), DbErr> {
    package::Entity::update_many()
        .col_expr(package::Column::ActiveUntil, Expr::value(active_until))
        .filter(package::Column::Id.eq(id))
        .exec(conn)
        .await
        .map(|_| ())
}

pub async fn expire_package(
    conn: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    package::Entity::update_many()
        .col_expr(package::Column::ExpiredAt, Expr::value(at))
        .filter(package::Column::Id.eq(id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// Inserts an invoice with its lines; `None` when a period invoice with the same key exists
/// (the period was billed already).
pub async fn insert_invoice(
    conn: &impl ConnectionTrait,
    row: invoice::Model,
    lines: Vec<invoice_line::Model>,
) -> Result<Option<invoice::Model>, DbErr> {
    let inserted = invoice::Entity::insert(invoice::ActiveModel::from(row.clone()))
        .on_conflict_do_nothing_on([invoice::Column::PeriodKey])
        .exec(conn)
        .await?;
    if !matches!(inserted, TryInsertResult::Inserted(_)) {
        return Ok(None);
    }
    for line in lines {
        invoice_line::ActiveModel::from(line).insert(conn).await?;
    }
    Ok(Some(row))
}

/// The account's invoices, newest first, with their lines.
pub async fn invoices(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    limit: u64,
) -> Result<Vec<(invoice::Model, Vec<invoice_line::Model>)>, DbErr> {
    let invoices = invoice::Entity::find()
        .filter(invoice::Column::AccountId.eq(account_id))
        .order_by_desc(invoice::Column::CreatedAt)
        .order_by_desc(invoice::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    let ids: Vec<Uuid> = invoices.iter().map(|i| i.id).collect();
    let lines = if ids.is_empty() {
        Vec::new()
    } else {
        invoice_line::Entity::find()
            .filter(invoice_line::Column::InvoiceId.is_in(ids))
            .order_by_asc(invoice_line::Column::Id)
            .all(conn)
            .await?
    };
    Ok(invoices
        .into_iter()
        .map(|invoice| {
            let own = lines
                .iter()
                .filter(|line| line.invoice_id == invoice.id)
                .cloned()
                .collect();
            (invoice, own)
        })
        .collect())
}

pub async fn append_ledger(
    conn: &impl ConnectionTrait,
    row: ledger_entry::Model,
) -> Result<(), DbErr> {
    ledger_entry::ActiveModel::from(row)
        .insert(conn)
        .await
        .map(|_| ())
}

/// The newest ledger rows first.
/// The ledger newest first; `before` (a row's time and id) continues after that row.
pub async fn ledger(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<ledger_entry::Model>, DbErr> {
    let mut query =
        ledger_entry::Entity::find().filter(ledger_entry::Column::AccountId.eq(account_id));
    if let Some(before) = before {
        query = query.filter(super::older_than(
            ledger_entry::Column::At,
            ledger_entry::Column::Id,
            before,
        ));
    }
    query
        .order_by_desc(ledger_entry::Column::At)
        .order_by_desc(ledger_entry::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Records an event; one with a `dedupe_key` already recorded is not recorded again.
/// Answers whether it was recorded.
pub async fn record_event(conn: &impl ConnectionTrait, row: event::Model) -> Result<bool, DbErr> {
    let inserted = event::Entity::insert(event::ActiveModel::from(row))
        .on_conflict_do_nothing_on([event::Column::DedupeKey])
        .exec(conn)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(_)))
}

pub async fn events(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    event::Entity::find()
        .filter(event::Column::AccountId.eq(account_id))
        .order_by_desc(event::Column::CreatedAt)
        .order_by_desc(event::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}
