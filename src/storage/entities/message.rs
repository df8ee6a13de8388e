//! The `messages` table: one row per message, `seq` per conversation.

use crate::domain::conversation::AuthorKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub client_id: String,
    pub author_kind: AuthorKind,
    pub author_user_id: Option<Uuid>,
    pub author_name: Option<String>,
    /// The image the author showed when writing (an external bot's `avatar`).
    pub author_avatar: Option<String>,
    pub text: String,
    /// An agents-only note, never sent to the visitor.
    pub internal: bool,
    /// JSON array of `{id, label, url?}` for bot steps.
    pub buttons: Option<String>,
    pub flow_id: Option<String>,
    pub step_id: Option<String>,
    pub choice: Option<String>,
    pub created_at: DateTimeUtc,
    /// A flow's welcome, shown as the bubble above the launcher.
    pub welcome: bool,
    /// JSON array of the message's attachments `{id, name, type, size}` (none: no files).
    pub attachments: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
