//! The `audit_log` table: who exported or erased which visitor's data, and what each retention
//! run deleted; owners read it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub at: DateTimeUtc,
    /// The user who acted; none for the retention job (or once that user is deleted).
    pub actor_user_id: Option<Uuid>,
    /// The user's name when they acted, kept so the log still says who after they leave.
    pub actor_name: Option<String>,
    /// `visitor.exported`, `visitor.erased` or `retention.deleted`.
    pub action: String,
    pub visitor_id: Option<Uuid>,
    /// JSON object of counts (e.g. `{"conversations": 2, "messages": 14}`).
    pub details: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
