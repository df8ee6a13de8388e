//! Reads and writes of blocks (`blocked_visitors`) and the visitors they match.

use super::entities::{blocked_visitor, user, visitor};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub async fn insert(
    conn: &impl ConnectionTrait,
    row: blocked_visitor::Model,
) -> Result<blocked_visitor::Model, DbErr> {
    blocked_visitor::ActiveModel::from(row).insert(conn).await
}

/// A block that refuses this visitor or this address, if there is one.
pub async fn matching(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    visitor_id: Option<Uuid>,
    ip: Option<&str>,
) -> Result<Option<blocked_visitor::Model>, DbErr> {
    let mut either = Condition::any();
    if let Some(visitor_id) = visitor_id {
        either = either.add(blocked_visitor::Column::VisitorId.eq(visitor_id));
    }
    if let Some(ip) = ip {
        either = either.add(blocked_visitor::Column::Ip.eq(ip));
    }
    if either.is_empty() {
        return Ok(None);
    }
    blocked_visitor::Entity::find()
        .filter(blocked_visitor::Column::AccountId.eq(account_id))
        .filter(either)
        .one(conn)
        .await
}

pub async fn find_in_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<blocked_visitor::Model>, DbErr> {
    blocked_visitor::Entity::find_by_id(id)
        .filter(blocked_visitor::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn find_by_visitor(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    visitor_id: Uuid,
) -> Result<Option<blocked_visitor::Model>, DbErr> {
    blocked_visitor::Entity::find()
        .filter(blocked_visitor::Column::AccountId.eq(account_id))
        .filter(blocked_visitor::Column::VisitorId.eq(visitor_id))
        .one(conn)
        .await
}

pub async fn find_by_ip(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    ip: &str,
) -> Result<Option<blocked_visitor::Model>, DbErr> {
    blocked_visitor::Entity::find()
        .filter(blocked_visitor::Column::AccountId.eq(account_id))
        .filter(blocked_visitor::Column::Ip.eq(ip))
        .one(conn)
        .await
}

pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    blocked_visitor::Entity::delete_by_id(id)
        .exec(conn)
        .await
        .map(|_| ())
}

/// The account's blocks, newest first, at most `limit`.
pub async fn list(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    limit: u64,
) -> Result<Vec<blocked_visitor::Model>, DbErr> {
    blocked_visitor::Entity::find()
        .filter(blocked_visitor::Column::AccountId.eq(account_id))
        .order_by_desc(blocked_visitor::Column::CreatedAt)
        .order_by_desc(blocked_visitor::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Visitors of the account among `ids`.
pub async fn visitors(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<visitor::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    visitor::Entity::find()
        .filter(visitor::Column::AccountId.eq(account_id))
        .filter(visitor::Column::Id.is_in(ids))
        .all(conn)
        .await
}

/// Of the visitors `among`, those whose widget last connected from `ip`.
pub async fn visitors_at_ip(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    ip: &str,
    among: Vec<Uuid>,
) -> Result<Vec<Uuid>, DbErr> {
    if among.is_empty() {
        return Ok(Vec::new());
    }
    visitor::Entity::find()
        .select_only()
        .column(visitor::Column::Id)
        .filter(visitor::Column::AccountId.eq(account_id))
        .filter(visitor::Column::LastIp.eq(ip))
        .filter(visitor::Column::Id.is_in(among))
        .into_tuple()
        .all(conn)
        .await
}

/// Users of the account among `ids`.
pub async fn users(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<user::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    user::Entity::find()
        .filter(user::Column::AccountId.eq(account_id))
        .filter(user::Column::Id.is_in(ids))
        .all(conn)
        .await
}
