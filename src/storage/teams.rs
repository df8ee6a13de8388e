//! Teams, members and routing rules, scoped by account; the row locks that keep agents
//! within their capacity; the teams' queues.

use super::entities::{conversation, routing_rule, team, team_member, user};
use crate::domain::conversation::ConversationStatus;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

pub async fn list(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<team::Model>, DbErr> {
    team::Entity::find()
        .filter(team::Column::AccountId.eq(account_id))
        .order_by_asc(team::Column::CreatedAt)
        .order_by_asc(team::Column::Id)
        .all(conn)
        .await
}

pub async fn find(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<team::Model>, DbErr> {
    team::Entity::find_by_id(id)
        .filter(team::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn insert(conn: &impl ConnectionTrait, row: team::Model) -> Result<team::Model, DbErr> {
    team::ActiveModel::from(row).insert(conn).await
}

pub async fn update(conn: &impl ConnectionTrait, row: team::Model) -> Result<(), DbErr> {
    team::ActiveModel {
        id: Set(row.id),
        name: Set(row.name),
        is_default: Set(row.is_default),
        shared_queue: Set(row.shared_queue),
        ..Default::default()
    }
    .update(conn)
    .await
    .map(|_| ())
}

pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    team::Entity::delete_by_id(id).exec(conn).await.map(|_| ())
}

/// Makes `id` the account's only default team.
pub async fn make_default(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<(), DbErr> {
    team::Entity::update_many()
        .col_expr(team::Column::IsDefault, Expr::value(false))
        .filter(team::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    team::Entity::update_many()
        .col_expr(team::Column::IsDefault, Expr::value(true))
        .filter(team::Column::AccountId.eq(account_id))
        .filter(team::Column::Id.eq(id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// (team, user) pairs of the account's teams.
pub async fn members(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    let teams: Vec<Uuid> = list(conn, account_id)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    if teams.is_empty() {
        return Ok(Vec::new());
    }
    Ok(team_member::Entity::find()
        .filter(team_member::Column::TeamId.is_in(teams))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (m.team_id, m.user_id))
        .collect())
}

pub async fn set_members(
    conn: &impl ConnectionTrait,
    team_id: Uuid,
    users: &[Uuid],
) -> Result<(), DbErr> {
    team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.eq(team_id))
        .exec(conn)
        .await?;
    if users.is_empty() {
        return Ok(());
    }
    team_member::Entity::insert_many(users.iter().map(|user| team_member::ActiveModel {
        team_id: Set(team_id),
        user_id: Set(*user),
    }))
    .exec(conn)
    .await
    .map(|_| ())
}

pub async fn rules(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<routing_rule::Model>, DbErr> {
    routing_rule::Entity::find()
        .filter(routing_rule::Column::AccountId.eq(account_id))
        .order_by_asc(routing_rule::Column::Position)
        .order_by_asc(routing_rule::Column::Id)
        .all(conn)
        .await
}

pub async fn find_rule(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<routing_rule::Model>, DbErr> {
    routing_rule::Entity::find_by_id(id)
        .filter(routing_rule::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn save_rule(
    conn: &impl ConnectionTrait,
    row: routing_rule::Model,
    new: bool,
) -> Result<(), DbErr> {
    let model = routing_rule::ActiveModel::from(row);
    if new {
        model.insert(conn).await.map(|_| ())
    } else {
        model.reset_all().update(conn).await.map(|_| ())
    }
}

pub async fn delete_rule(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    routing_rule::Entity::delete_by_id(id)
        .exec(conn)
        .await
        .map(|_| ())
}

/// Takes the user's row lock: assignments to one agent happen one at a time, so concurrent
/// handovers never put an agent over capacity.
pub async fn lock_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::Capacity, Expr::col(user::Column::Capacity))
        .filter(user::Column::Id.eq(user_id))
        .exec(conn)
        .await?;
    user::Entity::find_by_id(user_id).one(conn).await
}

/// Open conversations assigned to the user.
pub async fn open_assigned(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    conversation::Entity::find()
        .filter(conversation::Column::AssigneeId.eq(user_id))
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .count(conn)
        .await
}

/// The oldest conversation waiting in one of these teams' queues.
pub async fn oldest_queued(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    teams: &[Uuid],
) -> Result<Option<conversation::Model>, DbErr> {
    if teams.is_empty() {
        return Ok(None);
    }
    conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::TeamId.is_in(teams.iter().copied()))
        .filter(conversation::Column::QueuedAt.is_not_null())
        .filter(conversation::Column::AssigneeId.is_null())
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .order_by_asc(conversation::Column::QueuedAt)
        .order_by_asc(conversation::Column::Id)
        .limit(1)
        .one(conn)
        .await
}

/// Locks a conversation while it still waits in a queue; false when it no longer does.
pub async fn lock_queued(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let result = conversation::Entity::update_many()
        .col_expr(
            conversation::Column::QueuedAt,
            Expr::col(conversation::Column::QueuedAt),
        )
        .filter(conversation::Column::Id.eq(id))
        .filter(conversation::Column::QueuedAt.is_not_null())
        .filter(conversation::Column::AssigneeId.is_null())
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sets a conversation's team, assignee and queue time.
pub async fn place(
    conn: &impl ConnectionTrait,
    id: Uuid,
    team_id: Uuid,
    assignee: Option<Uuid>,
    queued_at: Option<DateTime<Utc>>,
) -> Result<Option<conversation::Model>, DbErr> {
    Ok(conversation::Entity::update_many()
        .col_expr(conversation::Column::TeamId, Expr::value(team_id))
        .col_expr(conversation::Column::AssigneeId, Expr::value(assignee))
        .col_expr(conversation::Column::QueuedAt, Expr::value(queued_at))
        .filter(conversation::Column::Id.eq(id))
        .exec_with_returning(conn)
        .await?
        .into_iter()
        .next())
}

/// Conversations waiting per team of the account.
pub async fn queue_counts(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<(Uuid, u64)>, DbErr> {
    let rows = conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::QueuedAt.is_not_null())
        .filter(conversation::Column::AssigneeId.is_null())
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .all(conn)
        .await?;
    let mut counts: Vec<(Uuid, u64)> = Vec::new();
    for row in rows {
        if let Some(team) = row.team_id {
            match counts.iter_mut().find(|(id, _)| *id == team) {
                Some((_, n)) => *n += 1,
                None => counts.push((team, 1)),
            }
        }
    }
    Ok(counts)
}
