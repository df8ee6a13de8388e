//! Reads and writes of visitors and the pages they visit.

use super::entities::{visitor, visitor_page};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert(
    conn: &impl ConnectionTrait,
    row: visitor::Model,
) -> Result<visitor::Model, DbErr> {
    visitor::ActiveModel::from(row).insert(conn).await
}

pub async fn find_by_token_hash(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    token_hash: &str,
) -> Result<Option<visitor::Model>, DbErr> {
    visitor::Entity::find()
        .filter(visitor::Column::TokenHash.eq(token_hash))
        .filter(visitor::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

/// The visitor of a verified user of the account (`verified_user_id` is unique per account).
pub async fn find_verified(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    user_id: &str,
) -> Result<Option<visitor::Model>, DbErr> {
    visitor::Entity::find()
        .filter(visitor::Column::AccountId.eq(account_id))
        .filter(visitor::Column::VerifiedUserId.eq(user_id))
        .one(conn)
        .await
}

pub async fn find_in_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<visitor::Model>, DbErr> {
    visitor::Entity::find_by_id(id)
        .filter(visitor::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

/// Writes the fields the caller changed in a row it read (`before` -> `after`), and only
/// those, so a concurrent change to another field (another tab's `identify`) is not undone.
pub async fn save_changes(
    conn: &impl ConnectionTrait,
    before: &visitor::Model,
    after: visitor::Model,
) -> Result<visitor::Model, DbErr> {
    let model = super::changed_fields!(
        visitor,
        before,
        after,
        [
            name,
            email,
            phone,
            variables,
            group_name,
            language,
            device,
            visit_count,
            current_url,
            current_title,
            last_seen_at,
            last_ip,
            token_hash,
            verified_user_id
        ]
    );
    if model.is_changed() {
        model.update(conn).await
    } else {
        Ok(after)
    }
}

pub async fn touch(conn: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    // No RETURNING: nobody reads the row back (this runs on every visitor message).
    update_one(conn, id, visitor::Column::LastSeenAt, Expr::value(now)).await
}

/// Sets one column of one visitor row (no RETURNING); `RecordNotUpdated` when there is none.
async fn update_one(
    conn: &impl ConnectionTrait,
    id: Uuid,
    column: visitor::Column,
    value: Expr,
) -> Result<(), DbErr> {
    let result = visitor::Entity::update_many()
        .col_expr(column, value)
        .filter(visitor::Column::Id.eq(id))
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(())
}

/// Takes the visitor's row lock for the rest of the transaction without changing the row
/// (an agent's action that must not count as the visitor being seen). What a visitor does
/// takes the same lock through `touch`, so the two wait for each other.
pub async fn lock(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    update_one(
        conn,
        id,
        visitor::Column::Id,
        Expr::col(visitor::Column::Id),
    )
    .await
}

pub async fn add_page(conn: &impl ConnectionTrait, row: visitor_page::Model) -> Result<(), DbErr> {
    visitor_page::ActiveModel::from(row)
        .insert(conn)
        .await
        .map(|_| ())
}

/// The visitor's most recent pages, newest first.
pub async fn recent_pages(
    conn: &impl ConnectionTrait,
    visitor_id: Uuid,
    limit: u64,
) -> Result<Vec<visitor_page::Model>, DbErr> {
    visitor_page::Entity::find()
        .filter(visitor_page::Column::VisitorId.eq(visitor_id))
        .order_by_desc(visitor_page::Column::At)
        .limit(limit)
        .all(conn)
        .await
}
