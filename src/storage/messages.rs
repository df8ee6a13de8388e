//! Appending messages with their per-conversation `seq`, and reading them back in order.

use super::entities::{conversation, message};
use crate::domain::conversation::AuthorKind;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

/// A message to store; `seq` is assigned by `append`.
pub struct NewMessage {
    pub id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub client_id: String,
    pub author_kind: AuthorKind,
    pub author_user_id: Option<Uuid>,
    pub author_name: Option<String>,
    /// The author's image (an external bot's `avatar`).
    pub author_avatar: Option<String>,
    pub text: String,
    pub internal: bool,
    pub buttons: Option<String>,
    pub flow_id: Option<String>,
    pub step_id: Option<String>,
    pub choice: Option<String>,
    /// A flow's welcome (the bubble above the launcher).
    pub welcome: bool,
    pub created_at: DateTime<Utc>,
    /// The list preview; `None` keeps the previous one (internal notes).
    pub preview: Option<String>,
    /// How this message changes the unread count: +1 (visitor), reset to 0 (agent reply), or keep.
    pub unread: UnreadChange,
    /// JSON array of the files it carries (claimed in the same transaction).
    pub attachments: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnreadChange {
    Increment,
    Reset,
    Keep,
}

/// What `append` did.
pub enum Appended {
    /// Stored with the next `seq`, and the conversation as updated.
    New(message::Model, Box<conversation::Model>),
    /// A message with this `client_id` exists in the conversation: nothing may be written;
    /// the caller rolls the transaction back.
    Duplicate(message::Model),
    /// Another author used this `client_id` in the conversation: a conflict, not a resend.
    Taken,
}

/// Whether an earlier message with the same `client_id` is this author's (a resend).
pub fn same_author(
    existing: &message::Model,
    author_kind: AuthorKind,
    author_user_id: Option<Uuid>,
) -> bool {
    existing.author_kind == author_kind && existing.author_user_id == author_user_id
}

/// Takes the conversation's next `seq` (and its row lock) and updates its list fields.
async fn bump(conn: &impl ConnectionTrait, new: &NewMessage) -> Result<conversation::Model, DbErr> {
    let mut update = conversation::Entity::update_many()
        .col_expr(
            conversation::Column::LastSeq,
            Expr::col(conversation::Column::LastSeq).add(1),
        )
        .col_expr(
            conversation::Column::LastActivityAt,
            Expr::value(new.created_at),
        )
        .filter(conversation::Column::Id.eq(new.conversation_id))
        .filter(conversation::Column::AccountId.eq(new.account_id));
    // The visitor or an agent did something: the conversation shows in the inbox. A bot
    // greeting (or a system note) alone does not start it (DESIGN section 5).
    if matches!(new.author_kind, AuthorKind::Visitor | AuthorKind::Agent) {
        update = update.col_expr(conversation::Column::Started, Expr::value(true));
    }
    if let Some(preview) = &new.preview {
        update = update
            .col_expr(
                conversation::Column::LastMessageAt,
                Expr::value(new.created_at),
            )
            .col_expr(
                conversation::Column::LastMessagePreview,
                Expr::value(preview.clone()),
            );
    }
    update = match new.unread {
        UnreadChange::Increment => update.col_expr(
            conversation::Column::UnreadCount,
            Expr::col(conversation::Column::UnreadCount).add(1),
        ),
        UnreadChange::Reset => update.col_expr(conversation::Column::UnreadCount, Expr::value(0)),
        UnreadChange::Keep => update,
    };
    update
        .exec_with_returning(conn)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| DbErr::RecordNotFound(format!("conversation {}", new.conversation_id)))
}

/// Inserts the message with the `seq` `bump` took.
async fn insert(
    conn: &impl ConnectionTrait,
    new: NewMessage,
    conversation: conversation::Model,
) -> Result<(message::Model, Box<conversation::Model>), DbErr> {
    let row = row_of(new, conversation.last_seq);
    // Every column is known here: no RETURNING row to read back and decode.
    message::Entity::insert(message::ActiveModel::from(row.clone()))
        .exec_without_returning(conn)
        .await?;
    Ok((row, Box::new(conversation)))
}

/// The row of a new message with the `seq` it took.
pub fn row_of(new: NewMessage, seq: i64) -> message::Model {
    message::Model {
        id: new.id,
        account_id: new.account_id,
        conversation_id: new.conversation_id,
        seq,
        client_id: new.client_id,
        author_kind: new.author_kind,
        author_user_id: new.author_user_id,
        author_name: new.author_name,
        author_avatar: new.author_avatar,
        text: new.text,
        internal: new.internal,
        buttons: new.buttons,
        flow_id: new.flow_id,
        step_id: new.step_id,
        choice: new.choice,
        created_at: new.created_at,
        welcome: new.welcome,
        attachments: new.attachments,
    }
}

/// Appends a message inside the caller's transaction. Bumping `last_seq` first takes the
/// conversation's row lock, so concurrent appends get consecutive `seq`s and a concurrent
/// resend of the same `client_id` waits and then finds the first one.
pub async fn append(conn: &impl ConnectionTrait, new: NewMessage) -> Result<Appended, DbErr> {
    let conversation = bump(conn, &new).await?;
    if let Some(existing) = find_by_client_id(conn, new.conversation_id, &new.client_id).await? {
        return Ok(
            if same_author(&existing, new.author_kind, new.author_user_id) {
                Appended::Duplicate(existing)
            } else {
                Appended::Taken
            },
        );
    }
    let (stored, conversation) = insert(conn, new, conversation).await?;
    Ok(Appended::New(stored, conversation))
}

/// `append` for a caller that has already looked for the `client_id` in this conversation in
/// the same transaction, under a lock that keeps a concurrent resend out (the visitor's row):
/// one query less on every visitor message. The unique index still guards.
pub async fn append_unchecked(
    conn: &impl ConnectionTrait,
    new: NewMessage,
) -> Result<(message::Model, Box<conversation::Model>), DbErr> {
    let conversation = bump(conn, &new).await?;
    insert(conn, new, conversation).await
}

pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find_by_id(id).one(conn).await
}

pub async fn find_by_client_id(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    client_id: &str,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::ClientId.eq(client_id))
        .one(conn)
        .await
}

/// Messages with `seq > after_seq`, in order; internal notes only when `with_internal`.
pub async fn after_seq(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    after_seq: i64,
    with_internal: bool,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Seq.gt(after_seq));
    if !with_internal {
        query = query.filter(message::Column::Internal.eq(false));
    }
    query
        .order_by_asc(message::Column::Seq)
        .limit(limit)
        .all(conn)
        .await
}

/// The newest `limit` messages, returned oldest first.
pub async fn latest(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    with_internal: bool,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query =
        message::Entity::find().filter(message::Column::ConversationId.eq(conversation_id));
    if !with_internal {
        query = query.filter(message::Column::Internal.eq(false));
    }
    let mut rows = query
        .order_by_desc(message::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?;
    rows.reverse();
    Ok(rows)
}

/// Whether a person (an agent, not a note) wrote in the conversation.
pub async fn has_agent_reply(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::AuthorKind.eq(AuthorKind::Agent))
        .filter(message::Column::Internal.eq(false))
        .one(conn)
        .await?
        .is_some())
}
