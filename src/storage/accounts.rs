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
        widget_color: Set(row.widget_color),
        widget_position: Set(row.widget_position),
        widget_title: Set(row.widget_title),
        widget_texts: Set(row.widget_texts),
        pending_plan: Set(row.pending_plan),
        next_renewal_at: Set(row.next_renewal_at),
        business_hours: Set(row.business_hours),
        identity_secret: Set(row.identity_secret),
        require_verified_identity: Set(row.require_verified_identity),
        anonymize_ips: Set(row.anonymize_ips),
        retention_days: Set(row.retention_days),
        max_file_bytes: Set(row.max_file_bytes),
        allowed_types: Set(row.allowed_types),
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

/// Changes to an account row; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub allowed_domains: Option<String>,
    pub widget_color: Option<String>,
    pub widget_position: Option<String>,
    pub widget_title: Option<Option<String>>,
    pub widget_texts: Option<String>,
    /// JSON business hours; `Some(None)` removes them.
    pub business_hours: Option<Option<String>>,
    pub identity_secret: Option<String>,
    pub require_verified_identity: Option<bool>,
    pub anonymize_ips: Option<bool>,
    /// `Some(None)` keeps conversations forever.
    pub retention_days: Option<Option<i32>>,
    pub max_file_bytes: Option<i64>,
    /// JSON array of MIME types.
    pub allowed_types: Option<String>,
}

/// Sets the given fields.
pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    changes: AccountChanges,
) -> Result<(), DbErr> {
    let mut model = account::ActiveModel {
        id: Set(id),
        ..Default::default()
    };
    if let Some(name) = changes.name {
        model.name = Set(name);
    }
    if let Some(domains) = changes.allowed_domains {
        model.allowed_domains = Set(domains);
    }
    if let Some(color) = changes.widget_color {
        model.widget_color = Set(color);
    }
    if let Some(position) = changes.widget_position {
        model.widget_position = Set(position);
    }
    if let Some(title) = changes.widget_title {
        model.widget_title = Set(title);
    }
    if let Some(texts) = changes.widget_texts {
        model.widget_texts = Set(texts);
    }
    if let Some(hours) = changes.business_hours {
        model.business_hours = Set(hours);
    }
    if let Some(secret) = changes.identity_secret {
        model.identity_secret = Set(Some(secret));
    }
    if let Some(required) = changes.require_verified_identity {
        model.require_verified_identity = Set(required);
    }
    if let Some(anonymize) = changes.anonymize_ips {
        model.anonymize_ips = Set(anonymize);
    }
    if let Some(days) = changes.retention_days {
        model.retention_days = Set(days);
    }
    if let Some(bytes) = changes.max_file_bytes {
        model.max_file_bytes = Set(bytes);
    }
    if let Some(types) = changes.allowed_types {
        model.allowed_types = Set(Some(types));
    }
    if model.is_changed() {
        model.update(conn).await?;
    }
    Ok(())
}
