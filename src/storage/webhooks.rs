//! Webhook endpoints and the delivery outbox, scoped by account; the conditional update that
//! lets one node at a time claim a due delivery.

use super::entities::{event, webhook_delivery, webhook_endpoint};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

pub async fn endpoints(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<webhook_endpoint::Model>, DbErr> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .order_by_asc(webhook_endpoint::Column::CreatedAt)
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(conn)
        .await
}

/// The account's enabled endpoints (index-backed): the one lookup an event costs when nobody
/// listens.
pub async fn enabled_endpoints(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<webhook_endpoint::Model>, DbErr> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(conn)
        .await
}

pub async fn find_endpoint(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<webhook_endpoint::Model>, DbErr> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn insert_endpoint(
    conn: &impl ConnectionTrait,
    row: webhook_endpoint::Model,
) -> Result<webhook_endpoint::Model, DbErr> {
    webhook_endpoint::ActiveModel::from(row).insert(conn).await
}

/// Deletes an endpoint of the account (its deliveries go with it). Answers whether it existed.
pub async fn delete_endpoint(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = webhook_endpoint::Entity::delete_many()
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Adds a delivery to the outbox; one that exists for the same endpoint and event is kept.
pub async fn insert_delivery(
    conn: &impl ConnectionTrait,
    row: webhook_delivery::Model,
) -> Result<(), DbErr> {
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel::from(row))
        .on_conflict_do_nothing_on([
            webhook_delivery::Column::EndpointId,
            webhook_delivery::Column::EventId,
        ])
        .exec(conn)
        .await
        .map(|_| ())
}

/// Pending deliveries whose time has come, oldest first.
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq("pending"))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Claims a due delivery by moving its next attempt to `lease_until`, only if it is still
/// pending and due: of two nodes racing for it, exactly one updates the row. A node that dies
/// while sending leaves it due again when the lease ends (delivery is at least once).
pub async fn claim(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(lease_until),
        )
        .filter(webhook_delivery::Column::Id.eq(id))
        .filter(webhook_delivery::Column::Status.eq("pending"))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What one attempt did to a delivery.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub status: &'static str,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub async fn record_attempt(
    conn: &impl ConnectionTrait,
    id: Uuid,
    attempt: Attempt,
) -> Result<(), DbErr> {
    webhook_delivery::ActiveModel {
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

/// The account's deliveries, newest first, optionally of one endpoint.
pub async fn deliveries(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    endpoint_id: Option<Uuid>,
    limit: u64,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    let mut query =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::AccountId.eq(account_id));
    if let Some(endpoint_id) = endpoint_id {
        query = query.filter(webhook_delivery::Column::EndpointId.eq(endpoint_id));
    }
    query
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

pub async fn events_by_id(
    conn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<event::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    event::Entity::find()
        .filter(event::Column::Id.is_in(ids))
        .all(conn)
        .await
}

pub async fn find_event(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<event::Model>, DbErr> {
    event::Entity::find_by_id(id).one(conn).await
}

pub async fn find_endpoint_by_id(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<webhook_endpoint::Model>, DbErr> {
    webhook_endpoint::Entity::find_by_id(id).one(conn).await
}
