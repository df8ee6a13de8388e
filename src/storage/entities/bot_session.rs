//! The `bot_sessions` table: a bot handling a conversation, from assignment to its end.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub bot_id: Uuid,
    pub conversation_id: Uuid,
    pub active: bool,
    pub interacted: bool,
    /// `resolved_by_chatbot`, `escalated_to_human`, or none yet.
    pub outcome: Option<String>,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
