//! The `blocked_visitors` table: a visitor token, an IP address or both that may not chat.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "blocked_visitors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// The blocked visitor (their token); `None` for a block of an address alone.
    pub visitor_id: Option<Uuid>,
    /// The blocked address as text (`203.0.113.7`, `2001:db8::1`).
    pub ip: Option<String>,
    pub reason: Option<String>,
    /// The user who blocked; `None` once that user is deleted.
    pub blocked_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
