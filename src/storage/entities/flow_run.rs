//! The `flow_runs` table: one row per flow triggered in a conversation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub flow_id: Uuid,
    /// The flow's name when it triggered (a deleted flow keeps its statistics).
    pub flow_name: String,
    pub conversation_id: Uuid,
    pub visitor_id: Uuid,
    /// The visitor's visit (session) number when it triggered: `once_per_session`.
    pub visit_number: i32,
    /// The page it triggered on: `every_page`.
    pub page_url: String,
    /// The step waiting for the visitor; none once finished.
    pub current_step: Option<String>,
    pub interacted: bool,
    pub finished: bool,
    /// `resolved_by_chatbot`, `escalated_to_human`, or none (no interaction, or undecided).
    pub outcome: Option<String>,
    pub triggered_at: DateTimeUtc,
    pub interacted_at: Option<DateTimeUtc>,
    pub outcome_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
