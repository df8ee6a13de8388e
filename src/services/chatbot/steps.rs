//! Carrying out a flow's steps (DESIGN section 3): a button clicked, a question answered or
//! typed over, the interpreter's actions stored as bot messages, tags and contact fields, and
//! the handover to people with a summary for agents.

use super::{
    Effects, LIMIT_REACHED_NOTE, LIMIT_REACHED_VISITOR_TEXT, StoredFlow, parse_flow, refused,
    runs::{end_conversation, escalate},
};
use crate::{
    domain::{
        conversation::{AuthorKind, ClientId, ConversationStatus, Handler, MessageText},
        flow::{
            FlowDefinition,
            definition::Button,
            interpreter::{self, Action, Event, HandoverReason, Refusal, RunState},
        },
        ids::{AccountId, MessageId, VisitorId},
    },
    metrics::Transaction,
    services::{
        Context, ServiceError,
        billing::{self, Count},
        conversations::{Posted, Stored, client_id_taken, resend_of, system_message},
        views::MessageView,
    },
    storage::{
        self,
        conversations::ConversationChanges,
        entities::{conversation, flow_run},
        messages::{NewMessage, UnreadChange},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use std::collections::BTreeMap;

/// A click that no step of a running flow waits for (the run moved on or ended).
fn stale() -> ServiceError {
    refused("stale_button", "this button is no longer active")
}

/// Visitor choices quoted in the handover summary.
const SUMMARY_CHOICES: usize = 20;

/// The visitor clicked a bot button. Stored as a visitor message whose text is the button's
/// label (`choice` = the button id), answered by the flow's next step. A resend of the same
/// `client_id` answers with the original.
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn choose(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    client_id: &str,
    button_id: &str,
    step_id: Option<&str>,
) -> Result<Posted, ServiceError> {
    let client_id = ClientId::parse("client_id", client_id).map_err(ServiceError::invalid)?;
    let now = ctx.clock.now();
    let timer = ctx.metrics.transaction(Transaction::ButtonClick);
    let (task_ctx, button_id, step_id) = (
        ctx.clone(),
        button_id.to_owned(),
        step_id.map(str::to_owned),
    );
    // Through the message writer: on SQLite the click shares its commit with the messages
    // written at the same time (group commit) instead of waiting for the one connection.
    let chosen = ctx
        .writer
        .write(move |txn| {
            Box::pin(async move {
                let click = Click {
                    account_id,
                    visitor_id,
                    client_id: &client_id,
                    button_id: &button_id,
                    step_id: step_id.as_deref(),
                    now,
                };
                store_choice(&task_ctx, txn, click)
                    .await
                    .map(Stored::written)
            })
        })
        .await?;
    let (view, effects) = match chosen {
        Stored::New(chosen) => chosen,
        Stored::Resend(existing) => return resend_of(*existing, AuthorKind::Visitor, None),
        Stored::Taken => return Err(client_id_taken()),
    };
    timer.committed();
    effects.publish(ctx, account_id, visitor_id).await;
    Ok(Posted {
        message: view,
        created: true,
    })
}

/// A button click, as `choose` received it.
struct Click<'a> {
    account_id: AccountId,
    visitor_id: VisitorId,
    client_id: &'a ClientId,
    button_id: &'a str,
    step_id: Option<&'a str>,
    now: DateTime<Utc>,
}

/// Stores a click and runs the flow's next step inside `txn` (see `choose`).
async fn store_choice(
    ctx: &Context,
    txn: &DatabaseTransaction,
    click: Click<'_>,
) -> Result<Stored<(MessageView, Effects)>, ServiceError> {
    let Click {
        account_id,
        visitor_id,
        client_id,
        button_id,
        step_id,
        now,
    } = click;
    storage::visitors::touch(txn, visitor_id.as_uuid(), now).await?;
    let Some(latest) = storage::conversations::latest_of_visitor(txn, visitor_id.as_uuid())
        .await?
        .filter(|row| row.account_id == account_id.as_uuid())
    else {
        return Err(stale());
    };
    if let Some(existing) =
        storage::messages::find_by_client_id(txn, latest.id, client_id.as_str()).await?
    {
        return Ok(Stored::Resend(Box::new(existing)));
    }
    if latest.status != ConversationStatus::Open {
        return Err(stale());
    }
    // The conversation's row lock: an agent writing at the same instant waits (or we do).
    let conversation = storage::conversations::update(
        txn,
        latest.account_id,
        latest.id,
        ConversationChanges {
            last_activity_at: Some(now),
            ..ConversationChanges::default()
        },
    )
    .await?
    .ok_or(ServiceError::NotFound)?;
    if let Some(session) = storage::bots::active_session(txn, conversation.id).await? {
        // An external bot's buttons: the click goes to the bot.
        let click = crate::services::bots::runtime::Click {
            client_id: client_id.as_str(),
            button_id,
            now,
        };
        return crate::services::bots::runtime::clicked(ctx, txn, &conversation, &session, click)
            .await;
    }
    let run = storage::flow_runs::active(txn, conversation.id)
        .await?
        .ok_or_else(stale)?;
    let flow = running_flow(txn, account_id, run.flow_id).await?;
    let flow = flow.as_ref().as_ref().ok_or_else(stale)?;
    let state = run_state(&run);
    let event = Event::Choose { step_id, button_id };
    let (next, actions) = match interpreter::advance(&flow.definition, &state, event) {
        Ok(advanced) => advanced,
        Err(Refusal::UnknownButton) => {
            return Err(refused(
                "unknown_button",
                "this flow has no such button; reload the chat",
            ));
        }
        Err(_) => return Err(stale()),
    };
    let label = actions
        .iter()
        .find_map(|action| match action {
            Action::Clicked { label, .. } => Some(label.clone()),
            _ => None,
        })
        .unwrap_or_else(|| button_id.to_owned());
    let choice = NewMessage {
        attachments: None,
        id: MessageId::generate().as_uuid(),
        account_id: account_id.as_uuid(),
        conversation_id: conversation.id,
        client_id: client_id.as_str().to_owned(),
        author_kind: AuthorKind::Visitor,
        author_user_id: None,
        author_name: None,
        author_avatar: None,
        text: label.clone(),
        internal: false,
        buttons: None,
        flow_id: Some(run.flow_id.to_string()),
        step_id: state.current.clone(),
        choice: Some(button_id.to_owned()),
        welcome: false,
        created_at: now,
        preview: Some(preview(&label)),
        unread: UnreadChange::Keep,
    };
    let started_before = conversation.started;
    // The client_id was looked for above, under the visitor's row lock; the unique index
    // still guards against a concurrent resend.
    let (stored, conversation) = match storage::messages::append_unchecked(txn, choice).await {
        Ok((stored, conversation)) => (stored, *conversation),
        Err(error) if storage::is_unique_violation(&error) => {
            return Err(ServiceError::Conflict(
                "a concurrent resend of this client_id; retry".to_owned(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    crate::services::conversations::after_stored(txn, started_before, &stored, &conversation)
        .await?;
    let view = MessageView::from(stored);
    let mut effects = Effects {
        messages: vec![view.clone()],
        ..Effects::default()
    };
    effects.changed(conversation.clone());
    let step = Step {
        ctx,
        txn,
        run: &run,
        flow: &flow.definition,
        now,
    };
    // A handover (or the limit reached) routes the conversation inside `apply`.
    step.apply(&conversation, &state, &next, actions, &mut effects)
        .await?;
    Ok(Stored::New((view, effects)))
}

/// The visitor wrote in a conversation (inside the message's transaction, after it was
/// stored): the answer to a `collect` step, or, while the bot waits for a click, typing
/// instead of clicking, which hands the conversation to people (rule 4).
pub(crate) async fn after_visitor_text(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Effects, ServiceError> {
    let mut effects = Effects::default();
    // No run can be going on (one query less on every message the bot is not in).
    if !bot_handles(conversation) {
        // Nobody has it yet: a routing rule may send it to an external bot.
        crate::services::bots::runtime::route_new(ctx, txn, conversation, &mut effects, now)
            .await?;
        return Ok(effects);
    }
    let Some(run) = storage::flow_runs::active(txn, conversation.id).await? else {
        // No flow: an external bot may have the conversation.
        crate::services::bots::runtime::visitor_wrote(ctx, txn, conversation, &mut effects, now)
            .await?;
        return Ok(effects);
    };
    let flow = storage::flows::find(txn, conversation.account_id, run.flow_id)
        .await?
        .and_then(parse_flow);
    let state = run_state(&run);
    let advanced = flow
        .as_ref()
        .map(|flow| interpreter::advance(&flow.definition, &state, Event::Text(text)));
    let step_flow;
    let (next, actions) = match advanced {
        Some(Ok(advanced)) => {
            step_flow = flow.map(|flow| flow.definition);
            advanced
        }
        Some(Err(_)) => return Ok(effects),
        // The flow was deleted while it ran: the visitor is talking to people now.
        None => {
            step_flow = None;
            let mut next = state.clone();
            next.current = None;
            next.finished = true;
            (
                next,
                vec![Action::Handover {
                    step_id: None,
                    message: None,
                    context: BTreeMap::new(),
                    reason: HandoverReason::VisitorTyped,
                }],
            )
        }
    };
    let empty = FlowDefinition {
        name: run.flow_name.clone(),
        enabled: false,
        priority: 0,
        welcome: None,
        trigger: Default::default(),
        start: String::new(),
        steps: BTreeMap::new(),
    };
    let step = Step {
        ctx,
        txn,
        run: &run,
        flow: step_flow.as_ref().unwrap_or(&empty),
        now,
    };
    step.apply(conversation, &state, &next, actions, &mut effects)
        .await?;
    Ok(effects)
}

/// Whether a flow run may be going on in the conversation. A run only starts together with
/// the handler becoming `bot` (`trigger`, `transfer_to_flow`, in the same transaction), and
/// every path that hands the conversation to people (handover, escalation, an agent's
/// reply, a transfer to a team) finishes the runs, so with any other handler there is none.
fn bot_handles(conversation: &conversation::Model) -> bool {
    conversation.handler == Handler::Bot
}

/// The bot hands the conversation to people (a `handover` step, the visitor typing instead
/// of clicking, the flow gone, the chatbot limit reached): `escalate`, then the routing rules
/// pick the team and an agent, or queue it, exactly as for a conversation that started
/// without a bot. Every path from a bot to people goes through here. Answers the
/// conversation as stored when anything changed.
pub(crate) async fn hand_to_people(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    run: Option<uuid::Uuid>,
    context: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    let escalated = escalate(txn, conversation, run, context, now).await?;
    let current = escalated.clone().unwrap_or_else(|| conversation.clone());
    let routed = crate::services::routing::route_loaded(ctx, txn, current, now).await?;
    Ok(routed.or(escalated))
}

fn run_state(run: &flow_run::Model) -> RunState {
    RunState {
        current: run.current_step.clone(),
        interacted: run.interacted,
        finished: run.finished,
    }
}

fn preview(text: &str) -> String {
    MessageText::parse(text, usize::MAX)
        .map(|text| text.preview())
        .unwrap_or_default()
}

/// The flow a run follows, parsed; in a writer batch read and parsed once for all its clicks
/// (only the flow editor changes flows, and never inside a message write).
async fn running_flow(
    txn: &DatabaseTransaction,
    account_id: AccountId,
    flow_id: uuid::Uuid,
) -> Result<std::sync::Arc<Option<StoredFlow>>, ServiceError> {
    Ok(
        crate::services::writer::read_once_per_batch(flow_id, || async move {
            Ok::<_, sea_orm::DbErr>(
                storage::flows::find(txn, account_id.as_uuid(), flow_id)
                    .await?
                    .and_then(parse_flow),
            )
        })
        .await?,
    )
}

/// One step of a run being carried out inside a transaction.
pub(super) struct Step<'a> {
    pub(super) ctx: &'a Context,
    pub(super) txn: &'a DatabaseTransaction,
    pub(super) run: &'a flow_run::Model,
    pub(super) flow: &'a FlowDefinition,
    pub(super) now: DateTime<Utc>,
}

impl Step<'_> {
    /// Carries out the interpreter's actions, saves the run, counts the first interaction and
    /// applies a handover or an end.
    pub(super) async fn apply(
        &self,
        conversation: &conversation::Model,
        before: &RunState,
        after: &RunState,
        actions: Vec<Action>,
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        // Count first: when the last conversation of the period went to someone else, the bot
        // hands over instead of answering (rule 8).
        let first_interaction = after.interacted && !before.interacted;
        if first_interaction {
            match billing::count_conversation(
                self.txn,
                conversation.account_id,
                conversation.id,
                Some(self.run.flow_id),
                self.now,
            )
            .await?
            {
                Count::Counted => {
                    tracing::info!(conversation_id = %conversation.id, "chatbot conversation counted");
                    effects.counted = true;
                    if let Some(row) = storage::conversations::find_in_account(
                        self.txn,
                        conversation.account_id,
                        conversation.id,
                    )
                    .await?
                    {
                        effects.changed(row);
                    }
                }
                Count::AlreadyCounted => {}
                Count::LimitReached => {
                    return self.limit_reached(conversation, &actions, effects).await;
                }
            }
        }
        let mut handover = None;
        let mut end = false;
        for action in actions {
            match action {
                Action::Welcome { text } => {
                    self.say(conversation, &text, None, None, true, effects)
                        .await?;
                }
                Action::Say {
                    step_id,
                    text,
                    buttons,
                } => {
                    self.entered(&step_id).await?;
                    self.say(
                        conversation,
                        &text,
                        Some(&step_id),
                        Some(&buttons),
                        false,
                        effects,
                    )
                    .await?;
                }
                Action::Prompt { step_id, text } => {
                    self.entered(&step_id).await?;
                    self.say(conversation, &text, Some(&step_id), None, false, effects)
                        .await?;
                }
                Action::Reprompt {
                    step_id,
                    text,
                    reason,
                } => {
                    let text = format!("{reason} {text}");
                    self.say(conversation, &text, Some(&step_id), None, false, effects)
                        .await?;
                }
                Action::Clicked {
                    step_id, button_id, ..
                } => {
                    storage::flow_runs::add_event(
                        self.txn,
                        self.run,
                        &step_id,
                        Some(&button_id),
                        self.now,
                    )
                    .await?;
                }
                Action::Store { field, value } => {
                    self.store(conversation, &field, &value, effects).await?;
                }
                Action::Tag { step_id, tags } => {
                    self.entered(&step_id).await?;
                    let mut all = storage::conversations::tags(self.txn, conversation.id).await?;
                    all.extend(tags);
                    all.sort();
                    all.dedup();
                    storage::conversations::set_tags(self.txn, conversation.id, &all).await?;
                }
                Action::Handover {
                    step_id,
                    message,
                    context,
                    reason,
                } => {
                    if let Some(step_id) = &step_id {
                        self.entered(step_id).await?;
                    }
                    if let Some(message) = message {
                        self.say(
                            conversation,
                            &message,
                            step_id.as_deref(),
                            None,
                            false,
                            effects,
                        )
                        .await?;
                    }
                    handover = Some((context, reason));
                }
                Action::End { step_id, message } => {
                    self.entered(&step_id).await?;
                    if let Some(message) = message {
                        self.say(conversation, &message, Some(&step_id), None, false, effects)
                            .await?;
                    }
                    end = true;
                }
            }
        }
        storage::flow_runs::save_state(
            self.txn,
            self.run.id,
            after.current.as_deref(),
            first_interaction.then_some(self.now),
            after.finished,
        )
        .await?;
        if let Some((context, reason)) = handover {
            self.hand_over(conversation, context, reason, effects)
                .await?;
        }
        if end && let Some(row) = end_conversation(self.txn, conversation, self.now).await? {
            effects.changed(row);
        }
        Ok(())
    }

    /// The visitor's first click lost the race for the period's last chatbot conversation:
    /// not counted, no label; the click is recorded, the run ends escalated, and people take
    /// over with the note "Chatbot limit reached" (the visitor sees no error).
    async fn limit_reached(
        &self,
        conversation: &conversation::Model,
        actions: &[Action],
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        tracing::info!(conversation_id = %conversation.id, "chatbot limit reached; handing over");
        for action in actions {
            if let Action::Clicked {
                step_id, button_id, ..
            } = action
            {
                storage::flow_runs::add_event(
                    self.txn,
                    self.run,
                    step_id,
                    Some(button_id),
                    self.now,
                )
                .await?;
            }
        }
        // Not an interaction that counts: the run ends escalated, uncounted (insights too).
        storage::flow_runs::save_state(self.txn, self.run.id, None, None, true).await?;
        if let Some(row) = hand_to_people(
            self.ctx,
            self.txn,
            conversation,
            Some(self.run.id),
            None,
            self.now,
        )
        .await?
        {
            effects.changed(row);
        }
        for (text, internal) in [
            (LIMIT_REACHED_NOTE, true),
            (LIMIT_REACHED_VISITOR_TEXT, false),
        ] {
            self.append(
                conversation,
                system_message(
                    conversation,
                    text,
                    internal,
                    Some(self.run.flow_id),
                    self.now,
                ),
                effects,
            )
            .await?;
        }
        Ok(())
    }

    /// An internal note for agents.
    pub(super) async fn note(
        &self,
        conversation: &conversation::Model,
        text: &str,
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        self.append(
            conversation,
            system_message(conversation, text, true, Some(self.run.flow_id), self.now),
            effects,
        )
        .await
    }

    async fn entered(&self, step_id: &str) -> Result<(), ServiceError> {
        storage::flow_runs::add_event(self.txn, self.run, step_id, None, self.now).await?;
        Ok(())
    }

    /// Stores a bot message.
    async fn say(
        &self,
        conversation: &conversation::Model,
        text: &str,
        step_id: Option<&str>,
        buttons: Option<&[Button]>,
        welcome: bool,
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        let buttons = buttons
            .filter(|buttons| !buttons.is_empty())
            .map(|buttons| {
                let shown: Vec<crate::services::views::Button> = buttons
                    .iter()
                    .map(|button| crate::services::views::Button {
                        id: button.id.clone(),
                        label: button.label.clone(),
                        url: button.url.clone(),
                    })
                    .collect();
                serde_json::to_string(&shown)
            })
            .transpose()
            .context("encoding buttons")?;
        self.append(
            conversation,
            NewMessage {
                attachments: None,
                id: MessageId::generate().as_uuid(),
                account_id: conversation.account_id,
                conversation_id: conversation.id,
                client_id: format!("bot-{}", uuid::Uuid::now_v7().simple()),
                author_kind: AuthorKind::Bot,
                author_user_id: None,
                author_name: None,
                author_avatar: None,
                text: text.to_owned(),
                internal: false,
                buttons,
                flow_id: Some(self.run.flow_id.to_string()),
                step_id: step_id.map(str::to_owned),
                choice: None,
                welcome,
                created_at: self.now,
                preview: Some(preview(text)),
                unread: UnreadChange::Keep,
            },
            effects,
        )
        .await
    }

    async fn append(
        &self,
        conversation: &conversation::Model,
        message: NewMessage,
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        // A bot's client_id is fresh (a new UUID): nothing to look for first.
        let (stored, row) = storage::messages::append_unchecked(self.txn, message).await?;
        // A bot's message never starts a conversation: `started` is as it was.
        crate::services::webhooks::message_stored(self.txn, row.started, &stored, &row).await?;
        effects.messages.push(MessageView::from(stored));
        if row.id == conversation.id {
            effects.changed(*row);
        }
        Ok(())
    }

    /// A `collect` answer: stored on the contact (email, phone, name or a custom variable).
    async fn store(
        &self,
        conversation: &conversation::Model,
        field: &str,
        value: &str,
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        let Some(mut row) = storage::visitors::find_in_account(
            self.txn,
            conversation.account_id,
            conversation.visitor_id,
        )
        .await?
        else {
            return Ok(());
        };
        let before = row.clone();
        match field {
            "email" => row.email = Some(value.to_owned()),
            "phone" => row.phone = Some(value.to_owned()),
            "name" => row.name = Some(value.to_owned()),
            custom => {
                let key = custom.strip_prefix("custom:").unwrap_or(custom);
                let mut variables: BTreeMap<String, serde_json::Value> =
                    crate::services::stored_json("visitor variables", &row.variables)?;
                variables.insert(
                    key.to_owned(),
                    serde_json::json!({"label": key, "value": value}),
                );
                row.variables = serde_json::to_string(&variables).context("encoding variables")?;
            }
        }
        effects.visitor = Some(storage::visitors::save_changes(self.txn, &before, row).await?);
        Ok(())
    }

    /// Hands the conversation to people: context variables copied, handler human, every run
    /// without an outcome escalated, and a note for agents with what the bot learned.
    async fn hand_over(
        &self,
        conversation: &conversation::Model,
        context: BTreeMap<String, String>,
        reason: HandoverReason,
        effects: &mut Effects,
    ) -> Result<(), ServiceError> {
        let mut merged: BTreeMap<String, String> =
            crate::services::stored_json("conversation context", &conversation.context)?;
        merged.extend(context.clone());
        let encoded = serde_json::to_string(&merged).context("encoding context")?;
        if let Some(row) = hand_to_people(
            self.ctx,
            self.txn,
            conversation,
            Some(self.run.id),
            Some(encoded),
            self.now,
        )
        .await?
        {
            effects.changed(row);
        }
        let summary = self.summary(conversation, &context, reason).await?;
        self.append(
            conversation,
            system_message(
                conversation,
                &summary,
                true,
                Some(self.run.flow_id),
                self.now,
            ),
            effects,
        )
        .await
    }

    /// "Handed over by the bot (Support): chose Pricing → Talk to a person. Email: … Context: …"
    async fn summary(
        &self,
        conversation: &conversation::Model,
        context: &BTreeMap<String, String>,
        reason: HandoverReason,
    ) -> Result<String, ServiceError> {
        let mut text = match reason {
            HandoverReason::Step => format!("Handed over by the bot ({}).", self.flow.name),
            HandoverReason::VisitorTyped => format!(
                "The visitor wrote instead of choosing; the bot ({}) handed over.",
                self.flow.name
            ),
        };
        let choices: Vec<String> = storage::messages::latest(self.txn, conversation.id, false, 200)
            .await?
            .into_iter()
            .filter(|message| message.choice.is_some())
            .map(|message| message.text)
            .collect();
        if !choices.is_empty() {
            let start = choices.len().saturating_sub(SUMMARY_CHOICES);
            text.push_str(&format!(" Chose: {}.", choices[start..].join(" → ")));
        }
        if let Some(row) = storage::visitors::find_in_account(
            self.txn,
            conversation.account_id,
            conversation.visitor_id,
        )
        .await?
        {
            for (label, value) in [
                ("Name", row.name),
                ("Email", row.email),
                ("Phone", row.phone),
            ] {
                if let Some(value) = value {
                    text.push_str(&format!(" {label}: {value}."));
                }
            }
        }
        if !context.is_empty() {
            let pairs: Vec<String> = context.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text.push_str(&format!(" Context: {}.", pairs.join(", ")));
        }
        Ok(text)
    }
}
