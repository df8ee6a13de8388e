//! Conversations: visitors and agents writing (each message durably stored with its `seq`
//! before it is acknowledged, then fanned out), resolving, reopening, assigning, tagging.

use super::writer::{Typed, WriteFuture, Written};
use super::{
    Actor, Context, ServiceError,
    views::{ConversationSummary, MessageView, ServerFrame, UserRef, WidgetConversation},
};
use crate::{
    domain::{
        FieldError,
        conversation::{AuthorKind, ClientId, ConversationStatus, Handler, MessageText, Tag},
        ids::{AccountId, ConversationId, MessageId, UserId, VisitorId},
    },
    metrics::Transaction,
    realtime::hub::encode,
    storage::{
        self,
        attachments::Sender,
        conversations::ConversationChanges,
        entities::{conversation, message, visitor},
        messages::{Appended, NewMessage, UnreadChange},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

/// Most messages a reconnecting widget or one API page gets at once.
pub const MAX_MESSAGES_PAGE: u64 = 500;

/// A stored message and whether this call stored it (false: a resend of an earlier one).
pub struct Posted {
    pub message: MessageView,
    pub created: bool,
}

pub(crate) fn new_conversation(
    account_id: AccountId,
    visitor_id: VisitorId,
    now: DateTime<Utc>,
    offline: bool,
) -> conversation::Model {
    conversation::Model {
        id: ConversationId::generate().as_uuid(),
        account_id: account_id.as_uuid(),
        visitor_id: visitor_id.as_uuid(),
        status: ConversationStatus::Open,
        handler: Handler::None,
        assignee_id: None,
        last_seq: 0,
        started: true,
        offline,
        unread_count: 0,
        last_message_at: None,
        last_message_preview: None,
        last_activity_at: now,
        rating: None,
        rating_comment: None,
        created_at: now,
        resolved_at: None,
        joined_by_chatbot: false,
        context: "{}".to_owned(),
        outcome: None,
        team_id: None,
        queued_at: None,
        human_since: None,
        first_response_at: None,
        erased_at: None,
    }
}

/// A visitor's message to store in a conversation.
pub(crate) fn visitor_message(
    account_id: AccountId,
    conversation_id: uuid::Uuid,
    client_id: &ClientId,
    text: &MessageText,
    now: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        attachments: None,
        id: MessageId::generate().as_uuid(),
        account_id: account_id.as_uuid(),
        conversation_id,
        client_id: client_id.as_str().to_owned(),
        author_kind: AuthorKind::Visitor,
        author_user_id: None,
        author_name: None,
        author_avatar: None,
        text: text.as_str().to_owned(),
        internal: false,
        buttons: None,
        flow_id: None,
        step_id: None,
        choice: None,
        welcome: false,
        created_at: now,
        preview: Some(text.preview()),
        unread: UnreadChange::Increment,
    }
}

/// An agent's reply (or, with `internal`, a note) as a new message.
fn agent_message(
    (account_id, conversation_id): (AccountId, uuid::Uuid),
    (user_id, name): (UserId, String),
    (client_id, text, internal): (&ClientId, &MessageText, bool),
    now: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        author_kind: AuthorKind::Agent,
        author_user_id: Some(user_id.as_uuid()),
        author_name: Some(name),
        internal,
        preview: (!internal).then(|| text.preview()),
        unread: if internal {
            UnreadChange::Keep
        } else {
            UnreadChange::Reset
        },
        ..visitor_message(account_id, conversation_id, client_id, text, now)
    }
}

/// A system message: an agents-only note when `internal`, else a line the visitor sees.
pub(crate) fn system_message(
    conversation: &conversation::Model,
    text: &str,
    internal: bool,
    flow_id: Option<uuid::Uuid>,
    now: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        attachments: None,
        id: MessageId::generate().as_uuid(),
        account_id: conversation.account_id,
        conversation_id: conversation.id,
        client_id: format!("system-{}", uuid::Uuid::now_v7().simple()),
        author_kind: AuthorKind::System,
        author_user_id: None,
        author_name: None,
        author_avatar: None,
        text: text.to_owned(),
        internal,
        buttons: None,
        flow_id: flow_id.map(|id| id.to_string()),
        step_id: None,
        choice: None,
        welcome: false,
        created_at: now,
        preview: (!internal).then(|| {
            MessageText::parse(text, usize::MAX)
                .map(|text| text.preview())
                .unwrap_or_default()
        }),
        unread: UnreadChange::Keep,
    }
}

async fn begin(ctx: &Context) -> Result<DatabaseTransaction, ServiceError> {
    Ok(crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?)
}

/// Sends a committed message to the agents of the account and, unless internal, to the visitor.
pub(crate) fn publish_message(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    message: &MessageView,
) {
    let to_agents = ServerFrame::AgentMessage {
        conversation_id: message.conversation_id,
        message,
    };
    if let Some(frame) = encode(&to_agents) {
        ctx.hub.to_agents(account_id, frame);
    }
    ctx.metrics.message_published(message.author.kind.as_str());
    if !message.internal
        && let Some(frame) = encode(&ServerFrame::Message(message))
    {
        ctx.hub.to_visitor(visitor_id, frame);
    }
}

/// Sends a conversation's new state to its visitor's widgets and to the agents.
/// It runs after commit: a failure here is logged, never reported as a failed request.
/// (The change is stored: the write it follows answers success even when a read here fails,
/// say under overload, and the widget and the inbox catch up on their next fetch.)
pub(crate) async fn publish_conversation(ctx: &Context, row: &conversation::Model) {
    // Logged inside; a caller that answers the list view uses `publish_and_summarize`.
    let _ = publish_and_summarize(ctx, row.clone()).await;
}

/// `publish_conversation`, answering the list view it sent to the agents (its reads made
/// once for both): for a write that answers the conversation after publishing it.
pub(crate) async fn publish_and_summarize(
    ctx: &Context,
    row: conversation::Model,
) -> Result<ConversationSummary, ServiceError> {
    let account_id = AccountId::from_uuid(row.account_id);
    let visitor = visitor_of(ctx, &row).await;
    match &visitor {
        Ok(visitor) => match widget_view(ctx, &row, visitor.as_ref()).await {
            Ok(widget) => {
                if let Some(frame) = encode(&ServerFrame::Conversation(&widget)) {
                    ctx.hub
                        .to_visitor(VisitorId::from_uuid(row.visitor_id), frame);
                }
            }
            Err(error) => {
                tracing::warn!(?error, conversation_id = %row.id, "cannot publish a conversation change to its widgets")
            }
        },
        Err(error) => {
            tracing::warn!(?error, conversation_id = %row.id, "cannot publish a conversation change to its widgets")
        }
    }
    let conversation_id = row.id;
    let summary = match visitor {
        Ok(visitor) => summary_of(ctx, row, visitor.as_ref()).await,
        Err(error) => Err(error),
    };
    match &summary {
        Ok(summary) => {
            if let Some(frame) = encode(&ServerFrame::ConversationSummary(summary)) {
                ctx.hub.to_agents(account_id, frame);
            }
        }
        Err(error) => {
            tracing::warn!(?error, %conversation_id, "cannot publish a conversation change")
        }
    }
    summary
}

/// The conversation's visitor, read from the read-only pool.
async fn visitor_of(
    ctx: &Context,
    row: &conversation::Model,
) -> Result<Option<visitor::Model>, ServiceError> {
    Ok(storage::visitors::find_in_account(&ctx.reads, row.account_id, row.visitor_id).await?)
}

/// The conversation as its visitor's widget sees it; while it waits in a team's queue, with
/// whether anyone of that team is online.
pub(crate) async fn widget_conversation(
    ctx: &Context,
    row: &conversation::Model,
) -> Result<WidgetConversation, ServiceError> {
    let visitor = visitor_of(ctx, row).await?;
    widget_view(ctx, row, visitor.as_ref()).await
}

/// `widget_conversation` with the visitor read already.
async fn widget_view(
    ctx: &Context,
    row: &conversation::Model,
    visitor: Option<&visitor::Model>,
) -> Result<WidgetConversation, ServiceError> {
    let mut view = WidgetConversation::from(row);
    if view.waiting
        && let Some(team) = row.team_id
    {
        view.team_online = Some(super::routing::team_online(ctx, row.account_id, team).await?);
    }
    view.visitor_email = visitor.and_then(|visitor| visitor.email.clone());
    Ok(view)
}

/// The list view of one conversation.
pub async fn summarize(
    ctx: &Context,
    row: conversation::Model,
) -> Result<ConversationSummary, ServiceError> {
    let visitor = visitor_of(ctx, &row).await?;
    summary_of(ctx, row, visitor.as_ref()).await
}

/// `summarize` with the visitor read already.
async fn summary_of(
    ctx: &Context,
    row: conversation::Model,
    visitor: Option<&visitor::Model>,
) -> Result<ConversationSummary, ServiceError> {
    let assignee = match row.assignee_id {
        Some(id) => storage::users::find(&ctx.reads, id)
            .await?
            .map(|user| UserRef {
                id: UserId::from_uuid(user.id),
                name: user.name,
            }),
        None => None,
    };
    let tags = storage::conversations::tags(&ctx.reads, row.id).await?;
    Ok(ConversationSummary::new(row, visitor, assignee, tags))
}

pub(crate) fn client_id_taken() -> ServiceError {
    ServiceError::invalid(FieldError::new(
        "client_id",
        "is already used by another author's message in this conversation; pick a new one",
    ))
}

/// Answers a resend with the original message, or refuses a client_id another author used.
pub(crate) fn resend_of(
    existing: message::Model,
    author_kind: AuthorKind,
    author_user_id: Option<uuid::Uuid>,
) -> Result<Posted, ServiceError> {
    if storage::messages::same_author(&existing, author_kind, author_user_id) {
        Ok(Posted {
            message: existing.into(),
            created: false,
        })
    } else {
        Err(client_id_taken())
    }
}

/// What follows a stored message inside its transaction: the `started` reporting event when
/// this message started the conversation (`started_before` is the flag as it was under the
/// conversation's lock), and the webhook events.
pub(crate) async fn after_stored(
    txn: &DatabaseTransaction,
    started_before: bool,
    stored: &message::Model,
    conversation: &conversation::Model,
) -> Result<(), ServiceError> {
    after_stored_with_files(txn, started_before, stored, conversation, None).await
}

/// `after_stored` for a message that may carry files (`links` signs their webhook links).
pub(crate) async fn after_stored_with_files(
    txn: &DatabaseTransaction,
    started_before: bool,
    stored: &message::Model,
    conversation: &conversation::Model,
    links: Option<&super::attachments::FileLinks>,
) -> Result<(), ServiceError> {
    if !started_before && conversation.started {
        super::reports::started(txn, conversation, stored.created_at).await?;
    }
    super::webhooks::message_stored_with_files(txn, started_before, stored, conversation, links)
        .await
}

/// Two sockets resent the same message at once: the loser's insert hit the unique index.
fn concurrent_resend(error: sea_orm::DbErr) -> ServiceError {
    if storage::is_unique_violation(&error) {
        ServiceError::Conflict(CONCURRENT_RESEND.to_owned())
    } else {
        error.into()
    }
}

const CONCURRENT_RESEND: &str = "a concurrent resend of this client_id; retry";

/// What a message write did, decided inside its transaction and acted on after commit.
pub(crate) enum Stored<T> {
    New(T),
    /// A resend: the original message, answered as such (the write was rolled back).
    Resend(Box<message::Model>),
    /// The client_id belongs to another author's message.
    Taken,
}

impl<T> Stored<T> {
    /// Rolls back anything but a new message.
    pub(crate) fn written(self) -> Written<Self> {
        match self {
            Self::New(_) => Written::Commit(self),
            _ => Written::Rollback(self),
        }
    }
}

/// Everything a new visitor message changed, to publish after commit.
struct VisitorWrite {
    stored: message::Model,
    /// The conversation as the message left it; `None` from the typed form, which only
    /// takes it when nothing of it but the message is news.
    updated: Option<conversation::Model>,
    routed: Option<conversation::Model>,
    started: bool,
    effects: super::chatbot::Effects,
}

/// Whether the account has an enabled webhook endpoint, as read once per writer batch.
struct HasEndpoints(bool);

/// Whether the account has a team, as read once per writer batch.
struct HasTeams(bool);

/// The typed forms' last check before they write: the account has no enabled webhook
/// endpoint (read once per batch) and the `client_id` is not in the conversation yet.
fn typed_may_append(
    conn: &rusqlite::Connection,
    account_id: AccountId,
    conversation_id: uuid::Uuid,
    client_id: &ClientId,
) -> Result<bool, ServiceError> {
    let endpoints = super::writer::read_once_per_batch_now(account_id.as_uuid(), || {
        storage::typed::has_enabled_endpoints(conn, account_id.as_uuid()).map(HasEndpoints)
    })?;
    Ok(!endpoints.0 && !storage::typed::has_client_id(conn, conversation_id, client_id.as_str())?)
}

/// Appends `new` by typed statements: takes the `seq` after `last_seq` (as the head read it)
/// and moves the list fields, then inserts the row; `None`, having written nothing, when the
/// conversation is not the account's.
fn typed_append(
    conn: &rusqlite::Connection,
    new: NewMessage,
    last_seq: i64,
    unread: storage::typed::Unread,
) -> Result<Option<message::Model>, ServiceError> {
    let preview = new.preview.as_deref().unwrap_or_default();
    let ids = (new.conversation_id, new.account_id);
    let seq = last_seq + 1;
    if !storage::typed::bump_list_fields(conn, ids, seq, new.created_at, (preview, unread))? {
        return Ok(None);
    }
    let stored = storage::messages::row_of(new, seq);
    storage::typed::insert_message(conn, &stored)?;
    Ok(Some(stored))
}

/// A visitor's message as typed statements (`storage::typed`), for the common case: the
/// visitor's latest conversation is open and started, has reached people, has a team or an
/// agent or belongs to an account without teams (routing has nothing to do), no bot has it,
/// and the account has no webhook endpoint. Then the message changes
/// only the conversation's list fields, and there is nothing to route, report, email, tell a
/// bot or queue for a webhook: what `store_visitor_message` would do, in four statements (the
/// head is read first, so a message that is not the common case writes nothing here), except
/// that the visitor's `last_seen_at` moves only when a minute old (`typed::touch_visitor`).
/// Anything else answers `None`, and `store_visitor_message` runs.
fn store_visitor_message_typed(
    conn: &rusqlite::Connection,
    (account_id, visitor_id): (AccountId, VisitorId),
    (client_id, text): (&ClientId, &MessageText),
    now: DateTime<Utc>,
) -> Result<Option<Stored<VisitorWrite>>, ServiceError> {
    use storage::typed;
    // Decide before writing anything: a message that is not the common case costs one read
    // here, and the general path does the rest. (The batch holds SQLite's write lock, so the
    // head cannot change between this read and the writes below.)
    let Some(head) = typed::latest_of_visitor(conn, visitor_id.as_uuid())? else {
        return Ok(None);
    };
    let common = head.account_id == account_id.as_uuid()
        && head.status == ConversationStatus::Open
        && head.started
        && head.handler != Handler::Bot
        && head.with_people;
    if !common {
        return Ok(None);
    }
    if !head.routed {
        let teams = super::writer::read_once_per_batch_now(account_id.as_uuid(), || {
            typed::has_teams(conn, account_id.as_uuid()).map(HasTeams)
        })?;
        if teams.0 {
            return Ok(None);
        }
    }
    // A resend: the general path finds the original.
    if !typed_may_append(conn, account_id, head.id, client_id)? {
        return Ok(None);
    }
    let new = visitor_message(account_id, head.id, client_id, text, now);
    let Some(stored) = typed_append(conn, new, head.last_seq, typed::Unread::Increment)? else {
        return Ok(None);
    };
    // The conversation is the visitor's (its head was found by them): they exist.
    typed::touch_visitor(conn, visitor_id.as_uuid(), now)?;
    Ok(Some(Stored::New(VisitorWrite {
        stored,
        updated: None,
        routed: None,
        started: false,
        effects: super::chatbot::Effects::default(),
    })))
}

/// `store_visitor_message_typed` on PostgreSQL: the same common case in one statement
/// (`typed_pg::append_visitor_message`), which also needs the visitor's `last_seen_at` to be
/// under a minute old (else the general path moves it).
async fn store_visitor_message_pg(
    db: DatabaseConnection,
    (account_id, visitor_id): (AccountId, VisitorId),
    (client_id, text): (ClientId, MessageText),
    now: DateTime<Utc>,
) -> Result<Option<Stored<VisitorWrite>>, ServiceError> {
    // The statement finds the conversation: the row takes its id from what it answers.
    let new = visitor_message(account_id, uuid::Uuid::nil(), &client_id, &text, now);
    let preview = new.preview.clone().unwrap_or_default();
    let row = storage::messages::row_of(new, 0);
    let seen_after = now - storage::typed::SEEN_GRAIN;
    let appended = storage::typed_pg::append_visitor_message(
        &db,
        visitor_id.as_uuid(),
        &row,
        &preview,
        seen_after,
    )
    .await?;
    Ok(appended.map(|appended| {
        Stored::New(VisitorWrite {
            stored: message::Model {
                conversation_id: appended.conversation_id,
                seq: appended.seq,
                ..row
            },
            updated: None,
            routed: None,
            started: false,
            effects: super::chatbot::Effects::default(),
        })
    }))
}

/// Stores a visitor's message inside `txn` (see `post_visitor_message`).
async fn store_visitor_message(
    ctx: &Context,
    txn: &DatabaseTransaction,
    (account_id, visitor_id): (AccountId, VisitorId),
    (client_id, text, attachment_ids): (&ClientId, &MessageText, &[uuid::Uuid]),
    now: DateTime<Utc>,
    look_for_resend: bool,
) -> Result<Stored<VisitorWrite>, ServiceError> {
    // Touching the visitor row first takes its lock: two tabs writing at once cannot both
    // start a new conversation.
    storage::visitors::touch(txn, visitor_id.as_uuid(), now).await?;
    let latest = storage::conversations::latest_of_visitor(txn, visitor_id.as_uuid()).await?;
    // A resend after the conversation was resolved must find the original, not start anew.
    // Into an open conversation the unique index on (conversation, client_id) finds a resend
    // by itself: the insert fails, the write is undone, and the retry looks (one query less
    // on every message that is not a resend).
    if let Some(current) = &latest
        && (look_for_resend || current.status != ConversationStatus::Open)
        && let Some(existing) =
            storage::messages::find_by_client_id(txn, current.id, client_id.as_str()).await?
    {
        return Ok(Stored::Resend(Box::new(existing)));
    }
    let (conversation, started) = match latest {
        Some(current) if current.status == ConversationStatus::Open => (current, false),
        _ => (
            storage::conversations::insert(
                txn,
                new_conversation(account_id, visitor_id, now, false),
            )
            .await?,
            true,
        ),
    };
    let mut message = visitor_message(account_id, conversation.id, client_id, text, now);
    let claimed = match claim_or_resend(
        txn,
        (
            account_id,
            attachment_ids,
            Sender::Visitor(visitor_id.as_uuid()),
        ),
        (conversation.id, message.id),
        client_id,
    )
    .await?
    {
        Ok(claimed) => claimed,
        Err(existing) => return Ok(Stored::Resend(existing)),
    };
    with_attachments(&mut message, claimed.as_deref(), text);
    // The client_id was looked for above, under the visitor's row lock.
    let (stored, updated) = storage::messages::append_unchecked(txn, message)
        .await
        .map_err(concurrent_resend)?;
    let started_before = conversation.started && !started;
    after_stored_with_files(
        txn,
        started_before,
        &stored,
        &updated,
        Some(&ctx.file_links),
    )
    .await?;
    // The bot hears it inside the same transaction: a `collect` answer, or typing instead of
    // clicking (a handover).
    let effects =
        super::chatbot::after_visitor_text(ctx, txn, &updated, text.as_str(), now).await?;
    // The bot may have changed the conversation just now: a routing rule's bot took it, or
    // took it and, losing the last chatbot conversation to a concurrent one, handed it to
    // people and so routed it already. Decide on the row as it is now, or it would be routed
    // (and queued) a second time.
    let updated = match &effects.conversation {
        Some(row) if row.id == updated.id => Box::new(row.clone()),
        _ => updated,
    };
    if updated.handler != Handler::Bot {
        super::reports::reached_people(txn, &updated, now).await?;
    }
    // A conversation that reaches people (written to first, or handed over by the bot just
    // now) is routed to a team and an agent; one that has a team or an agent already is not
    // (skip the lookups on every later message).
    let routed = if updated.team_id.is_some() || updated.assignee_id.is_some() {
        None
    } else {
        super::routing::route_loaded(ctx, txn, (*updated).clone(), now).await?
    };
    super::email::visitor_wrote(ctx, txn, started_before, &conversation, text.as_str(), now)
        .await?;
    Ok(Stored::New(VisitorWrite {
        stored,
        updated: Some(*updated),
        routed,
        started,
        effects,
    }))
}

/// The message's text: blank only when it carries files.
fn text(ctx: &Context, raw: &str, with_files: bool) -> Result<MessageText, ServiceError> {
    let max = ctx.settings.max_message_chars;
    let parsed = if with_files {
        MessageText::parse_beside_files(raw, max)
    } else {
        MessageText::parse(raw, max)
    };
    parsed.map_err(|problem| ServiceError::invalid(MessageText::field_error("text", problem, max)))
}

/// Claims the files a message names (see `attachments::claim`). When they cannot be claimed
/// and a message with this `client_id` exists, that message took them: a resend, answered
/// with it (`Err`).
async fn claim_or_resend(
    txn: &DatabaseTransaction,
    (account_id, ids, sender): (AccountId, &[uuid::Uuid], Sender),
    (conversation_id, message_id): (uuid::Uuid, uuid::Uuid),
    client_id: &ClientId,
) -> Result<
    Result<Option<Vec<super::attachments::AttachmentView>>, Box<message::Model>>,
    ServiceError,
> {
    match super::attachments::claim(txn, account_id, ids, sender, (conversation_id, message_id))
        .await
    {
        Ok(claimed) => Ok(Ok(claimed)),
        Err(refused) => {
            match storage::messages::find_by_client_id(txn, conversation_id, client_id.as_str())
                .await?
            {
                Some(existing) => Ok(Err(Box::new(existing))),
                None => Err(refused),
            }
        }
    }
}

/// Puts the claimed files on the message row; a message that is only files gets their names
/// as its list preview.
fn with_attachments(
    message: &mut NewMessage,
    claimed: Option<&[super::attachments::AttachmentView]>,
    text: &MessageText,
) {
    let Some(claimed) = claimed else {
        return;
    };
    message.attachments = Some(super::attachments::to_stored(claimed));
    if text.as_str().trim().is_empty() && message.preview.is_some() {
        message.preview = Some(super::attachments::preview(claimed));
    }
}

/// The general form of a visitor's message write (`store_visitor_message`), for the writer.
fn visitor_write(
    ctx: Context,
    ids: (AccountId, VisitorId),
    (client_id, text, attachments): (ClientId, MessageText, Vec<uuid::Uuid>),
    now: DateTime<Utc>,
    look_for_resend: bool,
) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, Stored<VisitorWrite>> + Send + 'static
{
    move |txn| {
        Box::pin(async move {
            store_visitor_message(
                &ctx,
                txn,
                ids,
                (&client_id, &text, &attachments),
                now,
                look_for_resend,
            )
            .await
            .map(Stored::written)
        })
    }
}

/// A visitor writes. The message goes to the visitor's open conversation, or starts a new one
/// when there is none or the last one is resolved. Acknowledge only after this returns.
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn post_visitor_message(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    client_id: &str,
    raw_text: &str,
    attachments: &[uuid::Uuid],
) -> Result<Posted, ServiceError> {
    let client_id = ClientId::parse("client_id", client_id).map_err(ServiceError::invalid)?;
    let attachments = super::attachments::parse_ids(attachments)?;
    let text = text(ctx, raw_text, !attachments.is_empty())?;
    let now = ctx.clock.now();
    let mut attempts = 0;
    let timer = ctx.metrics.transaction(Transaction::VisitorMessage);
    let write = loop {
        attempts += 1;
        let (task_ctx, client_id, text) = (ctx.clone(), client_id.clone(), text.clone());
        let attachments = attachments.clone();
        // The typed form covers a first try of a message without files.
        let typed =
            (attempts == 1 && attachments.is_empty()).then(|| (client_id.clone(), text.clone()));
        let write = visitor_write(
            task_ctx,
            (account_id, visitor_id),
            (client_id, text, attachments),
            now,
            attempts > 1,
        );
        let result = match typed {
            Some((client_id, text)) => {
                let (pg_client_id, pg_text) = (client_id.clone(), text.clone());
                let typed = Typed {
                    sqlite: Box::new(move |conn: &rusqlite::Connection| {
                        store_visitor_message_typed(
                            conn,
                            (account_id, visitor_id),
                            (&client_id, &text),
                            now,
                        )
                    }),
                    postgres: Box::new(move |db| {
                        Box::pin(store_visitor_message_pg(
                            db,
                            (account_id, visitor_id),
                            (pg_client_id, pg_text),
                            now,
                        ))
                    }),
                };
                ctx.writer.write_typed(typed, write).await
            }
            None => ctx.writer.write(write).await,
        };
        match result {
            // A resend (or the loser of two concurrent resends) retries and finds the original.
            Err(ServiceError::Conflict(reason)) if reason == CONCURRENT_RESEND && attempts < 3 => {
                continue;
            }
            other => break other?,
        }
    };
    let write = match write {
        Stored::New(write) => write,
        Stored::Resend(existing) => return resend_of(*existing, AuthorKind::Visitor, None),
        Stored::Taken => return Err(client_id_taken()),
    };
    timer.committed();
    let VisitorWrite {
        stored,
        updated,
        routed,
        started,
        effects,
    } = write;
    // The rare steps' futures are boxed: inline they would sit in every message's state.
    if let Some(routed) = &routed
        && !started
    {
        Box::pin(publish_conversation(ctx, routed)).await;
    }
    let updated = routed.or(updated);
    let view = MessageView::from(stored);
    publish_message(ctx, account_id, visitor_id, &view);
    if started && let Some(updated) = &updated {
        Box::pin(publish_conversation(ctx, updated)).await;
    }
    effects.publish(ctx, account_id, visitor_id).await;
    Ok(Posted {
        message: view,
        created: true,
    })
}

/// The general form of an agent's message (`store_agent_message`) as a writer closure.
fn agent_write(
    ctx: Context,
    author: (AccountId, UserId, String),
    conversation_id: ConversationId,
    (client_id, text, internal): (ClientId, MessageText, bool),
    attachments: Vec<uuid::Uuid>,
    now: DateTime<Utc>,
) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, Stored<AgentWrite>> + Send + 'static
{
    move |txn| {
        Box::pin(async move {
            store_agent_message(
                &ctx,
                txn,
                author,
                conversation_id,
                (&client_id, &text, internal),
                &attachments,
                now,
            )
            .await
            .map(Stored::written)
        })
    }
}

/// An agent replies (or, with `internal`, writes a note only agents see). A reply to a
/// resolved conversation reopens it; the first reply assigns an unassigned conversation to
/// its writer and hands it to people.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id))]
pub async fn post_agent_message(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
    client_id: &str,
    raw_text: &str,
    internal: bool,
    attachments: &[uuid::Uuid],
) -> Result<Posted, ServiceError> {
    let client_id = ClientId::parse("client_id", client_id).map_err(ServiceError::invalid)?;
    let attachments = super::attachments::parse_ids(attachments)?;
    let text = text(ctx, raw_text, !attachments.is_empty())?;
    let now = ctx.clock.now();
    let (account_id, user_id, name) = (actor.account_id, actor.user_id, actor.name.clone());
    let timer = ctx.metrics.transaction(Transaction::AgentMessage);
    // The typed form covers a reply (not a note) without files.
    let typed_applies = !internal && attachments.is_empty();
    let general = agent_write(
        ctx.clone(),
        (account_id, user_id, name.clone()),
        conversation_id,
        (client_id.clone(), text.clone(), internal),
        attachments,
        now,
    );
    let write = if !typed_applies {
        ctx.writer.write(general).await?
    } else {
        let (hub, pg_hub) = (ctx.hub.clone(), ctx.hub.clone());
        let (pg_client_id, pg_text, pg_name) = (client_id.clone(), text.clone(), name.clone());
        let typed = Typed {
            sqlite: Box::new(move |conn: &rusqlite::Connection| {
                store_agent_reply_typed(
                    conn,
                    &hub,
                    (account_id, conversation_id),
                    (user_id, name),
                    (&client_id, &text),
                    now,
                )
            }),
            postgres: Box::new(move |db| {
                Box::pin(store_agent_reply_pg(
                    db,
                    pg_hub,
                    (account_id, conversation_id),
                    (user_id, pg_name),
                    (pg_client_id, pg_text),
                    now,
                ))
            }),
        };
        ctx.writer.write_typed(typed, general).await?
    };
    let AgentWrite {
        stored,
        visitor_id,
        changed,
        emailed,
    } = match write {
        Stored::New(write) => write,
        Stored::Resend(existing) => {
            return Ok(Posted {
                created: false,
                message: (*existing).into(),
            });
        }
        Stored::Taken => return Err(client_id_taken()),
    };
    timer.committed();
    let view = MessageView::from(stored);
    publish_message(ctx, actor.account_id, visitor_id, &view);
    if let Some(note) = emailed {
        publish_message(ctx, actor.account_id, visitor_id, &MessageView::from(note));
    }
    let updated = match changed {
        Changed::Nothing => None,
        Changed::To(updated) => Some(*updated),
        Changed::Reread => {
            let row = storage::conversations::find_in_account(
                &ctx.reads,
                account_id.as_uuid(),
                conversation_id.as_uuid(),
            )
            .await;
            // Committed already: a failed read costs the live update, not the reply.
            row.unwrap_or_else(|error| {
                tracing::warn!(?error, %conversation_id, "cannot read a conversation to publish");
                None
            })
        }
    };
    if let Some(updated) = updated {
        publish_conversation(ctx, &updated).await;
    }
    Ok(Posted {
        created: true,
        message: view,
    })
}

/// An agent's reply as typed statements (`storage::typed`), for the common case: the
/// conversation is open, started, no bot's, no flow run or bot session is in it, its visitor
/// is connected, and the account has no webhook endpoint. Then the reply changes only the
/// conversation's list fields and, the first time, its handler (people), its assignee (when
/// nobody has it) and its first response (recorded, with its reporting fact); there is
/// nothing to reopen, escalate, email or queue for a webhook: exactly what
/// `store_agent_message` would do, in two to four writes after two reads (the conversation,
/// the `client_id`). Anything else (a resend among it) answers `None` having written
/// nothing, and `store_agent_message` runs.
fn store_agent_reply_typed(
    conn: &rusqlite::Connection,
    hub: &crate::realtime::hub::Hub,
    (account_id, conversation_id): (AccountId, ConversationId),
    (user_id, name): (UserId, String),
    (client_id, text): (&ClientId, &MessageText),
    now: DateTime<Utc>,
) -> Result<Option<Stored<AgentWrite>>, ServiceError> {
    use storage::typed;
    let ids = (conversation_id.as_uuid(), account_id.as_uuid());
    let Some(head) = typed::reply_head(conn, ids)? else {
        return Ok(None);
    };
    let visitor_id = VisitorId::from_uuid(head.visitor_id);
    // A visitor who is not connected gets the reply by email too (the general path).
    if !head.plain || !hub.is_visitor_online(account_id, visitor_id) {
        return Ok(None);
    }
    // A resend, or another author's client_id: the general path tells which.
    if !typed_may_append(conn, account_id, conversation_id.as_uuid(), client_id)? {
        return Ok(None);
    }
    let new = agent_message(
        (account_id, conversation_id.as_uuid()),
        (user_id, name),
        (client_id, text, false),
        now,
    );
    let Some(stored) = typed_append(conn, new, head.last_seq, typed::Unread::Reset)? else {
        return Ok(None);
    };
    // The state the reply changes, as `store_agent_message` changes it.
    let handed_over = !head.human || head.unassigned;
    if handed_over || head.unanswered_since.is_some() {
        typed::answer(conn, ids.0, user_id.as_uuid(), now)?;
    }
    if let Some(since) = head.unanswered_since {
        let of = (ids.1, ids.0, head.team_id);
        let fact = super::reports::first_response(of, since, user_id.as_uuid(), now);
        typed::insert_report_event(conn, &fact)?;
    }
    Ok(Some(Stored::New(AgentWrite {
        stored,
        visitor_id,
        changed: if handed_over {
            Changed::Reread
        } else {
            Changed::Nothing
        },
        emailed: None,
    })))
}

/// `store_agent_reply_typed` on PostgreSQL: the conversation is read first (as there), then
/// one statement (`typed_pg::append_agent_reply`) checks again that it is the common case and
/// writes the reply, the handover and assignment, and a first response with its fact.
async fn store_agent_reply_pg(
    db: DatabaseConnection,
    hub: std::sync::Arc<crate::realtime::hub::Hub>,
    (account_id, conversation_id): (AccountId, ConversationId),
    (user_id, name): (UserId, String),
    (client_id, text): (ClientId, MessageText),
    now: DateTime<Utc>,
) -> Result<Option<Stored<AgentWrite>>, ServiceError> {
    use storage::typed_pg;
    let ids = (conversation_id.as_uuid(), account_id.as_uuid());
    let Some(head) = typed_pg::reply_head(&db, ids).await? else {
        return Ok(None);
    };
    let visitor_id = VisitorId::from_uuid(head.visitor_id);
    // A visitor who is not connected gets the reply by email too (the general path).
    if !head.plain || !hub.is_visitor_online(account_id, visitor_id) {
        return Ok(None);
    }
    let new = agent_message(
        (account_id, conversation_id.as_uuid()),
        (user_id, name),
        (&client_id, &text, false),
        now,
    );
    let preview = new.preview.clone().unwrap_or_default();
    let row = storage::messages::row_of(new, 0);
    let fact = head.unanswered_since.map(|since| {
        let of = (ids.1, ids.0, head.team_id);
        super::reports::first_response(of, since, user_id.as_uuid(), now)
    });
    let agent = (user_id.as_uuid(), &head);
    let appended =
        typed_pg::append_agent_reply(&db, (&row, &preview), agent, fact.as_ref()).await?;
    let handed_over = !head.human || head.unassigned;
    Ok(appended.map(|appended| {
        Stored::New(AgentWrite {
            stored: message::Model {
                seq: appended.seq,
                ..row
            },
            visitor_id,
            changed: if handed_over {
                Changed::Reread
            } else {
                Changed::Nothing
            },
            emailed: None,
        })
    }))
}

/// Whether an agent's message changed the conversation's state, for publishing after commit.
enum Changed {
    Nothing,
    /// Reopened, handed to people, assigned, bot escalated: the row as the message left it.
    To(Box<conversation::Model>),
    /// Handed to people or assigned by the typed form, which reads no row: the row is read
    /// after commit.
    Reread,
}

/// What a new agent message stored, to publish after commit.
struct AgentWrite {
    stored: message::Model,
    visitor_id: VisitorId,
    changed: Changed,
    /// The note saying the reply was emailed to a visitor who is not connected.
    emailed: Option<message::Model>,
}

/// Stores an agent's reply or note inside `txn` (see `post_agent_message`); with whether the
/// conversation's state changed (reopened, handed to people, assigned, bot escalated).
async fn store_agent_message(
    ctx: &Context,
    txn: &DatabaseTransaction,
    (account_id, user_id, name): (AccountId, UserId, String),
    conversation_id: ConversationId,
    (client_id, text, internal): (&ClientId, &MessageText, bool),
    attachment_ids: &[uuid::Uuid],
    now: DateTime<Utc>,
) -> Result<Stored<AgentWrite>, ServiceError> {
    let before = storage::conversations::find_in_account(
        txn,
        account_id.as_uuid(),
        conversation_id.as_uuid(),
    )
    .await?
    .ok_or(ServiceError::NotFound)?;
    let mut changed = false;
    // Under the conversation's row lock (taken by the reply's update) when there is one.
    let mut started_before = before.started;
    if !internal && before.status != ConversationStatus::Open {
        // The reply reopens it: only the visitor's latest conversation may be open.
        only_if_latest(txn, &before).await?;
    }
    if !internal {
        // A reply hands the conversation to people, reopens it, and assigns it to its writer
        // when nobody has it. Updating first also takes the conversation's row lock.
        let after = storage::conversations::update(
            txn,
            account_id.as_uuid(),
            before.id,
            ConversationChanges {
                status: Some(ConversationStatus::Open.as_str()),
                handler: Some(Handler::Human.as_str()),
                resolved_at: Some(None),
                assign_if_unassigned: Some(user_id.as_uuid()),
                ..ConversationChanges::default()
            },
        )
        .await?
        .ok_or(ServiceError::NotFound)?;
        changed = after.status != before.status
            || after.handler != before.handler
            || after.assignee_id != before.assignee_id;
        started_before = after.started;
        super::reports::replied(txn, &after, user_id.as_uuid(), now).await?;
        // A person wrote: a bot still running here is escalated to a human (rule 5).
        if super::chatbot::after_agent_reply(txn, &after, now)
            .await?
            .is_some()
        {
            changed = true;
        }
    }
    let mut message = agent_message(
        (account_id, before.id),
        (user_id, name),
        (client_id, text, internal),
        now,
    );
    let sender = Sender::Agent {
        conversation_id: before.id,
    };
    let claimed = match claim_or_resend(
        txn,
        (account_id, attachment_ids, sender),
        (before.id, message.id),
        client_id,
    )
    .await?
    {
        Ok(claimed) => claimed,
        Err(existing)
            if storage::messages::same_author(
                &existing,
                AuthorKind::Agent,
                Some(user_id.as_uuid()),
            ) =>
        {
            return Ok(Stored::Resend(existing));
        }
        Err(_) => return Ok(Stored::Taken),
    };
    with_attachments(&mut message, claimed.as_deref(), text);
    let appended = storage::messages::append(txn, message)
        .await
        .map_err(concurrent_resend)?;
    match appended {
        Appended::New(stored, updated) => {
            after_stored_with_files(
                txn,
                started_before,
                &stored,
                &updated,
                Some(&ctx.file_links),
            )
            .await?;
            let emailed = if internal {
                None
            } else {
                emailed_note(ctx, txn, &updated, &stored, now).await?
            };
            Ok(Stored::New(AgentWrite {
                stored,
                visitor_id: VisitorId::from_uuid(updated.visitor_id),
                changed: if changed {
                    Changed::To(updated)
                } else {
                    Changed::Nothing
                },
                emailed,
            }))
        }
        Appended::Duplicate(existing) => Ok(Stored::Resend(Box::new(existing))),
        Appended::Taken => Ok(Stored::Taken),
    }
}

/// A reply to a visitor who is not connected goes to their email too (DESIGN: the offline
/// form promises a reply by email); an internal note under the reply tells agents so.
async fn emailed_note(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    reply: &message::Model,
    now: DateTime<Utc>,
) -> Result<Option<message::Model>, ServiceError> {
    let agent = reply.author_name.as_deref().unwrap_or("Our team");
    let Some(to) =
        super::email::reply_to_absent_visitor(ctx, txn, conversation, agent, now).await?
    else {
        return Ok(None);
    };
    let text = format!("Emailed to {to}: the visitor is not connected to the chat.");
    match storage::messages::append(txn, system_message(conversation, &text, true, None, now))
        .await?
    {
        Appended::New(note, _) => Ok(Some(note)),
        Appended::Duplicate(_) | Appended::Taken => Err(ServiceError::Unexpected(anyhow::anyhow!(
            "a fresh system client_id was taken"
        ))),
    }
}

async fn load(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
) -> Result<conversation::Model, ServiceError> {
    storage::conversations::find_in_account(
        &ctx.db,
        actor.account_id.as_uuid(),
        conversation_id.as_uuid(),
    )
    .await?
    .ok_or(ServiceError::NotFound)
}

/// Applies changes to a conversation of the actor's account, then tells its widgets and agents.
async fn change_and_publish(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
    changes: ConversationChanges,
) -> Result<ConversationSummary, ServiceError> {
    let saved = storage::conversations::update(
        &ctx.db,
        actor.account_id.as_uuid(),
        conversation_id.as_uuid(),
        changes,
    )
    .await?
    .ok_or(ServiceError::NotFound)?;
    publish_and_summarize(ctx, saved).await
}

fn resolving(now: DateTime<Utc>) -> ConversationChanges {
    ConversationChanges {
        status: Some(ConversationStatus::Resolved.as_str()),
        resolved_at: Some(Some(now)),
        reset_unread: true,
        ..ConversationChanges::default()
    }
}

/// Marks a conversation resolved (idempotent).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id))]
pub async fn resolve(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
) -> Result<ConversationSummary, ServiceError> {
    let row = load(ctx, actor, conversation_id).await?;
    if row.status == ConversationStatus::Resolved {
        return summarize(ctx, row).await;
    }
    let now = ctx.clock.now();
    let txn = begin(ctx).await?;
    // Only while still open: of two resolves at once (two agents, the inactivity job, the
    // bot's end step), one records the resolve and the other finds it done.
    let changes = ConversationChanges {
        only_if_status: Some(ConversationStatus::Open.as_str()),
        ..resolving(now)
    };
    let Some(saved) = storage::conversations::update(&txn, row.account_id, row.id, changes).await?
    else {
        txn.rollback()
            .await
            .context("rolling back a concurrent resolve")?;
        return summarize(ctx, load(ctx, actor, conversation_id).await?).await;
    };
    let saved = super::chatbot::after_resolved(&txn, saved, now).await?;
    super::webhooks::conversation_resolved(&txn, &saved, now).await?;
    txn.commit().await.context("committing a resolve")?;
    let assignee = saved.assignee_id;
    let summary = publish_and_summarize(ctx, saved).await;
    // The agent has a free slot now: their teams' queues may give them the next one.
    if let Some(assignee) = assignee {
        super::routing::drain_quietly(ctx, actor.account_id, UserId::from_uuid(assignee)).await;
    }
    summary
}

/// Opens a resolved conversation again (idempotent).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id))]
pub async fn reopen(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
) -> Result<ConversationSummary, ServiceError> {
    let row = load(ctx, actor, conversation_id).await?;
    if row.status == ConversationStatus::Open {
        return summarize(ctx, row).await;
    }
    let changes = ConversationChanges {
        status: Some(ConversationStatus::Open.as_str()),
        resolved_at: Some(None),
        last_activity_at: Some(ctx.clock.now()),
        ..ConversationChanges::default()
    };
    let txn = begin(ctx).await?;
    only_if_latest(&txn, &row).await?;
    let saved = storage::conversations::update(&txn, row.account_id, row.id, changes)
        .await?
        .ok_or(ServiceError::NotFound)?;
    txn.commit().await.context("committing a reopen")?;
    publish_and_summarize(ctx, saved).await
}

/// A visitor has at most one open conversation, their latest (DESIGN section 5): reopening
/// an older one would leave two open and send the visitor's next actions to the wrong one.
/// Takes the visitor's row lock first, so a visitor starting a new conversation at the same
/// instant waits (or is waited for).
async fn only_if_latest(
    txn: &DatabaseTransaction,
    row: &conversation::Model,
) -> Result<(), ServiceError> {
    storage::visitors::lock(txn, row.visitor_id).await?;
    match storage::conversations::latest_of_visitor(txn, row.visitor_id).await? {
        Some(latest) if latest.id != row.id => Err(ServiceError::Refused {
            code: "newer_conversation",
            message: format!(
                "the visitor has a newer conversation ({}); answer there, this one stays resolved",
                latest.id
            ),
        }),
        _ => Ok(()),
    }
}

/// Assigns to a user of the same account, or unassigns with `None`.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id))]
pub async fn assign(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
    assignee: Option<UserId>,
) -> Result<ConversationSummary, ServiceError> {
    let assignee_id = match assignee {
        Some(user_id) => {
            let user = storage::users::find_in_account(
                &ctx.db,
                actor.account_id.as_uuid(),
                user_id.as_uuid(),
            )
            .await?
            .filter(|user| user.active)
            .ok_or_else(|| {
                ServiceError::invalid(FieldError::new(
                    "assignee_id",
                    "no active user of this account has this id",
                ))
            })?;
            Some(user.id)
        }
        None => None,
    };
    let changes = ConversationChanges {
        assignee_id: Some(assignee_id),
        ..ConversationChanges::default()
    };
    change_and_publish(ctx, actor, conversation_id, changes).await
}

/// Replaces the conversation's tags.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id))]
pub async fn set_tags(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
    raw_tags: &[String],
) -> Result<ConversationSummary, ServiceError> {
    let mut problems = Vec::new();
    let mut tags: Vec<String> = raw_tags
        .iter()
        .enumerate()
        .filter_map(|(index, raw)| {
            Tag::parse(&format!("tags[{index}]"), raw)
                .map_err(|error| problems.push(error))
                .ok()
                .map(|tag| tag.as_str().to_owned())
        })
        .collect();
    if tags.len() > 20 {
        problems.push(FieldError::new("tags", "at most 20 tags"));
    }
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems));
    }
    tags.sort();
    tags.dedup();
    let row = load(ctx, actor, conversation_id).await?;
    let txn = begin(ctx).await?;
    storage::conversations::set_tags(&txn, row.id, &tags).await?;
    txn.commit().await.context("committing tags")?;
    publish_and_summarize(ctx, row).await
}

pub async fn get(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
) -> Result<ConversationSummary, ServiceError> {
    summarize(ctx, load(ctx, actor, conversation_id).await?).await
}

/// Messages after `after_seq`, oldest first, with internal notes (agents see everything).
pub async fn messages(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<MessageView>, ServiceError> {
    let row = load(ctx, actor, conversation_id).await?;
    Ok(storage::messages::after_seq(
        &ctx.reads,
        row.id,
        after_seq,
        true,
        limit.min(MAX_MESSAGES_PAGE),
    )
    .await?
    .into_iter()
    .map(MessageView::from)
    .collect())
}

/// The newest `limit` messages, oldest first, with internal notes (the inbox transcript).
pub async fn latest_messages(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
    limit: u64,
) -> Result<Vec<MessageView>, ServiceError> {
    let row = load(ctx, actor, conversation_id).await?;
    Ok(
        storage::messages::latest(&ctx.reads, row.id, true, limit.min(MAX_MESSAGES_PAGE))
            .await?
            .into_iter()
            .map(MessageView::from)
            .collect(),
    )
}

/// An agent read the conversation: its unread count goes to zero.
pub async fn mark_read(
    ctx: &Context,
    actor: &Actor,
    conversation_id: ConversationId,
) -> Result<(), ServiceError> {
    let row = load(ctx, actor, conversation_id).await?;
    if row.unread_count > 0 {
        let changes = ConversationChanges {
            reset_unread: true,
            ..ConversationChanges::default()
        };
        let saved = storage::conversations::update(&ctx.db, row.account_id, row.id, changes)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let summary = summarize(ctx, saved).await?;
        if let Some(frame) = encode(&ServerFrame::ConversationSummary(&summary)) {
            ctx.hub.to_agents(actor.account_id, frame);
        }
    }
    Ok(())
}

/// Filters of the conversation list, as users give them.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub status: Option<ConversationStatus>,
    pub assignee: Option<AssigneeFilter>,
    pub search: Option<String>,
    pub tag: Option<Tag>,
    /// Only conversations labelled "Joined by chatbot".
    pub joined_by_chatbot: bool,
    /// Only conversations with this outcome (`resolved_by_chatbot`, `escalated_to_human`).
    pub outcome: Option<&'static str>,
    /// Only conversations counted (or not) as chatbot conversations.
    pub chatbot_counted: Option<bool>,
    /// Only conversations of this team of the account (`list` refuses another's).
    pub team: Option<uuid::Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssigneeFilter {
    Me,
    Unassigned,
    User(UserId),
}

/// A page of the list and where the next one starts.
pub struct ListPage {
    pub conversations: Vec<ConversationSummary>,
    pub next_cursor: Option<String>,
}

/// An opaque cursor: the last item's activity time and id.
fn encode_cursor(summary: &ConversationSummary) -> String {
    super::cursor::encode(summary.last_activity_at, summary.id.as_uuid())
}

fn decode_cursor(raw: &str) -> Result<storage::conversations::ListCursor, ServiceError> {
    let (last_activity_at, id) = super::cursor::decode(raw)?;
    Ok(storage::conversations::ListCursor {
        last_activity_at,
        id,
    })
}

/// Started conversations of the actor's account, newest activity first, by cursor.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    query: &ListQuery,
    cursor: Option<&str>,
    limit: u64,
) -> Result<ListPage, ServiceError> {
    let after = cursor.map(decode_cursor).transpose()?;
    if let Some(team) = query.team
        && !storage::teams::list(&ctx.reads, actor.account_id.as_uuid())
            .await?
            .iter()
            .any(|row| row.id == team)
    {
        return Err(ServiceError::invalid(FieldError::new(
            "team",
            "no team of this account has this id",
        )));
    }
    let filter = storage::conversations::ListFilter {
        status: query.status.map(|status| status.as_str().to_owned()),
        assignee: query.assignee.map(|assignee| match assignee {
            AssigneeFilter::Me => Some(actor.user_id.as_uuid()),
            AssigneeFilter::User(user) => Some(user.as_uuid()),
            AssigneeFilter::Unassigned => None,
        }),
        search: query.search.clone(),
        tag: query.tag.as_ref().map(|tag| tag.as_str().to_owned()),
        joined_by_chatbot: query.joined_by_chatbot,
        outcome: query.outcome,
        chatbot_counted: query.chatbot_counted,
        team: query.team,
    };
    let limit = limit.clamp(1, 100);
    let rows = storage::conversations::list(
        &ctx.reads,
        actor.account_id.as_uuid(),
        &filter,
        after,
        limit + 1,
    )
    .await?;
    let more = rows.len() as u64 > limit;
    let rows: Vec<(conversation::Model, Option<visitor::Model>)> =
        rows.into_iter().take(limit as usize).collect();
    let ids: Vec<uuid::Uuid> = rows.iter().map(|(row, _)| row.id).collect();
    let tags = storage::conversations::tags_of(&ctx.reads, &ids).await?;
    let users = storage::users::list_for_account(&ctx.reads, actor.account_id.as_uuid()).await?;
    let conversations: Vec<ConversationSummary> = rows
        .into_iter()
        .map(|(row, visitor)| {
            let own_tags = tags
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, tag)| tag.clone())
                .collect();
            let assignee = row.assignee_id.and_then(|id| {
                users.iter().find(|user| user.id == id).map(|user| UserRef {
                    id: UserId::from_uuid(user.id),
                    name: user.name.clone(),
                })
            });
            ConversationSummary::new(row, visitor.as_ref(), assignee, own_tags)
        })
        .collect();
    let next_cursor = if more {
        conversations.last().map(encode_cursor)
    } else {
        None
    };
    Ok(ListPage {
        conversations,
        next_cursor,
    })
}

/// Resolves open conversations whose visitor left and stayed silent past the timeout.
/// Returns how many it resolved.
#[tracing::instrument(skip_all)]
pub async fn resolve_inactive(
    ctx: &Context,
    timeout: chrono::Duration,
) -> Result<usize, ServiceError> {
    let now = ctx.clock.now();
    let idle = storage::conversations::idle_open(&ctx.db, now - timeout, 200).await?;
    let mut resolved = 0;
    for row in idle {
        let (account, visitor) = (
            AccountId::from_uuid(row.account_id),
            VisitorId::from_uuid(row.visitor_id),
        );
        if ctx.hub.is_visitor_online(account, visitor) {
            continue;
        }
        // Only while still open: an agent may have resolved it, or the visitor written, meanwhile.
        let changes = ConversationChanges {
            only_if_status: Some(ConversationStatus::Open.as_str()),
            only_if_idle_before: Some(now - timeout),
            ..resolving(now)
        };
        let txn = begin(ctx).await?;
        let Some(saved) =
            storage::conversations::update(&txn, row.account_id, row.id, changes).await?
        else {
            txn.rollback()
                .await
                .context("rolling back an inactivity resolve")?;
            continue;
        };
        // A visitor who clicked through a flow and went away: resolved by chatbot (rule 5).
        let saved = super::chatbot::after_resolved(&txn, saved, now).await?;
        super::webhooks::conversation_resolved(&txn, &saved, now).await?;
        txn.commit()
            .await
            .context("committing an inactivity resolve")?;
        publish_conversation(ctx, &saved).await;
        if let Some(assignee) = saved.assignee_id {
            super::routing::drain_quietly(ctx, account, UserId::from_uuid(assignee)).await;
        }
        resolved += 1;
    }
    if resolved > 0 {
        tracing::info!(resolved, "resolved inactive conversations");
    }
    Ok(resolved)
}
