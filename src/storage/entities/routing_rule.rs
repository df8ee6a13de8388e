//! The `routing_rules` table. Ordered rules that pick a conversation's team.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "routing_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub position: i32,
    pub name: String,
    /// `all` or `any`.
    pub match_mode: String,
    /// JSON array of `{field, op, value}`.
    pub conditions: String,
    pub team_id: Uuid,
    /// New conversations matching the rule go to this bot first; the team takes its handovers.
    pub bot_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
