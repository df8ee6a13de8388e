//! The `packages` table. Bought packages of chatbot conversations; each renews every period until disabled.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "packages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// Packages bought together.
    pub quantity: i32,
    /// Conversations they add per period (quantity × 100).
    pub conversations: i32,
    pub unit_price_minor: i64,
    pub currency: String,
    pub auto_renew: bool,
    pub active_from: DateTimeUtc,
    /// The end of the last period paid for.
    pub active_until: DateTimeUtc,
    pub expired_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
