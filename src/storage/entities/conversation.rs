//! The `conversations` table.

use crate::domain::conversation::{ConversationStatus, Handler};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub visitor_id: Uuid,
    pub status: ConversationStatus,
    pub handler: Handler,
    pub assignee_id: Option<Uuid>,
    /// The `seq` of the newest message; the next message gets `last_seq + 1`.
    pub last_seq: i64,
    /// The visitor did something (wrote, clicked); only started conversations are listed.
    pub started: bool,
    /// Left through the offline form.
    pub offline: bool,
    /// Visitor messages since an agent last replied or read.
    pub unread_count: i32,
    pub last_message_at: Option<DateTimeUtc>,
    pub last_message_preview: Option<String>,
    pub last_activity_at: DateTimeUtc,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub created_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// The visitor interacted with a bot here: the "Joined by chatbot" label.
    pub joined_by_chatbot: bool,
    /// JSON object of context variables a `handover` step set (e.g. `{"topic": "sales"}`).
    pub context: String,
    /// `resolved_by_chatbot`, `escalated_to_human`, or none.
    pub outcome: Option<String>,
    /// The team routing chose.
    pub team_id: Option<Uuid>,
    /// Waiting in the team's queue since (no agent with free capacity was online).
    pub queued_at: Option<DateTimeUtc>,
    /// When the conversation first reached people (a handover, or a visitor writing with no
    /// bot); first response times count from here (or from `created_at` when unset).
    pub human_since: Option<DateTimeUtc>,
    /// When a person first replied; set once.
    pub first_response_at: Option<DateTimeUtc>,
    /// When its content was erased (messages, preview, comment, context): by the retention
    /// job, which also keeps it out of every list. The row stays as a reporting fact.
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::visitor::Entity",
        from = "Column::VisitorId",
        to = "super::visitor::Column::Id"
    )]
    Visitor,
}

impl Related<super::visitor::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Visitor.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
