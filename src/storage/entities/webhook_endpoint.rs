//! The `webhook_endpoints` table. URLs an account's events are sent to, each with its secret.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub url: String,
    /// `whsec_…`: signs every body sent to this endpoint.
    pub secret: String,
    pub description: String,
    /// JSON array of event names; `["*"]` is every event.
    pub events: String,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
