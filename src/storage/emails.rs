//! The email outbox and the accounts' email settings: queueing (inside the caller's
//! transaction), claiming a due email with a lease so that one node sends it, and recording
//! how the attempt went.

use super::entities::{email, email_settings};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

pub async fn settings(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Option<email_settings::Model>, DbErr> {
    email_settings::Entity::find_by_id(account_id)
        .one(conn)
        .await
}

/// Stores an account's settings, creating the row on first save.
pub async fn save_settings(
    conn: &impl ConnectionTrait,
    row: email_settings::Model,
) -> Result<(), DbErr> {
    email_settings::Entity::insert(email_settings::ActiveModel::from(row))
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(email_settings::Column::AccountId)
                .update_columns([
                    email_settings::Column::NotificationEmail,
                    email_settings::Column::OnNewConversation,
                    email_settings::Column::OnOfflineMessage,
                    email_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(conn)
        .await
        .map(|_| ())
}

/// Queues an email; call it inside the transaction of what causes it.
pub async fn insert(conn: &impl ConnectionTrait, row: email::Model) -> Result<(), DbErr> {
    email::ActiveModel::from(row).insert(conn).await.map(|_| ())
}

/// Marks the conversation's emails of `kind` that no node has started sending as `skipped`
/// (a newer one replaces them: a burst of replies to an absent visitor is one email).
pub async fn skip_pending(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    kind: &str,
) -> Result<u64, DbErr> {
    let result = email::Entity::update_many()
        .col_expr(email::Column::Status, Expr::value("skipped"))
        .col_expr(
            email::Column::LastError,
            Expr::value("replaced by a newer email of this conversation"),
        )
        .filter(email::Column::ConversationId.eq(conversation_id))
        .filter(email::Column::Kind.eq(kind))
        .filter(email::Column::Status.eq("pending"))
        .filter(email::Column::Attempts.eq(0))
        .filter(email::Column::LeaseUntil.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Whose emails to count: one conversation's, or the whole account's.
pub enum Scope {
    Conversation(Uuid),
    Account(Uuid),
}

/// How many emails of `kind` the scope queued after `since` (the transcript caps).
pub async fn count_since(
    conn: &impl ConnectionTrait,
    scope: Scope,
    kind: &str,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let whose = match scope {
        Scope::Conversation(id) => email::Column::ConversationId.eq(id),
        Scope::Account(id) => email::Column::AccountId.eq(id),
    };
    email::Entity::find()
        .filter(whose)
        .filter(email::Column::Kind.eq(kind))
        .filter(email::Column::CreatedAt.gt(since))
        .count(conn)
        .await
}

/// Pending emails whose time has come and that no live lease holds, oldest first.
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<email::Model>, DbErr> {
    email::Entity::find()
        .filter(email::Column::Status.eq("pending"))
        .filter(email::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(email::Column::LeaseUntil.is_null())
                .add(email::Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(email::Column::NextAttemptAt)
        .order_by_asc(email::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Takes a due email for this node until `lease_until` and counts the attempt; false when
/// another node took it first (the conditional update lets exactly one writer win, on SQLite
/// and PostgreSQL alike).
pub async fn claim(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = email::Entity::update_many()
        .col_expr(email::Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(
            email::Column::Attempts,
            Expr::col(email::Column::Attempts).add(1),
        )
        .filter(email::Column::Id.eq(id))
        .filter(email::Column::Status.eq("pending"))
        .filter(email::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(email::Column::LeaseUntil.is_null())
                .add(email::Column::LeaseUntil.lt(now)),
        )
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How an attempt ended.
pub enum Outcome {
    Sent,
    /// Not sent: no SMTP server is configured.
    Skipped,
    /// Try again at this time.
    Retry(DateTime<Utc>, String),
    /// Given up.
    Failed(String),
}

/// Records the attempt's outcome and releases the lease.
pub async fn finish(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> Result<(), DbErr> {
    let mut row = email::ActiveModel {
        id: Set(id),
        lease_until: Set(None),
        ..Default::default()
    };
    match outcome {
        Outcome::Sent => {
            row.status = Set("sent".to_owned());
            row.sent_at = Set(Some(now));
            row.last_error = Set(None);
        }
        Outcome::Skipped => row.status = Set("skipped".to_owned()),
        Outcome::Retry(at, error) => {
            row.next_attempt_at = Set(at);
            row.last_error = Set(Some(error));
        }
        Outcome::Failed(error) => {
            row.status = Set("failed".to_owned());
            row.last_error = Set(Some(error));
        }
    }
    row.update(conn).await.map(|_| ())
}

/// The newest emails of an account (operations and tests).
pub async fn recent(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    limit: u64,
) -> Result<Vec<email::Model>, DbErr> {
    email::Entity::find()
        .filter(email::Column::AccountId.eq(account_id))
        .order_by_desc(email::Column::CreatedAt)
        .order_by_desc(email::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}
