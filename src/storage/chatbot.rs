//! The record of chatbot conversations: one row per conversation, inserted at most once.

use super::entities::{chatbot_conversation, conversation};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    TryInsertResult, sea_query::Expr,
};
use uuid::Uuid;

/// Records the conversation as a chatbot conversation and labels it, inside the caller's
/// transaction. Answers false when it was recorded before (nothing is written then).
pub async fn record(
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
    if !matches!(inserted, TryInsertResult::Inserted(_)) {
        return Ok(false);
    }
    conversation::Entity::update_many()
        .col_expr(conversation::Column::JoinedByChatbot, Expr::value(true))
        .filter(conversation::Column::Id.eq(conversation_id))
        .filter(conversation::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    Ok(true)
}

/// Labels the conversation "Joined by chatbot".
pub async fn label(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    conversation_id: Uuid,
) -> Result<(), DbErr> {
    conversation::Entity::update_many()
        .col_expr(conversation::Column::JoinedByChatbot, Expr::value(true))
        .filter(conversation::Column::Id.eq(conversation_id))
        .filter(conversation::Column::AccountId.eq(account_id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// How many chatbot conversations the account had from `since` on.
pub async fn count_since(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    chatbot_conversation::Entity::find()
        .filter(chatbot_conversation::Column::AccountId.eq(account_id))
        .filter(chatbot_conversation::Column::CountedAt.gte(since))
        .count(conn)
        .await
}

/// The account's chatbot conversations counted in `[from, to)`, as (flow, counted at).
pub async fn counted_between(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Option<Uuid>, DateTime<Utc>)>, DbErr> {
    Ok(chatbot_conversation::Entity::find()
        .filter(chatbot_conversation::Column::AccountId.eq(account_id))
        .filter(chatbot_conversation::Column::CountedAt.gte(from))
        .filter(chatbot_conversation::Column::CountedAt.lt(to))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.flow_id, row.counted_at))
        .collect())
}
