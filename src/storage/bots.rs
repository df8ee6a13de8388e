//! External bots, their sessions in conversations and their event outbox, scoped by account;
//! the conditional update that lets one node at a time claim a due event.

use super::entities::{bot, bot_event, bot_session, conversation};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

pub async fn list(conn: &impl ConnectionTrait, account_id: Uuid) -> Result<Vec<bot::Model>, DbErr> {
    bot::Entity::find()
        .filter(bot::Column::AccountId.eq(account_id))
        .order_by_asc(bot::Column::CreatedAt)
        .order_by_asc(bot::Column::Id)
        .all(conn)
        .await
}

pub async fn find(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<bot::Model>, DbErr> {
    bot::Entity::find_by_id(id)
        .filter(bot::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn find_by_id(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<bot::Model>, DbErr> {
    bot::Entity::find_by_id(id).one(conn).await
}

pub async fn find_by_token_hash(
    conn: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<bot::Model>, DbErr> {
    bot::Entity::find()
        .filter(bot::Column::TokenHash.eq(hash))
        .one(conn)
        .await
}

pub async fn insert(conn: &impl ConnectionTrait, row: bot::Model) -> Result<bot::Model, DbErr> {
    bot::ActiveModel::from(row).insert(conn).await
}

/// Saves the fields an admin may change.
pub async fn save(conn: &impl ConnectionTrait, row: bot::Model) -> Result<bot::Model, DbErr> {
    bot::ActiveModel {
        id: Set(row.id),
        name: Set(row.name),
        url: Set(row.url),
        enabled: Set(row.enabled),
        timeout_ms: Set(row.timeout_ms),
        avatar: Set(row.avatar),
        label: Set(row.label),
        ..Default::default()
    }
    .update(conn)
    .await
}

/// Deletes a bot of the account (its sessions and events go with it).
pub async fn delete(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = bot::Entity::delete_many()
        .filter(bot::Column::Id.eq(id))
        .filter(bot::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The bot session going on in a conversation.
pub async fn active_session(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Option<bot_session::Model>, DbErr> {
    bot_session::Entity::find()
        .filter(bot_session::Column::ConversationId.eq(conversation_id))
        .filter(bot_session::Column::Active.eq(true))
        .one(conn)
        .await
}

/// The active sessions of one bot (to hand them over when it is deleted).
pub async fn active_sessions_of_bot(
    conn: &impl ConnectionTrait,
    bot_id: Uuid,
) -> Result<Vec<bot_session::Model>, DbErr> {
    bot_session::Entity::find()
        .filter(bot_session::Column::BotId.eq(bot_id))
        .filter(bot_session::Column::Active.eq(true))
        .all(conn)
        .await
}

/// Whether any bot session of the conversation had a visitor interaction.
pub async fn any_interacted(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(bot_session::Entity::find()
        .filter(bot_session::Column::ConversationId.eq(conversation_id))
        .filter(bot_session::Column::Interacted.eq(true))
        .one(conn)
        .await?
        .is_some())
}

pub async fn insert_session(
    conn: &impl ConnectionTrait,
    row: bot_session::Model,
) -> Result<bot_session::Model, DbErr> {
    bot_session::ActiveModel::from(row).insert(conn).await
}

pub async fn mark_interacted(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    bot_session::Entity::update_many()
        .col_expr(bot_session::Column::Interacted, Expr::value(true))
        .filter(bot_session::Column::Id.eq(id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// Ends a session; an interacted one gets `outcome`.
pub async fn end_session(
    conn: &impl ConnectionTrait,
    session: &bot_session::Model,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    bot_session::ActiveModel {
        id: Set(session.id),
        active: Set(false),
        outcome: Set(session.interacted.then(|| outcome.to_owned())),
        ended_at: Set(Some(now)),
        ..Default::default()
    }
    .update(conn)
    .await
    .map(|_| ())
}

/// A conversation a bot takes leaves its team's queue and its agent's list: the bot's
/// handover routes it again.
pub async fn unplace(conn: &impl ConnectionTrait, conversation_id: Uuid) -> Result<(), DbErr> {
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::TeamId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            conversation::Column::AssigneeId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            conversation::Column::QueuedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(conversation::Column::Id.eq(conversation_id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// The next event number of a conversation (the caller holds the conversation's row lock).
pub async fn next_event_seq(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<i64, DbErr> {
    let last = bot_event::Entity::find()
        .filter(bot_event::Column::ConversationId.eq(conversation_id))
        .order_by_desc(bot_event::Column::Seq)
        .one(conn)
        .await?;
    Ok(last.map_or(1, |row| row.seq + 1))
}

pub async fn insert_event(conn: &impl ConnectionTrait, row: bot_event::Model) -> Result<(), DbErr> {
    bot_event::Entity::insert(bot_event::ActiveModel::from(row))
        .exec(conn)
        .await
        .map(|_| ())
}

pub async fn find_event(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<bot_event::Model>, DbErr> {
    bot_event::Entity::find_by_id(id).one(conn).await
}

/// Pending events, oldest first (due or not: a conversation's first pending event holds back
/// its later ones).
pub async fn pending(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<bot_event::Model>, DbErr> {
    bot_event::Entity::find()
        .filter(bot_event::Column::Status.eq("pending"))
        .order_by_asc(bot_event::Column::CreatedAt)
        .order_by_asc(bot_event::Column::Seq)
        .limit(limit)
        .all(conn)
        .await
}

/// The first pending event of one conversation.
pub async fn first_pending_of(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Option<bot_event::Model>, DbErr> {
    bot_event::Entity::find()
        .filter(bot_event::Column::ConversationId.eq(conversation_id))
        .filter(bot_event::Column::Status.eq("pending"))
        .order_by_asc(bot_event::Column::Seq)
        .one(conn)
        .await
}

/// Claims a due event by moving its next attempt to `lease_until`, only if it is still
/// pending and due: of two nodes racing for it, exactly one updates the row.
pub async fn claim(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = bot_event::Entity::update_many()
        .col_expr(bot_event::Column::NextAttemptAt, Expr::value(lease_until))
        .filter(bot_event::Column::Id.eq(id))
        .filter(bot_event::Column::Status.eq("pending"))
        .filter(bot_event::Column::NextAttemptAt.lte(now))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records one attempt (the webhook outbox's `Attempt`: same fields, same meaning).
pub async fn record_attempt(
    conn: &impl ConnectionTrait,
    id: Uuid,
    attempt: super::webhooks::Attempt,
) -> Result<(), DbErr> {
    bot_event::ActiveModel {
        id: Set(id),
        status: Set(attempt.status.to_owned()),
        attempts: Set(attempt.attempts),
        next_attempt_at: Set(attempt.next_attempt_at),
        last_status_code: Set(attempt.last_status_code),
        last_error: Set(attempt.last_error),
        last_attempt_at: Set(Some(attempt.at)),
        delivered_at: Set(attempt.delivered_at),
        ..Default::default()
    }
    .update(conn)
    .await
    .map(|_| ())
}

/// A bot's events, newest first.
pub async fn events_of_bot(
    conn: &impl ConnectionTrait,
    bot_id: Uuid,
    limit: u64,
) -> Result<Vec<bot_event::Model>, DbErr> {
    bot_event::Entity::find()
        .filter(bot_event::Column::BotId.eq(bot_id))
        .order_by_desc(bot_event::Column::CreatedAt)
        .order_by_desc(bot_event::Column::Seq)
        .limit(limit)
        .all(conn)
        .await
}

/// Takes the conversation's row lock inside the caller's transaction (a no-op write), and
/// answers the row; `None` when the account has no such conversation.
pub async fn lock_conversation(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<conversation::Model>, DbErr> {
    Ok(conversation::Entity::update_many()
        .col_expr(
            conversation::Column::Id,
            Expr::col(conversation::Column::Id),
        )
        .filter(conversation::Column::Id.eq(id))
        .filter(conversation::Column::AccountId.eq(account_id))
        .exec_with_returning(conn)
        .await?
        .into_iter()
        .next())
}

/// People's wait starts at a bot's handover: the time a conversation first reached people is
/// reset (reports measure the wait for a first response from then on).
pub async fn restart_human_since(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    conversation::Entity::update_many()
        .col_expr(conversation::Column::HumanSince, Expr::value(at))
        .filter(conversation::Column::Id.eq(conversation_id))
        .filter(conversation::Column::FirstResponseAt.is_null())
        .exec(conn)
        .await
        .map(|_| ())
}

/// The account's bot sessions started in `[start, end)` (insights).
pub async fn sessions_between(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<bot_session::Model>, DbErr> {
    bot_session::Entity::find()
        .filter(bot_session::Column::AccountId.eq(account_id))
        .filter(bot_session::Column::StartedAt.gte(start))
        .filter(bot_session::Column::StartedAt.lt(end))
        .all(conn)
        .await
}
