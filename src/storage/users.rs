//! Reads and writes of users; every read that a request makes is scoped by account.

use super::entities::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

pub async fn insert(conn: &impl ConnectionTrait, row: user::Model) -> Result<user::Model, DbErr> {
    user::ActiveModel::from(row).insert(conn).await
}

pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(conn).await
}

pub async fn find_in_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id)
        .filter(user::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn find_by_email(
    conn: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(conn)
        .await
}

pub async fn list_for_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::AccountId.eq(account_id))
        .order_by_asc(user::Column::CreatedAt)
        .all(conn)
        .await
}

pub async fn count_active_owners(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::AccountId.eq(account_id))
        .filter(user::Column::Role.eq("owner"))
        .filter(user::Column::Active.eq(true))
        .count(conn)
        .await
}

/// Writes only the fields the caller changed in a row it read (`before` -> `after`), so a
/// concurrent change to another field is not undone.
pub async fn save_changes(
    conn: &impl ConnectionTrait,
    before: &user::Model,
    after: user::Model,
) -> Result<user::Model, DbErr> {
    let model = super::changed_fields!(user, before, after, [name, role, active, capacity, status]);
    if model.is_changed() {
        model.update(conn).await
    } else {
        Ok(after)
    }
}

pub async fn set_password(
    conn: &impl ConnectionTrait,
    id: Uuid,
    password_hash: String,
    must_change_password: bool,
) -> Result<(), DbErr> {
    user::ActiveModel {
        id: Set(id),
        password_hash: Set(password_hash),
        must_change_password: Set(must_change_password),
        ..Default::default()
    }
    .update(conn)
    .await
    .map(|_| ())
}
