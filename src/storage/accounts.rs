//! Reads and writes of accounts.

use super::entities::account;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

pub async fn insert(
    conn: &impl ConnectionTrait,
    row: account::Model,
) -> Result<account::Model, DbErr> {
    account::ActiveModel {
        id: Set(row.id),
        name: Set(row.name),
        widget_key: Set(row.widget_key),
        plan_code: Set(row.plan_code),
        billing_anchor: Set(row.billing_anchor),
        allowed_domains: Set(row.allowed_domains),
        created_at: Set(row.created_at),
    }
    .insert(conn)
    .await
}

pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(id).one(conn).await
}

pub async fn find_by_widget_key(
    conn: &impl ConnectionTrait,
    widget_key: &str,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::WidgetKey.eq(widget_key))
        .one(conn)
        .await
}

pub async fn count(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    account::Entity::find().count(conn).await
}

/// Sets the given fields; `None` leaves a field as it is.
pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    name: Option<String>,
    allowed_domains: Option<String>,
) -> Result<(), DbErr> {
    let mut model = account::ActiveModel {
        id: Set(id),
        ..Default::default()
    };
    if let Some(name) = name {
        model.name = Set(name);
    }
    if let Some(domains) = allowed_domains {
        model.allowed_domains = Set(domains);
    }
    if model.is_changed() {
        model.update(conn).await?;
    }
    Ok(())
}
