//! Attachments' rows: stored at upload, claimed by the one message that sends them, read for
//! downloads, and deleted with their conversation or visitor.

use super::entities::attachment;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert(conn: &impl ConnectionTrait, row: attachment::Model) -> Result<(), DbErr> {
    attachment::Entity::insert(attachment::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn find_in_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<attachment::Model>, DbErr> {
    attachment::Entity::find_by_id(id)
        .filter(attachment::Column::AccountId.eq(account_id))
        .one(conn)
        .await
}

pub async fn find(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<attachment::Model>, DbErr> {
    attachment::Entity::find_by_id(id).one(conn).await
}

/// Who may send an attachment: the visitor who uploaded it, or any agent of the conversation
/// it was uploaded to.
pub enum Sender {
    Visitor(Uuid),
    Agent { conversation_id: Uuid },
}

/// Links the unsent attachments `ids` to `message_id` in `conversation_id`, inside the
/// message's transaction; answers the rows claimed. An id that is unknown, already sent, or
/// not this sender's is left out, so the caller compares the counts and refuses the message.
pub async fn claim(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    ids: &[Uuid],
    sender: &Sender,
    (conversation_id, message_id): (Uuid, Uuid),
) -> Result<Vec<attachment::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut update = attachment::Entity::update_many()
        .col_expr(attachment::Column::MessageId, Expr::value(message_id))
        .col_expr(
            attachment::Column::ConversationId,
            Expr::value(conversation_id),
        )
        .filter(attachment::Column::AccountId.eq(account_id))
        .filter(attachment::Column::Id.is_in(ids.iter().copied()))
        .filter(attachment::Column::MessageId.is_null());
    update = match sender {
        Sender::Visitor(visitor_id) => update
            .filter(attachment::Column::UploaderKind.eq("visitor"))
            .filter(attachment::Column::VisitorId.eq(*visitor_id)),
        Sender::Agent { conversation_id } => update
            .filter(attachment::Column::UploaderKind.eq("agent"))
            .filter(attachment::Column::ConversationId.eq(*conversation_id)),
    };
    let mut claimed = update.exec_with_returning(conn).await?;
    // In the order the sender listed them.
    claimed.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
    Ok(claimed)
}

/// Deletes the attachments of these conversations; answers their storage keys, for the
/// caller to delete from the file store once committed.
pub async fn delete_of_conversations(
    conn: &impl ConnectionTrait,
    conversation_ids: &[Uuid],
) -> Result<Vec<String>, DbErr> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = || conversation_ids.iter().copied();
    let keys: Vec<String> = attachment::Entity::find()
        .select_only()
        .column(attachment::Column::StorageKey)
        .filter(attachment::Column::ConversationId.is_in(ids()))
        .into_tuple()
        .all(conn)
        .await?;
    attachment::Entity::delete_many()
        .filter(attachment::Column::ConversationId.is_in(ids()))
        .exec(conn)
        .await?;
    Ok(keys)
}

/// Deletes every attachment of the visitor (sent or not); answers their storage keys.
pub async fn delete_of_visitor(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    visitor_id: Uuid,
) -> Result<Vec<String>, DbErr> {
    let filter = || {
        Condition::all()
            .add(attachment::Column::AccountId.eq(account_id))
            .add(attachment::Column::VisitorId.eq(visitor_id))
    };
    let keys: Vec<String> = attachment::Entity::find()
        .select_only()
        .column(attachment::Column::StorageKey)
        .filter(filter())
        .into_tuple()
        .all(conn)
        .await?;
    attachment::Entity::delete_many()
        .filter(filter())
        .exec(conn)
        .await?;
    Ok(keys)
}

/// Every attachment of the visitor, for an export.
pub async fn of_visitor(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    visitor_id: Uuid,
) -> Result<Vec<attachment::Model>, DbErr> {
    attachment::Entity::find()
        .filter(attachment::Column::AccountId.eq(account_id))
        .filter(attachment::Column::VisitorId.eq(visitor_id))
        .all(conn)
        .await
}
