//! The record of chatbot conversations: one row per conversation, inserted at most once.

use super::entities::{chatbot_conversation, conversation};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

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
