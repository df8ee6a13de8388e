//! Reads and writes of shortcuts.

use super::entities::shortcut;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

pub async fn list(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<shortcut::Model>, DbErr> {
    shortcut::Entity::find()
        .filter(shortcut::Column::AccountId.eq(account_id))
        .order_by_asc(shortcut::Column::Name)
        .all(conn)
        .await
}

pub async fn insert(conn: &impl ConnectionTrait, row: shortcut::Model) -> Result<(), DbErr> {
    shortcut::ActiveModel::from(row)
        .insert(conn)
        .await
        .map(|_| ())
}

pub async fn delete(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = shortcut::Entity::delete_many()
        .filter(shortcut::Column::Id.eq(id))
        .filter(shortcut::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
