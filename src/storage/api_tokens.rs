//! Reads and writes of API tokens (only their hashes are stored).

use super::entities::api_token;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert(
    conn: &impl ConnectionTrait,
    row: api_token::Model,
) -> Result<api_token::Model, DbErr> {
    api_token::ActiveModel::from(row).insert(conn).await
}

pub async fn find_active_by_hash(
    conn: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(conn)
        .await
}

pub async fn list_for_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::AccountId.eq(account_id))
        .order_by_desc(api_token::Column::CreatedAt)
        .all(conn)
        .await
}

/// Revokes a token of this account; answers whether one was revoked.
pub async fn revoke(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::AccountId.eq(account_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How often a token's `last_used_at` is brought up to date, at most.
pub const TOUCH_EVERY_MINUTES: i64 = 1;

/// Records use, at most once a minute per token, so reads do not become a write per request.
pub async fn touch(conn: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    let stale_before = now - chrono::Duration::minutes(TOUCH_EVERY_MINUTES);
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_token::Column::LastUsedAt.is_null())
                .add(api_token::Column::LastUsedAt.lt(stale_before)),
        )
        .exec(conn)
        .await?;
    Ok(())
}
