//! An external bot in conversations (DESIGN section 11). Every change happens inside the
//! transaction of what causes it, under the conversation's row lock: the visitor's message or
//! click and the event that tells the bot, a bot's actions and the record of its answer.
//!
//! Counting (DESIGN section 2): the visitor's first message or click to any bot in the
//! conversation counts it once, as a flow's first click does (`billing::count_conversation`);
//! when nothing is left the bot is not invoked and people take over ("Chatbot limit reached").

use super::super::{
    Context, ServiceError,
    billing::{self, Count},
    chatbot::{self, Effects, LIMIT_REACHED_NOTE, LIMIT_REACHED_VISITOR_TEXT},
    conversations::{Stored, system_message},
    views::{Button, MessageView, ServerFrame},
};
use crate::{
    domain::{
        bot::{self as rules, BotAction, BotButton, TransferTarget},
        conversation::{AuthorKind, ConversationStatus, Handler, MessageText},
        ids::{AccountId, ConversationId, FlowId, MessageId, VisitorId},
    },
    realtime::{hub::encode, protocol::Author},
    storage::{
        self,
        conversations::ConversationChanges,
        entities::{bot, bot_event, bot_session, conversation, message},
        flow_runs::{ESCALATED_TO_HUMAN, RESOLVED_BY_CHATBOT},
        messages::{Appended, NewMessage, UnreadChange},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Messages of the transcript carried by `conversation.assigned`.
const TRANSCRIPT_MESSAGES: u64 = 200;
/// Recent messages searched for the bot's buttons a click belongs to.
const CLICK_LOOKBACK: u64 = 50;

/// What a committed change still has to do: send the bots' new events now (not at the job's
/// next round) and show a bot's typing.
#[derive(Default)]
pub(crate) struct AfterCommit {
    conversations: Vec<uuid::Uuid>,
    typing: Vec<(VisitorId, String)>,
}

impl AfterCommit {
    pub(crate) fn publish(self, ctx: &Context) {
        for (visitor_id, name) in self.typing {
            let frame = ServerFrame::Typing {
                author: Author::bot(&name),
                on: true,
            };
            if let Some(frame) = encode(&frame) {
                ctx.hub.to_visitor(visitor_id, frame);
            }
        }
        let mut conversations = self.conversations;
        conversations.sort();
        conversations.dedup();
        for conversation_id in conversations {
            super::delivery::kick(ctx, conversation_id);
        }
    }
}

/// The bot behind a `fdbot_` token.
#[derive(Clone, Debug)]
pub struct BotActor {
    pub bot: bot::Model,
}

/// The bot whose token this is; `Unauthorized` for anything else.
pub async fn authenticate(ctx: &Context, secret: &str) -> Result<BotActor, ServiceError> {
    if !secret.starts_with(super::TOKEN_PREFIX) {
        return Err(ServiceError::Unauthorized);
    }
    storage::bots::find_by_token_hash(&ctx.reads, &super::super::tokens::hash_secret(secret))
        .await?
        .map(|bot| BotActor { bot })
        .ok_or(ServiceError::Unauthorized)
}

/// The name visitors see for a bot.
fn shown_name(bot: &bot::Model) -> String {
    bot.label.clone().unwrap_or_else(|| bot.name.clone())
}

fn refused(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.to_owned(),
    }
}

/// The conversation as events show it: the visitor (contact fields, language, page,
/// variables) and the context variables.
async fn conversation_data(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
) -> Result<Value, ServiceError> {
    let visitor =
        storage::visitors::find_in_account(txn, conversation.account_id, conversation.visitor_id)
            .await?;
    let visitor = visitor.map_or_else(
        || json!({"id": conversation.visitor_id, "variables": {}}),
        |row| {
            let stored: BTreeMap<String, Value> =
                serde_json::from_str(&row.variables).unwrap_or_default();
            let variables: BTreeMap<String, Value> = stored
                .into_iter()
                .map(|(key, variable)| {
                    let value = variable.get("value").cloned().unwrap_or(variable);
                    (key, value)
                })
                .collect();
            json!({
                "id": row.id,
                "name": row.name,
                "email": row.email,
                "language": row.language,
                "page": row.current_url.as_ref().map(|url| json!({"url": url, "title": row.current_title})),
                "variables": variables,
            })
        },
    );
    let context: Value = serde_json::from_str(&conversation.context).unwrap_or_else(|_| json!({}));
    Ok(json!({"id": conversation.id, "visitor": visitor, "context": context}))
}

/// Records an event for `bot` in the conversation's ordered outbox (inside the transaction of
/// what causes it) and asks for it to be sent once committed.
async fn record_event(
    txn: &DatabaseTransaction,
    bot: &bot::Model,
    conversation: &conversation::Model,
    kind: &str,
    extra: Value,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let id = uuid::Uuid::now_v7();
    let mut body = json!({
        "id": id,
        "type": kind,
        "at": now,
        "account_id": conversation.account_id,
        "bot_id": bot.id,
        "conversation": conversation_data(txn, conversation).await?,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let seq = storage::bots::next_event_seq(txn, conversation.id).await?;
    storage::bots::insert_event(
        txn,
        bot_event::Model {
            id,
            account_id: conversation.account_id,
            bot_id: bot.id,
            conversation_id: conversation.id,
            seq,
            kind: kind.to_owned(),
            payload: body.to_string(),
            expects_answer: matches!(
                kind,
                rules::ASSIGNED | rules::MESSAGE_CREATED | rules::BUTTON_CLICKED
            ),
            status: super::delivery::PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: now,
            last_status_code: None,
            last_error: None,
            last_attempt_at: None,
            delivered_at: None,
            created_at: now,
        },
    )
    .await?;
    effects.bots.conversations.push(conversation.id);
    Ok(())
}

/// The visitor's message or click reached the bot: the conversation's first interaction with
/// any bot counts it (at most once, never over the limit). `false` when nothing was left:
/// people have the conversation then and the bot is not invoked; a bot that was `assigned`
/// already hears `conversation.handed_over`, one that never heard of the conversation (a
/// routing rule's bot, whose `conversation.assigned` would have carried this message) hears
/// nothing.
async fn interact(
    turn: Turn<'_>,
    conversation: &conversation::Model,
    session: &bot_session::Model,
    bot: &bot::Model,
    effects: &mut Effects,
    assigned_before: bool,
) -> Result<bool, ServiceError> {
    let Turn { txn, now, .. } = turn;
    if session.interacted {
        return Ok(true);
    }
    match billing::count_conversation(txn, conversation.account_id, conversation.id, None, now)
        .await?
    {
        Count::Counted => {
            tracing::info!(conversation_id = %conversation.id, bot_id = %bot.id, "chatbot conversation counted");
            effects.counted = true;
        }
        Count::AlreadyCounted => {}
        Count::LimitReached => {
            tracing::info!(conversation_id = %conversation.id, "chatbot limit reached; the bot is not invoked");
            hand_over(
                turn,
                conversation,
                session,
                bot,
                Handover {
                    context: BTreeMap::new(),
                    note: LIMIT_REACHED_NOTE.to_owned(),
                    visitor_text: Some(LIMIT_REACHED_VISITOR_TEXT),
                    tell_bot: assigned_before,
                    limit_reached: true,
                },
                effects,
            )
            .await?;
            return Ok(false);
        }
    }
    storage::bots::mark_interacted(txn, session.id).await?;
    if let Some(row) =
        storage::conversations::find_in_account(txn, conversation.account_id, conversation.id)
            .await?
    {
        effects.changed(row);
    }
    Ok(true)
}

/// The bot takes the conversation (a transfer by an agent or a bot, or a routing rule): a
/// session starts, the conversation leaves people's queues, and `conversation.assigned`
/// carries the transcript so far. With `message` (the visitor's message that brought it
/// here), that message is the visitor's first interaction with the bot and counts. When no
/// chatbot conversation is left and the conversation was never counted, the bot is not
/// invoked: `false`, and people keep it.
pub(crate) async fn assign(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    bot: &bot::Model,
    message: Option<&message::Model>,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    if !conversation.joined_by_chatbot
        && billing::remaining_in(txn, conversation.account_id, now).await? <= 0
    {
        return Ok(false);
    }
    bot_left(txn, conversation, "transfer", now).await?;
    storage::flow_runs::finish_all(txn, conversation.id).await?;
    storage::bots::unplace(txn, conversation.id).await?;
    let conversation = storage::conversations::update(
        txn,
        conversation.account_id,
        conversation.id,
        ConversationChanges {
            handler: Some(Handler::Bot.as_str()),
            ..ConversationChanges::default()
        },
    )
    .await?
    .ok_or(ServiceError::NotFound)?;
    let session = storage::bots::insert_session(
        txn,
        bot_session::Model {
            id: uuid::Uuid::now_v7(),
            account_id: conversation.account_id,
            bot_id: bot.id,
            conversation_id: conversation.id,
            active: true,
            interacted: false,
            outcome: None,
            started_at: now,
            ended_at: None,
        },
    )
    .await?;
    effects.changed(conversation.clone());
    tracing::info!(conversation_id = %conversation.id, bot_id = %bot.id, "a bot took the conversation");
    if !bot.enabled {
        fail(
            Turn { ctx, txn, now },
            &conversation,
            &session,
            bot,
            "the bot is disabled",
            effects,
        )
        .await?;
        return Ok(true);
    }
    let turn = Turn { ctx, txn, now };
    if message.is_some() && !interact(turn, &conversation, &session, bot, effects, false).await? {
        return Ok(true);
    }
    let transcript: Vec<MessageView> =
        storage::messages::latest(txn, conversation.id, false, TRANSCRIPT_MESSAGES)
            .await?
            .into_iter()
            .map(MessageView::from)
            .collect();
    let mut extra = json!({"transcript": transcript});
    if let (Some(map), Some(message)) = (extra.as_object_mut(), message) {
        map.insert(
            "message".to_owned(),
            json!(MessageView::from(message.clone())),
        );
    }
    record_event(
        txn,
        bot,
        &conversation,
        rules::ASSIGNED,
        extra,
        effects,
        now,
    )
    .await?;
    Ok(true)
}

/// A visitor's first message in a conversation nobody has handled yet (inside the message's
/// transaction, before people's routing): when the first routing rule that matches targets a
/// bot, the bot takes it, this message being the visitor's first interaction with it. Nothing
/// happens when no rule targets a bot, the bot is disabled, or no chatbot conversation is left
/// (people's routing takes it then).
pub(crate) async fn route_new(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    // Only a conversation's first message (one query less on every later message).
    if conversation.last_seq != 1
        || conversation.handler != Handler::None
        || conversation.team_id.is_some()
        || conversation.assignee_id.is_some()
        || conversation.status != ConversationStatus::Open
    {
        return Ok(());
    }
    let rules = super::super::routing::account_rules(txn, conversation.account_id).await?;
    if rules.iter().all(|rule| rule.bot_id.is_none()) {
        return Ok(());
    }
    let facts = super::super::routing::facts(txn, conversation).await?;
    let Some(bot_id) =
        crate::domain::routing::first_match(&rules, &facts).and_then(|rule| rule.bot_id)
    else {
        return Ok(());
    };
    let Some(bot) = storage::bots::find(txn, conversation.account_id, bot_id)
        .await?
        .filter(|bot| bot.enabled)
    else {
        return Ok(());
    };
    let message = storage::messages::latest(txn, conversation.id, false, 1)
        .await?
        .pop();
    assign(ctx, txn, conversation, &bot, message.as_ref(), effects, now).await?;
    Ok(())
}

/// The visitor wrote while the bot has the conversation (inside the message's transaction,
/// after it was stored): `message.created` to the bot.
pub(crate) async fn visitor_wrote(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let Some(session) = storage::bots::active_session(txn, conversation.id).await? else {
        return Ok(());
    };
    let Some(bot) = storage::bots::find_by_id(txn, session.bot_id).await? else {
        return Ok(());
    };
    if !bot.enabled {
        return fail(
            Turn { ctx, txn, now },
            conversation,
            &session,
            &bot,
            "the bot is disabled",
            effects,
        )
        .await;
    }
    if !interact(
        Turn { ctx, txn, now },
        conversation,
        &session,
        &bot,
        effects,
        true,
    )
    .await?
    {
        return Ok(());
    }
    let message = storage::messages::latest(txn, conversation.id, false, 1)
        .await?
        .pop()
        .ok_or_else(|| ServiceError::Unexpected(anyhow::anyhow!("the new message vanished")))?;
    let extra = json!({"message": MessageView::from(message)});
    record_event(
        txn,
        &bot,
        conversation,
        rules::MESSAGE_CREATED,
        extra,
        effects,
        now,
    )
    .await
}

/// A click on an external bot's button, as `chatbot::choose` received it.
pub(crate) struct Click<'a> {
    pub client_id: &'a str,
    pub button_id: &'a str,
    pub now: DateTime<Utc>,
}

/// The visitor clicked a button of the bot's latest message (inside the click's transaction,
/// which holds the conversation's lock): stored as a visitor message whose text is the
/// button's label (`choice` = its id), and `button.clicked` to the bot.
pub(crate) async fn clicked(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    session: &bot_session::Model,
    click: Click<'_>,
) -> Result<Stored<(MessageView, Effects)>, ServiceError> {
    let stale = || refused("stale_button", "this button is no longer active");
    let now = click.now;
    let recent = storage::messages::latest(txn, conversation.id, false, CLICK_LOOKBACK).await?;
    let latest_bot = recent
        .iter()
        .rev()
        .find(|row| row.author_kind == AuthorKind::Bot)
        .ok_or_else(stale)?;
    let buttons: Vec<Button> = latest_bot
        .buttons
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    let button = buttons
        .into_iter()
        .find(|button| button.id == click.button_id)
        .ok_or_else(stale)?;
    let bot = storage::bots::find_by_id(txn, session.bot_id)
        .await?
        .ok_or_else(stale)?;
    let choice = NewMessage {
        attachments: None,
        id: MessageId::generate().as_uuid(),
        account_id: conversation.account_id,
        conversation_id: conversation.id,
        client_id: click.client_id.to_owned(),
        author_kind: AuthorKind::Visitor,
        author_user_id: None,
        author_name: None,
        author_avatar: None,
        text: button.label.clone(),
        internal: false,
        buttons: None,
        flow_id: None,
        step_id: None,
        choice: Some(button.id.clone()),
        welcome: false,
        created_at: now,
        preview: Some(preview(&button.label)),
        unread: UnreadChange::Keep,
    };
    let started_before = conversation.started;
    let (stored, conversation) = match storage::messages::append(txn, choice).await? {
        Appended::New(stored, conversation) => (stored, *conversation),
        Appended::Duplicate(_) | Appended::Taken => {
            return Err(ServiceError::Conflict(
                "a concurrent resend of this client_id; retry".to_owned(),
            ));
        }
    };
    super::super::conversations::after_stored(txn, started_before, &stored, &conversation).await?;
    let view = MessageView::from(stored.clone());
    let mut effects = Effects {
        messages: vec![view.clone()],
        ..Effects::default()
    };
    effects.changed(conversation.clone());
    if !bot.enabled {
        fail(
            Turn { ctx, txn, now },
            &conversation,
            session,
            &bot,
            "the bot is disabled",
            &mut effects,
        )
        .await?;
    } else if interact(
        Turn { ctx, txn, now },
        &conversation,
        session,
        &bot,
        &mut effects,
        true,
    )
    .await?
    {
        let extra = json!({
            "message": view,
            "choice": {"button_id": button.id, "label": button.label, "message_id": latest_bot.id},
        });
        record_event(
            txn,
            &bot,
            &conversation,
            rules::BUTTON_CLICKED,
            extra,
            &mut effects,
            now,
        )
        .await?;
    }
    Ok(Stored::New((view, effects)))
}

/// People took the conversation over (an agent's reply or transfer, inside its transaction;
/// the handler is already `human`): the bot's session ends escalated, and the bot hears
/// `conversation.handed_over`. Answers the conversation when its outcome changed.
pub(crate) async fn people_took_over(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    let Some(session) = storage::bots::active_session(txn, conversation.id).await? else {
        return Ok(None);
    };
    let mut effects = Effects::default();
    let changed = end_escalated(
        txn,
        conversation,
        &session,
        session.interacted,
        &mut effects,
        now,
    )
    .await?;
    if let Some(bot) = storage::bots::find_by_id(txn, session.bot_id).await? {
        let current = changed.as_ref().unwrap_or(conversation);
        let extra = json!({"reason": "agent"});
        record_event(
            txn,
            &bot,
            current,
            rules::HANDED_OVER,
            extra,
            &mut effects,
            now,
        )
        .await?;
    }
    Ok(changed)
}

/// The bot in the conversation (if any) leaves it for another bot or a flow (inside the
/// transfer's transaction): its session ends, and it hears `conversation.handed_over` with
/// `reason`. The conversation stays a chatbot conversation, so its outcome is untouched.
pub(crate) async fn bot_left(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let Some(session) = storage::bots::active_session(txn, conversation.id).await? else {
        return Ok(());
    };
    storage::bots::end_session(txn, &session, ESCALATED_TO_HUMAN, now).await?;
    if let Some(bot) = storage::bots::find_by_id(txn, session.bot_id).await? {
        let mut effects = Effects::default();
        let extra = json!({ "reason": reason });
        record_event(
            txn,
            &bot,
            conversation,
            rules::HANDED_OVER,
            extra,
            &mut effects,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Ends a session escalated; when the visitor interacted (`escalate`: or tried to, and found
/// the limit reached) the conversation is marked "Escalated to human" (and webhook
/// `conversation.escalated` sent). Answers the conversation when it changed.
async fn end_escalated(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    session: &bot_session::Model,
    escalate: bool,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    storage::bots::end_session(txn, session, ESCALATED_TO_HUMAN, now).await?;
    if !escalate || conversation.outcome.as_deref() == Some(ESCALATED_TO_HUMAN) {
        return Ok(None);
    }
    let changed = storage::conversations::update(
        txn,
        conversation.account_id,
        conversation.id,
        ConversationChanges {
            outcome: Some(ESCALATED_TO_HUMAN),
            ..ConversationChanges::default()
        },
    )
    .await?;
    if let Some(row) = &changed {
        super::super::webhooks::conversation_escalated(txn, row, now).await?;
        effects.changed(row.clone());
    }
    Ok(changed)
}

/// The conversation was resolved (inside the resolve's transaction): the bot's session ends
/// "Resolved by chatbot" when no person wrote (else "Escalated to human"), the conversation
/// carries that outcome when the visitor interacted, and the bot hears
/// `conversation.resolved`. Answers the conversation as stored.
pub(crate) async fn after_resolved(
    txn: &DatabaseTransaction,
    conversation: conversation::Model,
    now: DateTime<Utc>,
) -> Result<conversation::Model, ServiceError> {
    let Some(session) = storage::bots::active_session(txn, conversation.id).await? else {
        return Ok(conversation);
    };
    let human = storage::messages::has_agent_reply(txn, conversation.id).await?;
    let outcome = if human {
        ESCALATED_TO_HUMAN
    } else {
        RESOLVED_BY_CHATBOT
    };
    storage::bots::end_session(txn, &session, outcome, now).await?;
    let keep = conversation.outcome.as_deref() == Some(ESCALATED_TO_HUMAN)
        || conversation.outcome.as_deref() == Some(outcome);
    let conversation = if session.interacted && !keep {
        let changes = ConversationChanges {
            outcome: Some(outcome),
            ..ConversationChanges::default()
        };
        storage::conversations::update(txn, conversation.account_id, conversation.id, changes)
            .await?
            .unwrap_or(conversation)
    } else {
        conversation
    };
    if let Some(bot) = storage::bots::find_by_id(txn, session.bot_id).await? {
        // Sent by the delivery job's next round (the resolve is not the bot runtime's).
        let mut effects = Effects::default();
        record_event(
            txn,
            &bot,
            &conversation,
            rules::RESOLVED,
            json!({}),
            &mut effects,
            now,
        )
        .await?;
    }
    Ok(conversation)
}

/// What every step of a bot's turn needs: the context, the transaction (holding the
/// conversation's lock) and the time of the change.
#[derive(Clone, Copy)]
pub(crate) struct Turn<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) txn: &'a DatabaseTransaction,
    pub(crate) now: DateTime<Utc>,
}

/// How people take over from a bot.
struct Handover {
    context: BTreeMap<String, String>,
    /// The internal note for agents.
    note: String,
    /// A line the visitor reads, if any.
    visitor_text: Option<&'static str>,
    /// Whether the bot hears `conversation.handed_over` (not when it never heard of the
    /// conversation).
    tell_bot: bool,
    /// The visitor's first interaction found no chatbot conversation left: not counted, but
    /// the conversation is "Escalated to human", as a flow's is then (rule 8).
    limit_reached: bool,
}

/// The bot's part ends and people take over: the session ends escalated, the context
/// variables are merged, the routing rules pick the team and agent exactly as for a flow's
/// handover (`chatbot::hand_to_people`), agents get the note, and the bot hears
/// `conversation.handed_over`.
async fn hand_over(
    turn: Turn<'_>,
    conversation: &conversation::Model,
    session: &bot_session::Model,
    bot: &bot::Model,
    handover: Handover,
    effects: &mut Effects,
) -> Result<(), ServiceError> {
    let Turn { ctx, txn, now } = turn;
    let mut merged: BTreeMap<String, String> =
        serde_json::from_str(&conversation.context).unwrap_or_default();
    merged.extend(handover.context);
    let encoded = serde_json::to_string(&merged).context("encoding context")?;
    let escalate = session.interacted || handover.limit_reached;
    let escalated = end_escalated(txn, conversation, session, escalate, effects, now).await?;
    // A routing rule's bot had it from the visitor's first message: people's wait starts now.
    storage::bots::restart_human_since(txn, conversation.id, now).await?;
    let current = escalated.unwrap_or_else(|| conversation.clone());
    if let Some(row) = chatbot::hand_to_people(ctx, txn, &current, None, Some(encoded), now).await?
    {
        effects.changed(row);
    }
    let current =
        storage::conversations::find_in_account(txn, conversation.account_id, conversation.id)
            .await?
            .ok_or(ServiceError::NotFound)?;
    effects.changed(current.clone());
    append(
        txn,
        &current,
        system_message(&current, &handover.note, true, None, now),
        effects,
    )
    .await?;
    if let Some(text) = handover.visitor_text {
        append(
            txn,
            &current,
            system_message(&current, text, false, None, now),
            effects,
        )
        .await?;
    }
    if !handover.tell_bot {
        return Ok(());
    }
    let extra = json!({"reason": "handover"});
    record_event(txn, bot, &current, rules::HANDED_OVER, extra, effects, now).await
}

/// The bot failed (timed out, 5xx, malformed answer, disabled) while it had the conversation:
/// people take over, with a note naming the cause.
pub(crate) async fn fail(
    turn: Turn<'_>,
    conversation: &conversation::Model,
    session: &bot_session::Model,
    bot: &bot::Model,
    cause: &str,
    effects: &mut Effects,
) -> Result<(), ServiceError> {
    tracing::warn!(conversation_id = %conversation.id, bot_id = %bot.id, cause, "bot failed; handing over");
    let note = format!(
        "The bot \u{201c}{}\u{201d} failed ({cause}); handed over to people.",
        bot.name
    );
    let handover = Handover {
        context: BTreeMap::new(),
        note,
        visitor_text: None,
        tell_bot: true,
        limit_reached: false,
    };
    hand_over(turn, conversation, session, bot, handover, effects).await
}

/// Hands every conversation `bot` has to people (the bot is being deleted).
pub(crate) async fn hand_over_all(
    ctx: &Context,
    bot: &bot::Model,
    cause: &str,
) -> Result<(), ServiceError> {
    for session in storage::bots::active_sessions_of_bot(&ctx.db, bot.id).await? {
        let txn = begin(ctx).await?;
        let Some(conversation) = lock(&txn, bot.account_id, session.conversation_id).await? else {
            continue;
        };
        let mut effects = Effects::default();
        fail(
            Turn {
                ctx,
                txn: &txn,
                now: ctx.clock.now(),
            },
            &conversation,
            &session,
            bot,
            cause,
            &mut effects,
        )
        .await?;
        txn.commit().await.context("committing a bot's handover")?;
        publish(ctx, &conversation, effects).await;
    }
    Ok(())
}

async fn begin(ctx: &Context) -> Result<DatabaseTransaction, ServiceError> {
    Ok(storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?)
}

/// Takes the conversation's row lock; `None` when the account has no such conversation.
pub(crate) async fn lock(
    txn: &DatabaseTransaction,
    account_id: uuid::Uuid,
    conversation_id: uuid::Uuid,
) -> Result<Option<conversation::Model>, ServiceError> {
    Ok(storage::bots::lock_conversation(txn, account_id, conversation_id).await?)
}

pub(crate) async fn publish(ctx: &Context, conversation: &conversation::Model, effects: Effects) {
    effects
        .publish(
            ctx,
            AccountId::from_uuid(conversation.account_id),
            VisitorId::from_uuid(conversation.visitor_id),
        )
        .await;
}

/// The bot acts through the REST API (`bot-actions`): only the bot that handles the
/// conversation may (403), and only in an open one (409).
#[tracing::instrument(skip_all, fields(bot_id = %actor.bot.id, %conversation_id))]
pub async fn act(
    ctx: &Context,
    actor: &BotActor,
    conversation_id: ConversationId,
    raw: &[Value],
) -> Result<(), ServiceError> {
    let actions =
        rules::parse_actions(raw, ctx.settings.max_message_chars).map_err(ServiceError::Invalid)?;
    let bot = &actor.bot;
    let now = ctx.clock.now();
    let txn = begin(ctx).await?;
    let conversation = lock(&txn, bot.account_id, conversation_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let session = storage::bots::active_session(&txn, conversation.id)
        .await?
        .filter(|session| session.bot_id == bot.id)
        .ok_or_else(|| {
            ServiceError::Forbidden(
                "only the bot that handles a conversation may act in it".to_owned(),
            )
        })?;
    let mut effects = Effects::default();
    apply(
        Turn {
            ctx,
            txn: &txn,
            now,
        },
        bot,
        &session,
        &conversation,
        actions,
        &mut effects,
    )
    .await?;
    txn.commit().await.context("committing a bot's actions")?;
    publish(ctx, &conversation, effects).await;
    Ok(())
}

/// Carries out a bot's actions in order (inside the caller's transaction, which holds the
/// conversation's lock and checked that `session` is the bot's). A handover, an end or a
/// transfer ends the bot's part: actions after it are not carried out.
pub(crate) async fn apply(
    turn: Turn<'_>,
    bot: &bot::Model,
    session: &bot_session::Model,
    conversation: &conversation::Model,
    actions: Vec<BotAction>,
    effects: &mut Effects,
) -> Result<(), ServiceError> {
    let Turn { ctx, txn, now } = turn;
    if conversation.status != ConversationStatus::Open {
        return Err(refused(
            "conversation_closed",
            "the conversation is resolved; a bot acts only in an open one",
        ));
    }
    for action in actions {
        match action {
            BotAction::Message { text, buttons } => {
                say(txn, bot, conversation, &text, &buttons, effects, now).await?;
            }
            BotAction::Typing => effects.bots.typing.push((
                VisitorId::from_uuid(conversation.visitor_id),
                shown_name(bot),
            )),
            BotAction::Handover { context, summary } => {
                let mut note = format!("Handed over by the bot \u{201c}{}\u{201d}.", bot.name);
                if let Some(summary) = summary {
                    note.push_str(&format!(" Summary: {summary}"));
                }
                if !context.is_empty() {
                    let pairs: Vec<String> =
                        context.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    note.push_str(&format!(" Context: {}.", pairs.join(", ")));
                }
                let handover = Handover {
                    context,
                    note,
                    visitor_text: None,
                    tell_bot: true,
                    limit_reached: false,
                };
                return hand_over(
                    Turn { ctx, txn, now },
                    conversation,
                    session,
                    bot,
                    handover,
                    effects,
                )
                .await;
            }
            BotAction::End => return end(txn, conversation, effects, now).await,
            BotAction::Transfer(target) => {
                return transfer(ctx, txn, bot, conversation, target, effects, now).await;
            }
        }
    }
    Ok(())
}

/// Stores a bot message (with buttons the widget renders like a flow's).
async fn say(
    txn: &DatabaseTransaction,
    bot: &bot::Model,
    conversation: &conversation::Model,
    text: &str,
    buttons: &[BotButton],
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let buttons = (!buttons.is_empty())
        .then(|| serde_json::to_string(buttons))
        .transpose()
        .context("encoding buttons")?;
    let message = NewMessage {
        attachments: None,
        id: MessageId::generate().as_uuid(),
        account_id: conversation.account_id,
        conversation_id: conversation.id,
        client_id: format!("bot-{}", uuid::Uuid::now_v7().simple()),
        author_kind: AuthorKind::Bot,
        author_user_id: None,
        author_name: Some(shown_name(bot)),
        author_avatar: bot.avatar.clone(),
        text: text.to_owned(),
        internal: false,
        buttons,
        flow_id: None,
        step_id: None,
        choice: None,
        welcome: false,
        created_at: now,
        preview: Some(preview(text)),
        unread: UnreadChange::Keep,
    };
    append(txn, conversation, message, effects).await
}

async fn append(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    message: NewMessage,
    effects: &mut Effects,
) -> Result<(), ServiceError> {
    match storage::messages::append(txn, message).await? {
        Appended::New(stored, row) => {
            super::super::webhooks::message_stored(txn, row.started, &stored, &row).await?;
            effects.messages.push(MessageView::from(stored));
            if row.id == conversation.id {
                effects.changed(*row);
            }
            Ok(())
        }
        Appended::Duplicate(_) | Appended::Taken => Err(ServiceError::Unexpected(anyhow::anyhow!(
            "a fresh bot client_id was taken"
        ))),
    }
}

/// The bot's `end`: the conversation is resolved ("Resolved by chatbot" when no person wrote).
async fn end(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if let Some(row) = chatbot::end_conversation(txn, conversation, now).await? {
        effects.changed(row);
    }
    Ok(())
}

/// The bot's `transfer`: to another bot of the account (never itself: 409 `same_bot`) or to
/// a flow.
async fn transfer(
    ctx: &Context,
    txn: &DatabaseTransaction,
    bot: &bot::Model,
    conversation: &conversation::Model,
    target: TransferTarget,
    effects: &mut Effects,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let invalid = |field: &str, message: &str| {
        ServiceError::invalid(crate::domain::FieldError::new(field, message))
    };
    match target {
        TransferTarget::Bot(id) if id == bot.id => Err(refused(
            "same_bot",
            "a bot cannot transfer a conversation to itself",
        )),
        TransferTarget::Bot(id) => {
            let next = storage::bots::find(txn, conversation.account_id, id)
                .await?
                .ok_or_else(|| invalid("bot_id", "no bot of this account has this id"))?;
            let note = format!(
                "Transferred by the bot \u{201c}{}\u{201d} to the bot \u{201c}{}\u{201d}",
                bot.name, next.name
            );
            append(
                txn,
                conversation,
                system_message(conversation, &note, true, None, now),
                effects,
            )
            .await?;
            let current = storage::conversations::find_in_account(
                txn,
                conversation.account_id,
                conversation.id,
            )
            .await?
            .ok_or(ServiceError::NotFound)?;
            if !assign(ctx, txn, &current, &next, None, effects, now).await? {
                return Err(refused(
                    "chatbot_limit_reached",
                    "no chatbot conversation is left this period",
                ));
            }
            Ok(())
        }
        TransferTarget::Flow(id) => {
            let note = format!(
                "Transferred by the bot \u{201c}{}\u{201d} to a flow",
                bot.name
            );
            append(
                txn,
                conversation,
                system_message(conversation, &note, true, None, now),
                effects,
            )
            .await?;
            let started =
                chatbot::start_flow_in(ctx, txn, conversation, FlowId::from_uuid(id), now)
                    .await?
                    .ok_or_else(|| {
                        invalid("flow_id", "no flow of this account can start with this id")
                    })?;
            effects.messages.extend(started.messages);
            if let Some(row) = started.conversation {
                effects.changed(row);
            }
            Ok(())
        }
    }
}

/// An agent (or the API) transfers a conversation to a bot: never the bot already in it
/// (409 `same_bot`); refused when no chatbot conversation is left (409).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id, %bot_id))]
pub async fn transfer_to_bot(
    ctx: &Context,
    actor: &super::super::Actor,
    conversation_id: ConversationId,
    bot_id: uuid::Uuid,
) -> Result<(), ServiceError> {
    let account = actor.account_id.as_uuid();
    let now = ctx.clock.now();
    let txn = begin(ctx).await?;
    let conversation = lock(&txn, account, conversation_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    if conversation.status != ConversationStatus::Open {
        return Err(refused(
            "conversation_closed",
            "only an open conversation can go to a bot",
        ));
    }
    let bot = storage::bots::find(&txn, account, bot_id)
        .await?
        .ok_or_else(|| {
            ServiceError::invalid(crate::domain::FieldError::new(
                "bot_id",
                "no bot of this account has this id",
            ))
        })?;
    if storage::bots::active_session(&txn, conversation.id)
        .await?
        .is_some_and(|session| session.bot_id == bot.id)
    {
        return Err(refused(
            "same_bot",
            "this bot already handles the conversation",
        ));
    }
    let mut effects = Effects::default();
    let note = format!(
        "Transferred to the bot \u{201c}{}\u{201d} by {}",
        bot.name, actor.name
    );
    append(
        &txn,
        &conversation,
        system_message(&conversation, &note, true, None, now),
        &mut effects,
    )
    .await?;
    if !assign(ctx, &txn, &conversation, &bot, None, &mut effects, now).await? {
        return Err(refused(
            "chatbot_limit_reached",
            "no chatbot conversation is left this period",
        ));
    }
    txn.commit()
        .await
        .context("committing a transfer to a bot")?;
    publish(ctx, &conversation, effects).await;
    Ok(())
}

fn preview(text: &str) -> String {
    MessageText::parse(text, usize::MAX)
        .map(|text| text.preview())
        .unwrap_or_default()
}
