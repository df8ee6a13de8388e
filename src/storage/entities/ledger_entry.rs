//! The `billing_ledger` table. The append-only billing ledger: every counted conversation, purchase, renewal, expiry, toggle and plan change.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_ledger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub at: DateTimeUtc,
    pub kind: String,
    pub period_start: DateTimeUtc,
    pub conversation_id: Option<Uuid>,
    pub package_id: Option<Uuid>,
    pub quantity: i32,
    pub note: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
