//! Reads and writes of conversations and their tags. Every read a request makes is scoped by account.

use super::entities::{conversation, conversation_tag, visitor};
use crate::domain::conversation::ConversationStatus;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func},
};
use uuid::Uuid;

pub async fn insert(
    conn: &impl ConnectionTrait,
    row: conversation::Model,
) -> Result<conversation::Model, DbErr> {
    conversation::ActiveModel::from(row).insert(conn).await
}

pub async fn find_in_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<conversation::Model>, DbErr> {
    conversation::Entity::find_by_id(id)
        .filter(conversation::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

/// The visitor's newest conversation.
pub async fn latest_of_visitor(
    conn: &impl ConnectionTrait,
    visitor_id: Uuid,
) -> Result<Option<conversation::Model>, DbErr> {
    conversation::Entity::find()
        .filter(conversation::Column::VisitorId.eq(visitor_id))
        .order_by_desc(conversation::Column::CreatedAt)
        .order_by_desc(conversation::Column::Id)
        .one(conn)
        .await
}

/// The visitor's conversations, newest first (their history for agents).
pub async fn of_visitor(
    conn: &impl ConnectionTrait,
    visitor_id: Uuid,
    limit: u64,
) -> Result<Vec<conversation::Model>, DbErr> {
    conversation::Entity::find()
        .filter(conversation::Column::VisitorId.eq(visitor_id))
        .filter(conversation::Column::Started.eq(true))
        .filter(conversation::Column::ErasedAt.is_null())
        .order_by_desc(conversation::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Changes to a conversation. Only the named columns are written, so a change never
/// overwrites `last_seq`, the unread count or the preview that a concurrent message moved.
#[derive(Clone, Debug, Default)]
pub struct ConversationChanges {
    pub status: Option<&'static str>,
    pub handler: Option<&'static str>,
    pub assignee_id: Option<Option<Uuid>>,
    /// Assign to this user only when nobody is assigned yet.
    pub assign_if_unassigned: Option<Uuid>,
    pub resolved_at: Option<Option<DateTime<Utc>>>,
    pub reset_unread: bool,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub rating: Option<(i16, Option<String>)>,
    /// The chatbot outcome (`resolved_by_chatbot`, `escalated_to_human`).
    pub outcome: Option<&'static str>,
    /// The context variables (a JSON object).
    pub context: Option<String>,
    /// The visitor left a message through the offline form.
    pub offline: Option<bool>,
    /// Change only while the conversation has this status.
    pub only_if_status: Option<&'static str>,
    /// Change only while nothing happened in the conversation since this time.
    pub only_if_idle_before: Option<DateTime<Utc>>,
}

/// Applies `changes` to a conversation of the account; `None` when there is none (or
/// `only_if_status` did not match). Answers the row as stored.
pub async fn update(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
    changes: ConversationChanges,
) -> Result<Option<conversation::Model>, DbErr> {
    use conversation::Column;
    let mut update = conversation::Entity::update_many()
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id));
    if let Some(status) = changes.only_if_status {
        update = update.filter(Column::Status.eq(status));
    }
    if let Some(cutoff) = changes.only_if_idle_before {
        update = update.filter(Column::LastActivityAt.lt(cutoff));
    }
    if let Some(status) = changes.status {
        update = update.col_expr(Column::Status, Expr::value(status));
    }
    if let Some(handler) = changes.handler {
        update = update.col_expr(Column::Handler, Expr::value(handler));
    }
    if let Some(assignee) = changes.assignee_id {
        update = update.col_expr(Column::AssigneeId, Expr::value(assignee));
    }
    if let Some(user) = changes.assign_if_unassigned {
        update = update.col_expr(
            Column::AssigneeId,
            Expr::expr(Func::coalesce([
                Expr::col(Column::AssigneeId),
                Expr::value(user),
            ])),
        );
    }
    if let Some(resolved_at) = changes.resolved_at {
        update = update.col_expr(Column::ResolvedAt, Expr::value(resolved_at));
    }
    if changes.reset_unread {
        update = update.col_expr(Column::UnreadCount, Expr::value(0));
    }
    if let Some(at) = changes.last_activity_at {
        update = update.col_expr(Column::LastActivityAt, Expr::value(at));
    }
    if let Some((rating, comment)) = changes.rating {
        update = update
            .col_expr(Column::Rating, Expr::value(rating))
            .col_expr(Column::RatingComment, Expr::value(comment));
    }
    if let Some(outcome) = changes.outcome {
        update = update.col_expr(Column::Outcome, Expr::value(outcome));
    }
    if let Some(context) = changes.context {
        update = update.col_expr(Column::Context, Expr::value(context));
    }
    if let Some(offline) = changes.offline {
        update = update.col_expr(Column::Offline, Expr::value(offline));
    }
    Ok(update.exec_with_returning(conn).await?.into_iter().next())
}

/// Filters of the conversation list.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    /// `Some(None)`: unassigned; `Some(Some(id))`: assigned to that user.
    pub assignee: Option<Option<Uuid>>,
    /// Matches visitor name or email (substring, case-insensitive).
    pub search: Option<String>,
    pub tag: Option<String>,
    /// Only conversations labelled "Joined by chatbot".
    pub joined_by_chatbot: bool,
    /// Only conversations with this chatbot outcome.
    pub outcome: Option<&'static str>,
    /// Only conversations that were (true) or were not (false) counted as chatbot conversations.
    pub chatbot_counted: Option<bool>,
    /// Only conversations of this team (its queue and its members' conversations).
    pub team: Option<Uuid>,
}

/// A position in the list: after the conversation with this activity time and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListCursor {
    pub last_activity_at: DateTime<Utc>,
    pub id: Uuid,
}

/// One page of started conversations, newest activity first, keyset-paginated (index-backed).
pub async fn list(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    filter: &ListFilter,
    after: Option<ListCursor>,
    limit: u64,
) -> Result<Vec<(conversation::Model, Option<visitor::Model>)>, DbErr> {
    let mut query = conversation::Entity::find()
        .find_also_related(visitor::Entity)
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::Started.eq(true))
        // Retention erased its content; the row stays only for the counts.
        .filter(conversation::Column::ErasedAt.is_null());
    if let Some(status) = &filter.status {
        query = query.filter(conversation::Column::Status.eq(status));
    }
    match filter.assignee {
        Some(Some(user_id)) => query = query.filter(conversation::Column::AssigneeId.eq(user_id)),
        Some(None) => query = query.filter(conversation::Column::AssigneeId.is_null()),
        None => {}
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = format!("%{}%", search.to_lowercase().replace(['%', '_'], ""));
        query = query.filter(
            Condition::any()
                .add(lower_like(
                    (visitor::Entity, visitor::Column::Name),
                    &pattern,
                ))
                .add(lower_like(
                    (visitor::Entity, visitor::Column::Email),
                    &pattern,
                ))
                .add(
                    conversation::Column::Id.in_subquery(
                        sea_orm::sea_query::Query::select()
                            .column(super::entities::message::Column::ConversationId)
                            .from(super::entities::message::Entity)
                            .and_where(super::entities::message::Column::AccountId.eq(account_id))
                            .and_where(super::entities::message::Column::Internal.eq(false))
                            .and_where(lower_like(
                                (
                                    super::entities::message::Entity,
                                    super::entities::message::Column::Text,
                                ),
                                &pattern,
                            ))
                            .to_owned(),
                    ),
                ),
        );
    }
    if filter.joined_by_chatbot {
        query = query.filter(conversation::Column::JoinedByChatbot.eq(true));
    }
    if let Some(outcome) = filter.outcome {
        query = query.filter(conversation::Column::Outcome.eq(outcome));
    }
    if let Some(team) = filter.team {
        query = query.filter(conversation::Column::TeamId.eq(team));
    }
    if let Some(counted) = filter.chatbot_counted {
        let counted_ids = sea_orm::sea_query::Query::select()
            .column(super::entities::chatbot_conversation::Column::ConversationId)
            .from(super::entities::chatbot_conversation::Entity)
            .to_owned();
        query = query.filter(if counted {
            conversation::Column::Id.in_subquery(counted_ids)
        } else {
            conversation::Column::Id.not_in_subquery(counted_ids)
        });
    }
    if let Some(tag) = &filter.tag {
        query = query.filter(
            conversation::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(conversation_tag::Column::ConversationId)
                    .from(conversation_tag::Entity)
                    .and_where(conversation_tag::Column::Tag.eq(tag.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(cursor) = after {
        query = query.filter(
            Condition::any()
                .add(conversation::Column::LastActivityAt.lt(cursor.last_activity_at))
                .add(
                    Condition::all()
                        .add(conversation::Column::LastActivityAt.eq(cursor.last_activity_at))
                        .add(conversation::Column::Id.lt(cursor.id)),
                ),
        );
    }
    query
        .order_by_desc(conversation::Column::LastActivityAt)
        .order_by_desc(conversation::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// `lower(column) LIKE pattern`: case-insensitive on SQLite and PostgreSQL alike.
fn lower_like(
    column: impl sea_orm::sea_query::IntoColumnRef,
    pattern: &str,
) -> sea_orm::sea_query::SimpleExpr {
    Expr::expr(Func::lower(Expr::col(column))).like(pattern)
}

pub async fn tags(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Vec<String>, DbErr> {
    Ok(conversation_tag::Entity::find()
        .filter(conversation_tag::Column::ConversationId.eq(conversation_id))
        .order_by_asc(conversation_tag::Column::Tag)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| row.tag)
        .collect())
}

/// Tags of many conversations at once (for lists), as (conversation, tag) pairs.
pub async fn tags_of(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(conversation_tag::Entity::find()
        .filter(conversation_tag::Column::ConversationId.is_in(ids.iter().copied()))
        .order_by_asc(conversation_tag::Column::Tag)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.conversation_id, row.tag))
        .collect())
}

/// Replaces the conversation's tags.
pub async fn set_tags(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    tags: &[String],
) -> Result<(), DbErr> {
    conversation_tag::Entity::delete_many()
        .filter(conversation_tag::Column::ConversationId.eq(conversation_id))
        .exec(conn)
        .await?;
    if tags.is_empty() {
        return Ok(());
    }
    conversation_tag::Entity::insert_many(tags.iter().map(|tag| conversation_tag::ActiveModel {
        conversation_id: sea_orm::ActiveValue::Set(conversation_id),
        tag: sea_orm::ActiveValue::Set(tag.clone()),
    }))
    .exec(conn)
    .await
    .map(|_| ())
}

/// Open, started conversations whose visitor has not been seen since `before` (inactivity job).
pub async fn idle_open(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<conversation::Model>, DbErr> {
    conversation::Entity::find()
        .inner_join(visitor::Entity)
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .filter(conversation::Column::LastActivityAt.lt(before))
        .filter(visitor::Column::LastSeenAt.lt(before))
        .order_by_asc(conversation::Column::LastActivityAt)
        .limit(limit)
        .all(conn)
        .await
}
