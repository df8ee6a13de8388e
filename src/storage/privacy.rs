//! Data protection's reads and writes: everything stored about one visitor (for an export),
//! erasing it, the retention job's batches, and the audit log.

use super::entities::{
    account, audit_entry, conversation, email, flow_run, message, report_event, visitor,
    visitor_page,
};
use crate::domain::conversation::ConversationStatus;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

/// Every conversation of the visitor, oldest first (an export or an erase covers them all).
pub async fn conversations_of_visitor(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    visitor_id: Uuid,
) -> Result<Vec<conversation::Model>, DbErr> {
    conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::VisitorId.eq(visitor_id))
        .order_by_asc(conversation::Column::CreatedAt)
        .order_by_asc(conversation::Column::Id)
        .all(conn)
        .await
}

/// The messages of these conversations, by conversation and `seq`.
pub async fn messages_of(
    conn: &impl ConnectionTrait,
    conversation_ids: &[Uuid],
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ConversationId.is_in(conversation_ids.iter().copied()))
        .order_by_asc(message::Column::ConversationId)
        .order_by_asc(message::Column::Seq)
        .all(conn)
        .await
}

/// Every page the visitor was seen on, oldest first.
pub async fn pages_of(
    conn: &impl ConnectionTrait,
    visitor_id: Uuid,
) -> Result<Vec<visitor_page::Model>, DbErr> {
    visitor_page::Entity::find()
        .filter(visitor_page::Column::VisitorId.eq(visitor_id))
        .order_by_asc(visitor_page::Column::At)
        .all(conn)
        .await
}

/// The reporting events of these conversations, oldest first.
pub async fn report_events_of(
    conn: &impl ConnectionTrait,
    conversation_ids: &[Uuid],
) -> Result<Vec<report_event::Model>, DbErr> {
    report_event::Entity::find()
        .filter(report_event::Column::ConversationId.is_in(conversation_ids.iter().copied()))
        .order_by_asc(report_event::Column::At)
        .all(conn)
        .await
}

/// The chatbot flows that ran for the visitor, oldest first.
pub async fn flow_runs_of_visitor(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    visitor_id: Uuid,
) -> Result<Vec<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::AccountId.eq(account_id))
        .filter(flow_run::Column::VisitorId.eq(visitor_id))
        .order_by_asc(flow_run::Column::TriggeredAt)
        .all(conn)
        .await
}

/// What erasing conversations removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub conversations: u64,
    pub messages: u64,
    /// Storage keys of the deleted attachments, to delete from the file store after commit.
    pub file_keys: Vec<String>,
}

/// Erases the content of these conversations: their messages and emails are deleted; the
/// preview, rating comment and handover context are cleared; the pages their flows ran on
/// are blanked. The rows themselves stay, with status, times, counters, labels, outcome and
/// rating: reports, insights and billing count them, and the chatbot and flow-run rows that
/// hang on them would go with them. `hide` (retention) also marks them erased, which keeps
/// them out of every list.
pub async fn erase_conversations(
    conn: &impl ConnectionTrait,
    conversation_ids: &[Uuid],
    hide: Option<DateTime<Utc>>,
) -> Result<Erased, DbErr> {
    if conversation_ids.is_empty() {
        return Ok(Erased::default());
    }
    let ids = || conversation_ids.iter().copied();
    let messages = message::Entity::delete_many()
        .filter(message::Column::ConversationId.is_in(ids()))
        .exec(conn)
        .await?
        .rows_affected;
    let file_keys = super::attachments::delete_of_conversations(conn, conversation_ids).await?;
    email::Entity::delete_many()
        .filter(email::Column::ConversationId.is_in(ids()))
        .exec(conn)
        .await?;
    let mut update = conversation::Entity::update_many()
        .col_expr(
            conversation::Column::LastMessagePreview,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            conversation::Column::RatingComment,
            Expr::value(Option::<String>::None),
        )
        .col_expr(conversation::Column::Context, Expr::value("{}"))
        .filter(conversation::Column::Id.is_in(ids()));
    if let Some(at) = hide {
        update = update.col_expr(conversation::Column::ErasedAt, Expr::value(at));
    }
    let conversations = update.exec(conn).await?.rows_affected;
    flow_run::Entity::update_many()
        .col_expr(flow_run::Column::PageUrl, Expr::value(""))
        .filter(flow_run::Column::ConversationId.is_in(ids()))
        .exec(conn)
        .await?;
    Ok(Erased {
        conversations,
        messages,
        file_keys,
    })
}

/// Erases the visitor's own record: contact fields, variables, addresses, pages and their
/// verified user id go; `token_hash` replaces the old token's, so that token finds nothing
/// and its next `hello` starts a new visitor. Answers the pages deleted.
pub async fn erase_visitor(
    conn: &impl ConnectionTrait,
    visitor_id: Uuid,
    token_hash: String,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let none = || Expr::value(Option::<String>::None);
    visitor::Entity::update_many()
        .col_expr(visitor::Column::TokenHash, Expr::value(token_hash))
        .col_expr(visitor::Column::Name, none())
        .col_expr(visitor::Column::Email, none())
        .col_expr(visitor::Column::Phone, none())
        .col_expr(visitor::Column::Variables, Expr::value("{}"))
        .col_expr(visitor::Column::GroupName, none())
        .col_expr(visitor::Column::CurrentUrl, none())
        .col_expr(visitor::Column::CurrentTitle, none())
        .col_expr(visitor::Column::LastIp, none())
        .col_expr(visitor::Column::VerifiedUserId, none())
        .col_expr(visitor::Column::ErasedAt, Expr::value(at))
        .filter(visitor::Column::Id.eq(visitor_id))
        .exec(conn)
        .await?;
    Ok(visitor_page::Entity::delete_many()
        .filter(visitor_page::Column::VisitorId.eq(visitor_id))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Accounts with a retention period, as (account, days).
pub async fn retention_accounts(conn: &impl ConnectionTrait) -> Result<Vec<(Uuid, i32)>, DbErr> {
    Ok(account::Entity::find()
        .filter(account::Column::RetentionDays.is_not_null())
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| row.retention_days.map(|days| (row.id, days)))
        .collect())
}

/// Up to `limit` of the account's resolved, not yet erased conversations resolved before
/// `before`, oldest first.
pub async fn expired_conversations(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    conversation::Entity::find()
        .select_only()
        .column(conversation::Column::Id)
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::ErasedAt.is_null())
        .filter(conversation::Column::ResolvedAt.lt(before))
        .filter(conversation::Column::Status.eq(ConversationStatus::Resolved))
        .order_by_asc(conversation::Column::ResolvedAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await
}

pub async fn record(conn: &impl ConnectionTrait, row: audit_entry::Model) -> Result<(), DbErr> {
    audit_entry::ActiveModel::from(row).insert(conn).await?;
    Ok(())
}

/// The audit log newest first; `before` (an entry's time and id) continues after that entry.
pub async fn audit_log(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<audit_entry::Model>, DbErr> {
    let mut query =
        audit_entry::Entity::find().filter(audit_entry::Column::AccountId.eq(account_id));
    if let Some(before) = before {
        query = query.filter(super::older_than(
            audit_entry::Column::At,
            audit_entry::Column::Id,
            before,
        ));
    }
    query
        .order_by_desc(audit_entry::Column::At)
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}
