//! Reporting events: appended in the transaction of what they record, read by date range.

use super::entities::{conversation, report_event};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use uuid::Uuid;

pub async fn record(conn: &impl ConnectionTrait, row: report_event::Model) -> Result<(), DbErr> {
    report_event::ActiveModel::from(row).insert(conn).await?;
    Ok(())
}

/// The account's events from `start` (included) to `end` (excluded), oldest first.
pub async fn between(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<report_event::Model>, DbErr> {
    report_event::Entity::find()
        .filter(report_event::Column::AccountId.eq(account_id))
        .filter(report_event::Column::At.gte(start))
        .filter(report_event::Column::At.lt(end))
        .order_by_asc(report_event::Column::At)
        .all(conn)
        .await
}

/// Sets the conversation's first response time unless a person answered already; answers
/// whether this call set it (the conversation's row lock makes that decision single).
pub async fn mark_first_response(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = conversation::Entity::update_many()
        .col_expr(conversation::Column::FirstResponseAt, Expr::value(at))
        .filter(conversation::Column::Id.eq(conversation_id))
        .filter(conversation::Column::FirstResponseAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Notes when the conversation first reached people (kept when set already).
pub async fn mark_human_since(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    conversation::Entity::update_many()
        .col_expr(conversation::Column::HumanSince, Expr::value(at))
        .filter(conversation::Column::Id.eq(conversation_id))
        .filter(conversation::Column::HumanSince.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
