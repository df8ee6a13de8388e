//! The `attachments` table: one stored file, linked to the one message that carries it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// The visitor whose conversation the file belongs to (the uploader, for a visitor's file).
    pub visitor_id: Uuid,
    /// Set at upload for an agent's file, when sent for a visitor's.
    pub conversation_id: Option<Uuid>,
    /// The message that carries it; none until sent.
    pub message_id: Option<Uuid>,
    /// `visitor` or `agent`.
    pub uploader_kind: String,
    pub uploader_user_id: Option<Uuid>,
    pub name: String,
    /// Worked out from the content, never from the name.
    pub content_type: String,
    pub size: i64,
    /// The object's key in the file store.
    pub storage_key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
