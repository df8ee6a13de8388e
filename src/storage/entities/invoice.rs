//! The `invoices` table. Invoices: one per period (the plan and renewed packages) and one per purchase.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// `period` or `purchase`.
    pub kind: String,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub total_minor: i64,
    pub currency: String,
    /// `<account>/<period start>` on period invoices (unique: a period is billed once).
    pub period_key: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
