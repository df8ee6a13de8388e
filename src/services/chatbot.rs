//! The chatbot at run time (DESIGN sections 2, 3 and 5): which flows a visitor may see, a
//! flow triggered into a conversation, buttons clicked and questions answered, handover and
//! end, and the outcome of every run.
//!
//! The server has the last word: eligibility is checked again on `trigger`, and every change
//! happens in one transaction under the visitor's and the conversation's row locks, so a
//! double click, two tabs or an agent writing at the same instant see one consistent run.
//! Fan-out happens after commit.
//!
//! Counting (rules 2 and 3): the first interaction of a conversation records it once in
//! `chatbot_conversations` (primary key: the conversation) and labels it "Joined by chatbot",
//! in the same transaction as the click. (Billing makes the same step consume the limit.)

use super::{
    Context, ServiceError,
    billing::{self, Count},
    conversations::{
        Posted, Stored, client_id_taken, new_conversation, publish_conversation, publish_message,
        resend_of, system_message,
    },
    views::MessageView,
    visitors::publish_visitor,
};
use crate::{
    domain::{
        conversation::{AuthorKind, ClientId, ConversationStatus, Handler, MessageText},
        flow::{
            FlowDefinition,
            definition::{Button, When},
            interpreter::{self, Action, Event, HandoverReason, Refusal, RunState},
            targeting::{self, History, Visit},
        },
        ids::{AccountId, ConversationId, FlowId, MessageId, VisitorId},
    },
    metrics::Transaction,
    storage::{
        self,
        conversations::ConversationChanges,
        entities::{conversation, flow_run, visitor},
        flow_runs::{ESCALATED_TO_HUMAN, RESOLVED_BY_CHATBOT, Runs},
        messages::{NewMessage, UnreadChange},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use std::collections::BTreeMap;

/// The agents' note when a first click found no chatbot conversation left (rule 8).
pub const LIMIT_REACHED_NOTE: &str = "Chatbot limit reached";
/// What the visitor reads then: no error, just the handover.
pub(crate) const LIMIT_REACHED_VISITOR_TEXT: &str = "Connecting you to our team.";

/// Runs of a visitor looked at for the frequency rules.
const HISTORY_RUNS: u64 = 500;
/// Visitor choices quoted in the handover summary.
const SUMMARY_CHOICES: usize = 20;

/// A flow the widget may fire, and when (the widget watches `when`; the server decides).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TriggerView {
    #[schema(value_type = uuid::Uuid)]
    pub flow_id: FlowId,
    #[schema(value_type = Object)]
    pub when: When,
}

fn refused(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.to_owned(),
    }
}

fn stale() -> ServiceError {
    refused("stale_button", "this button is no longer active")
}

struct StoredFlow {
    id: FlowId,
    definition: FlowDefinition,
}

/// The flow a run follows, parsed; in a writer batch read and parsed once for all its clicks
/// (only the flow editor changes flows, and never inside a message write).
async fn running_flow(
    txn: &DatabaseTransaction,
    account_id: AccountId,
    flow_id: uuid::Uuid,
) -> Result<std::sync::Arc<Option<StoredFlow>>, ServiceError> {
    Ok(super::writer::read_once_per_batch(flow_id, || async move {
        Ok::<_, sea_orm::DbErr>(
            storage::flows::find(txn, account_id.as_uuid(), flow_id)
                .await?
                .and_then(parse_flow),
        )
    })
    .await?)
}

fn parse_flow(row: storage::entities::flow::Model) -> Option<StoredFlow> {
    match serde_json::from_str(&row.definition) {
        Ok(definition) => Some(StoredFlow {
            id: FlowId::from_uuid(row.id),
            definition,
        }),
        Err(error) => {
            tracing::warn!(%error, flow_id = %row.id, "a stored flow does not parse; skipped");
            None
        }
    }
}

/// Whether a bot may start in this (latest) conversation of the visitor: always in a new one;
/// in an open one only while nobody but the bot has spoken there. A newer flow replaces a run
/// in progress (the newest bot wins, as in Smartsupp); frequency keeps a flow from repeating.
fn bot_may_join(latest: Option<&conversation::Model>) -> bool {
    match latest {
        Some(row) if row.status == ConversationStatus::Open => {
            !row.started || row.handler == Handler::Bot
        }
        _ => true,
    }
}

/// The account's enabled flows that may trigger for this visitor now, highest priority first.
async fn eligible_flows(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
) -> Result<Vec<StoredFlow>, ServiceError> {
    // Nothing left this period (or a plan without chatbot): a plain live chat (rule 8).
    let (_, allowance) = billing::allowance(ctx, account_id.as_uuid()).await?;
    if allowance.remaining <= 0 {
        return Ok(Vec::new());
    }
    let visitor =
        storage::visitors::find_in_account(&ctx.db, account_id.as_uuid(), visitor_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let latest = storage::conversations::latest_of_visitor(&ctx.db, visitor.id).await?;
    if !bot_may_join(latest.as_ref()) {
        return Ok(Vec::new());
    }
    let flows: Vec<StoredFlow> = storage::flows::list(&ctx.db, account_id.as_uuid())
        .await?
        .into_iter()
        .filter(|row| row.enabled)
        // Highest priority first; saving refuses more, and an older database is cut here.
        .take(targeting::MAX_ENABLED_FLOWS)
        .filter_map(parse_flow)
        .collect();
    if flows.is_empty() {
        return Ok(flows);
    }
    let referrer = storage::visitors::recent_pages(&ctx.db, visitor.id, 1)
        .await?
        .into_iter()
        .next()
        .and_then(|page| page.referrer);
    let history = storage::flow_runs::history(&ctx.db, visitor.id, HISTORY_RUNS).await?;
    let inside_business_hours = match storage::accounts::find(&ctx.db, account_id.as_uuid()).await?
    {
        Some(account) => super::accounts::inside_business_hours(&account, ctx.clock.now()),
        None => true,
    };
    let visit = Visit {
        url: visitor.current_url.as_deref().unwrap_or_default(),
        title: visitor.current_title.as_deref().unwrap_or_default(),
        referrer: referrer.as_deref().unwrap_or_default(),
        visit_count: u32::try_from(visitor.visit_count.max(1)).unwrap_or(1),
        language: visitor.language.as_deref(),
        device: visitor.device.as_deref(),
        agents_online: ctx.hub.agents_online(account_id),
        inside_business_hours,
    };
    Ok(flows
        .into_iter()
        .filter(|flow| {
            let mine = history.iter().filter(|(id, _, _)| *id == flow.id.as_uuid());
            let this_session: Vec<_> = mine
                .clone()
                .filter(|(_, visit_number, _)| *visit_number == visitor.visit_count)
                .collect();
            let seen = History {
                ever: mine.count() > 0,
                this_session: !this_session.is_empty(),
                this_page: this_session
                    .iter()
                    .any(|(_, _, url)| Some(url.as_str()) == visitor.current_url.as_deref()),
            };
            targeting::eligible(&flow.definition, &visit, seen)
        })
        .collect())
}

/// The flows the widget may fire for this visitor now (the `triggers` of `welcome`).
pub async fn triggers(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
) -> Result<Vec<TriggerView>, ServiceError> {
    Ok(eligible_flows(ctx, account_id, visitor_id)
        .await?
        .into_iter()
        .map(|flow| TriggerView {
            flow_id: flow.id,
            when: flow.definition.trigger.when,
        })
        .collect())
}

/// What a bot step changed; published after commit.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) messages: Vec<MessageView>,
    pub(crate) visitor: Option<visitor::Model>,
    pub(crate) conversation: Option<conversation::Model>,
    /// A chatbot conversation was counted (for the metrics, once committed).
    pub(crate) counted: bool,
    /// External bots' events to send and typing to show, once committed.
    pub(crate) bots: super::bots::runtime::AfterCommit,
}

impl Effects {
    /// Sends the committed changes to the visitor's widgets and the account's agents.
    pub(crate) async fn publish(self, ctx: &Context, account_id: AccountId, visitor_id: VisitorId) {
        if self.counted {
            ctx.metrics.chatbot_conversation_counted();
        }
        self.bots.publish(ctx);
        for message in &self.messages {
            publish_message(ctx, account_id, visitor_id, message);
        }
        if let Some(row) = &self.visitor {
            publish_visitor(ctx, row, true);
        }
        if let Some(row) = &self.conversation
            && let Err(error) = publish_conversation(ctx, row).await
        {
            tracing::warn!(?error, "cannot publish a conversation change");
        }
    }

    pub(crate) fn changed(&mut self, row: conversation::Model) {
        self.conversation = Some(row);
    }
}

/// The visitor's widget says a flow's `when` held: start the flow (its welcome and first step).
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id, %flow_id))]
pub async fn trigger(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    flow_id: FlowId,
) -> Result<(), ServiceError> {
    let not_eligible = || refused("not_eligible", "this flow may not start now");
    let flow = eligible_flows(ctx, account_id, visitor_id)
        .await?
        .into_iter()
        .find(|flow| flow.id == flow_id)
        .ok_or_else(not_eligible)?;
    let now = ctx.clock.now();
    let txn = begin(ctx).await?;
    // The visitor's row lock: two triggers (or a trigger and a message) wait for each other.
    storage::visitors::touch(&txn, visitor_id.as_uuid(), now).await?;
    let visitor =
        storage::visitors::find_in_account(&txn, account_id.as_uuid(), visitor_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let latest = storage::conversations::latest_of_visitor(&txn, visitor.id).await?;
    if !bot_may_join(latest.as_ref()) {
        return Err(not_eligible());
    }
    let bot = ConversationChanges {
        handler: Some(Handler::Bot.as_str()),
        ..ConversationChanges::default()
    };
    let conversation = match latest {
        Some(row) if row.status == ConversationStatus::Open => {
            storage::conversations::update(&txn, row.account_id, row.id, bot)
                .await?
                .ok_or(ServiceError::NotFound)?
        }
        _ => {
            // Kept out of the inbox until the visitor does something (DESIGN section 5).
            let mut row = new_conversation(account_id, visitor_id, now, false);
            row.started = false;
            row.handler = Handler::Bot;
            storage::conversations::insert(&txn, row).await?
        }
    };
    let effects = start_run(ctx, &txn, &conversation, &visitor, &flow, now)
        .await?
        .ok_or_else(not_eligible)?;
    txn.commit().await.context("committing a triggered flow")?;
    tracing::info!("flow triggered");
    effects.publish(ctx, account_id, visitor_id).await;
    Ok(())
}

/// Starts `flow` in the conversation (inside the caller's transaction, which holds the
/// conversation's lock): a run in progress is replaced (its outcome is decided with the
/// conversation), and the welcome and first step are stored. None when the flow cannot start.
async fn start_run(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    visitor: &visitor::Model,
    flow: &StoredFlow,
    now: DateTime<Utc>,
) -> Result<Option<Effects>, ServiceError> {
    storage::flow_runs::finish_all(txn, conversation.id).await?;
    let run = storage::flow_runs::insert(
        txn,
        flow_run::Model {
            id: uuid::Uuid::now_v7(),
            account_id: conversation.account_id,
            flow_id: flow.id.as_uuid(),
            flow_name: flow.definition.name.clone(),
            conversation_id: conversation.id,
            visitor_id: visitor.id,
            visit_number: visitor.visit_count,
            page_url: visitor.current_url.clone().unwrap_or_default(),
            current_step: None,
            interacted: false,
            finished: false,
            outcome: None,
            triggered_at: now,
            interacted_at: None,
            outcome_at: None,
        },
    )
    .await?;
    let state = RunState::default();
    let Ok((next, actions)) = interpreter::advance(&flow.definition, &state, Event::Start) else {
        return Ok(None);
    };
    let mut effects = Effects::default();
    effects.changed(conversation.clone());
    let step = Step {
        ctx,
        txn,
        run: &run,
        flow: &flow.definition,
        now,
    };
    step.apply(conversation, &state, &next, actions, &mut effects)
        .await?;
    Ok(Some(effects))
}

/// An agent hands the conversation back to a bot flow: never the flow already running in it.
/// The bot takes over (handler `bot`) and sends the flow's welcome and first step.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id, %flow_id))]
pub async fn transfer_to_flow(
    ctx: &Context,
    actor: &super::Actor,
    conversation_id: ConversationId,
    flow_id: FlowId,
) -> Result<(), ServiceError> {
    let now = ctx.clock.now();
    let account = actor.account_id.as_uuid();
    let flow = storage::flows::find(&ctx.db, account, flow_id.as_uuid())
        .await?
        .and_then(parse_flow)
        .ok_or_else(|| {
            ServiceError::invalid(crate::domain::FieldError::new(
                "flow_id",
                "no flow of this account has this id",
            ))
        })?;
    let txn = begin(ctx).await?;
    let conversation = storage::conversations::update(
        &txn,
        account,
        conversation_id.as_uuid(),
        ConversationChanges {
            only_if_status: Some(ConversationStatus::Open.as_str()),
            last_activity_at: Some(now),
            ..ConversationChanges::default()
        },
    )
    .await?
    .ok_or_else(|| {
        refused(
            "conversation_closed",
            "only an open conversation can go to a bot",
        )
    })?;
    if storage::flow_runs::active(&txn, conversation.id)
        .await?
        .is_some_and(|run| run.flow_id == flow.id.as_uuid())
    {
        return Err(refused(
            "flow_running",
            "this flow is already running in the conversation; pick another flow",
        ));
    }
    let mut effects = start_flow_in(ctx, &txn, &conversation, flow.id, now)
        .await?
        .ok_or_else(|| refused("flow_running", "this flow cannot start"))?;
    let note = format!(
        "Transferred to the bot \u{201c}{}\u{201d} by {}",
        flow.definition.name, actor.name
    );
    let step_run = storage::flow_runs::active(&txn, conversation.id).await?;
    if let Some(run) = &step_run {
        Step {
            ctx,
            txn: &txn,
            run,
            flow: &flow.definition,
            now,
        }
        .note(&conversation, &note, &mut effects)
        .await?;
    }
    txn.commit()
        .await
        .context("committing a transfer to a bot")?;
    effects
        .publish(
            ctx,
            actor.account_id,
            VisitorId::from_uuid(conversation.visitor_id),
        )
        .await;
    Ok(())
}

/// Starts a flow in the conversation for an agent's or an external bot's transfer (inside the
/// caller's transaction, which holds the conversation's lock): an external bot in it leaves,
/// the handler becomes `bot`, and the flow's welcome and first step are sent. `None` when the
/// flow is not the account's or cannot start.
pub(crate) async fn start_flow_in(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    flow_id: FlowId,
    now: DateTime<Utc>,
) -> Result<Option<Effects>, ServiceError> {
    let account = conversation.account_id;
    let Some(flow) = storage::flows::find(txn, account, flow_id.as_uuid())
        .await?
        .and_then(parse_flow)
    else {
        return Ok(None);
    };
    let visitor = storage::visitors::find_in_account(txn, account, conversation.visitor_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    super::bots::runtime::bot_left(txn, conversation, "transfer", now).await?;
    let conversation = storage::conversations::update(
        txn,
        account,
        conversation.id,
        ConversationChanges {
            handler: Some(Handler::Bot.as_str()),
            ..ConversationChanges::default()
        },
    )
    .await?
    .ok_or(ServiceError::NotFound)?;
    start_run(ctx, txn, &conversation, &visitor, &flow, now).await
}

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
        let click = super::bots::runtime::Click {
            client_id: client_id.as_str(),
            button_id,
            now,
        };
        return super::bots::runtime::clicked(ctx, txn, &conversation, &session, click).await;
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
    super::conversations::after_stored(txn, started_before, &stored, &conversation).await?;
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
        super::bots::runtime::route_new(ctx, txn, conversation, &mut effects, now).await?;
        return Ok(effects);
    }
    let Some(run) = storage::flow_runs::active(txn, conversation.id).await? else {
        // No flow: an external bot may have the conversation.
        super::bots::runtime::visitor_wrote(ctx, txn, conversation, &mut effects, now).await?;
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

/// An agent replied (inside the reply's transaction): a run still going on is escalated to
/// a human (rule 5). Answers the conversation when it changed.
pub(crate) async fn after_agent_reply(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    let escalated = escalate(txn, conversation, None, None, now).await?;
    // An external bot in the conversation stops too: people have it.
    let current = escalated.as_ref().unwrap_or(conversation);
    let stopped = super::bots::runtime::people_took_over(txn, current, now).await?;
    Ok(stopped.or(escalated))
}

/// Whether a flow run may be going on in the conversation. A run only starts together with
/// the handler becoming `bot` (`trigger`, `transfer_to_flow`, in the same transaction), and
/// every path that hands the conversation to people (handover, escalation, an agent's
/// reply, a transfer to a team) finishes the runs, so with any other handler there is none.
fn bot_handles(conversation: &conversation::Model) -> bool {
    conversation.handler == Handler::Bot
}

/// The conversation was resolved (inside the same transaction): the runs the visitor
/// interacted with are resolved by chatbot when no person wrote in the conversation
/// (escalated to human when one did), the others end with no interaction. Answers the
/// conversation as stored.
pub(crate) async fn after_resolved(
    txn: &DatabaseTransaction,
    conversation: conversation::Model,
    now: DateTime<Utc>,
) -> Result<conversation::Model, ServiceError> {
    let human = storage::messages::has_agent_reply(txn, conversation.id).await?;
    let outcome = if human {
        ESCALATED_TO_HUMAN
    } else {
        RESOLVED_BY_CHATBOT
    };
    let decided =
        storage::flow_runs::decide(txn, conversation.id, outcome, Runs::Interacted, now).await?;
    storage::flow_runs::finish_all(txn, conversation.id).await?;
    let keep = conversation.outcome.as_deref() == Some(ESCALATED_TO_HUMAN)
        || (outcome == RESOLVED_BY_CHATBOT && conversation.outcome.is_some());
    let conversation = if decided == 0 || keep {
        conversation
    } else {
        let changes = ConversationChanges {
            outcome: Some(outcome),
            ..ConversationChanges::default()
        };
        storage::conversations::update(txn, conversation.account_id, conversation.id, changes)
            .await?
            .unwrap_or(conversation)
    };
    // An external bot in the conversation: its session's outcome, its `conversation.resolved`.
    let conversation = super::bots::runtime::after_resolved(txn, conversation, now).await?;
    super::reports::resolved(txn, &conversation, now).await?;
    Ok(conversation)
}

/// A bot's `end` (a flow's end step, an external bot's `end` action): the open conversation
/// is resolved, its runs' outcomes decided, webhook `conversation.resolved` sent. Answers the
/// conversation as stored when it was still open.
pub(crate) async fn end_conversation(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    let resolving = ConversationChanges {
        status: Some(ConversationStatus::Resolved.as_str()),
        resolved_at: Some(Some(now)),
        only_if_status: Some(ConversationStatus::Open.as_str()),
        ..ConversationChanges::default()
    };
    let Some(row) =
        storage::conversations::update(txn, conversation.account_id, conversation.id, resolving)
            .await?
    else {
        return Ok(None);
    };
    let row = after_resolved(txn, row, now).await?;
    super::webhooks::conversation_resolved(txn, &row, now).await?;
    Ok(Some(row))
}

/// Escalates `run` and the runs still going on; sets the handler to human (and the
/// context variables, when given). Answers the conversation when anything changed.
async fn escalate(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
    run: Option<uuid::Uuid>,
    context: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    let escalated = storage::flow_runs::decide(
        txn,
        conversation.id,
        ESCALATED_TO_HUMAN,
        Runs::ActiveAnd(run),
        now,
    )
    .await?;
    storage::flow_runs::finish_all(txn, conversation.id).await?;
    if escalated == 0 && context.is_none() {
        return Ok(None);
    }
    let changes = ConversationChanges {
        handler: Some(Handler::Human.as_str()),
        outcome: (escalated > 0).then_some(ESCALATED_TO_HUMAN),
        context,
        ..ConversationChanges::default()
    };
    let changed =
        storage::conversations::update(txn, conversation.account_id, conversation.id, changes)
            .await?;
    if let Some(row) = &changed {
        super::reports::reached_people(txn, row, now).await?;
        if escalated > 0 {
            super::webhooks::conversation_escalated(txn, row, now).await?;
        }
    }
    Ok(changed)
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
    let routed = super::routing::route_loaded(ctx, txn, current, now).await?;
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

async fn begin(ctx: &Context) -> Result<DatabaseTransaction, ServiceError> {
    Ok(crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?)
}

/// One step of a run being carried out inside a transaction.
struct Step<'a> {
    ctx: &'a Context,
    txn: &'a DatabaseTransaction,
    run: &'a flow_run::Model,
    flow: &'a FlowDefinition,
    now: DateTime<Utc>,
}

impl Step<'_> {
    /// Carries out the interpreter's actions, saves the run, counts the first interaction and
    /// applies a handover or an end.
    async fn apply(
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
    async fn note(
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
                let shown: Vec<super::views::Button> = buttons
                    .iter()
                    .map(|button| super::views::Button {
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
        super::webhooks::message_stored(self.txn, row.started, &stored, &row).await?;
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
                    super::stored_json("visitor variables", &row.variables)?;
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
            super::stored_json("conversation context", &conversation.context)?;
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

/// Records the visitor's first interaction with a bot in the conversation, on its own (the
/// runtime does the same inside the click's transaction): counted at most once, and never
/// over the period's limit.
#[tracing::instrument(skip_all, fields(%account_id, %conversation_id))]
pub async fn record_interaction(
    ctx: &Context,
    account_id: AccountId,
    conversation_id: ConversationId,
    flow_id: Option<FlowId>,
) -> Result<Count, ServiceError> {
    let txn = begin(ctx).await?;
    storage::conversations::find_in_account(&txn, account_id.as_uuid(), conversation_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let count = billing::count_conversation(
        &txn,
        account_id.as_uuid(),
        conversation_id.as_uuid(),
        flow_id.map(|id| id.as_uuid()),
        ctx.clock.now(),
    )
    .await?;
    txn.commit()
        .await
        .context("committing a chatbot conversation")?;
    if count == Count::Counted {
        ctx.metrics.chatbot_conversation_counted();
    }
    if count == Count::Counted
        && let Some(row) = storage::conversations::find_in_account(
            &ctx.db,
            account_id.as_uuid(),
            conversation_id.as_uuid(),
        )
        .await?
    {
        publish_conversation(ctx, &row).await?;
    }
    Ok(count)
}
