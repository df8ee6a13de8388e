//! Reads of the plan catalogue.

use super::entities::plan;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder};

pub async fn find(conn: &impl ConnectionTrait, code: &str) -> Result<Option<plan::Model>, DbErr> {
    plan::Entity::find_by_id(code.to_owned()).one(conn).await
}

pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<plan::Model>, DbErr> {
    plan::Entity::find()
        .order_by_asc(plan::Column::Position)
        .all(conn)
        .await
}

/// Changes a plan's numbers (the operator's `frontdesk plan set`).
pub async fn update(conn: &impl ConnectionTrait, row: plan::Model) -> Result<(), DbErr> {
    use sea_orm::ActiveModelTrait;
    plan::ActiveModel::from(row)
        .reset_all()
        .update(conn)
        .await
        .map(|_| ())
}
