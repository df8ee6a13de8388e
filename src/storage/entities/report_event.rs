//! The `report_events` table: append-only facts about conversations that reports add up.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    /// `started`, `first_response`, `resolved`, `rated`.
    pub kind: String,
    pub at: DateTimeUtc,
    pub agent_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub seconds: Option<i64>,
    /// For `resolved`: `bot`, `human` or `none`.
    pub handled_by: Option<String>,
    pub rating: Option<i16>,
    pub previous_rating: Option<i16>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
