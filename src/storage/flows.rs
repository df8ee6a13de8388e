//! Reads and writes of chatbot flows, scoped by account.

use super::entities::flow;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

pub async fn insert(conn: &impl ConnectionTrait, row: flow::Model) -> Result<flow::Model, DbErr> {
    flow::ActiveModel::from(row).insert(conn).await
}

/// The account's flows, highest priority first.
pub async fn list(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<flow::Model>, DbErr> {
    flow::Entity::find()
        .filter(flow::Column::AccountId.eq(account_id))
        .order_by_desc(flow::Column::Priority)
        .order_by_asc(flow::Column::CreatedAt)
        .all(conn)
        .await
}

pub async fn find(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<flow::Model>, DbErr> {
    flow::Entity::find_by_id(id)
        .filter(flow::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

/// Replaces a flow's definition; answers whether the account had it.
pub async fn replace(conn: &impl ConnectionTrait, row: flow::Model) -> Result<bool, DbErr> {
    let result = flow::Entity::update_many()
        .set(flow::ActiveModel {
            name: Set(row.name),
            enabled: Set(row.enabled),
            priority: Set(row.priority),
            definition: Set(row.definition),
            updated_at: Set(row.updated_at),
            ..Default::default()
        })
        .filter(flow::Column::Id.eq(row.id))
        .filter(flow::Column::AccountId.eq(row.account_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn delete(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = flow::Entity::delete_many()
        .filter(flow::Column::Id.eq(id))
        .filter(flow::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
