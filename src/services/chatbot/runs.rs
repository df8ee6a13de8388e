//! Flow runs from start to outcome (DESIGN section 2, rules 2 to 5): a flow triggered by the
//! widget or transferred in by an agent or an external bot, the conversation counted once on
//! the first interaction, and each run's outcome when people take over or the conversation is
//! resolved.

use super::{
    Effects, StoredFlow,
    eligibility::{bot_may_join, eligible_flows},
    parse_flow, refused,
    steps::Step,
};
use crate::{
    domain::{
        conversation::{ConversationStatus, Handler},
        flow::interpreter::{self, Event, RunState},
        ids::{AccountId, ConversationId, FlowId, VisitorId},
    },
    services::{
        Context, ServiceError,
        billing::{self, Count},
        conversations::{new_conversation, publish_conversation},
    },
    storage::{
        self,
        conversations::ConversationChanges,
        entities::{conversation, flow_run, visitor},
        flow_runs::{ESCALATED_TO_HUMAN, RESOLVED_BY_CHATBOT, Runs},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

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
    actor: &crate::services::Actor,
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
    crate::services::bots::runtime::bot_left(txn, conversation, "transfer", now).await?;
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
    let stopped = crate::services::bots::runtime::people_took_over(txn, current, now).await?;
    Ok(stopped.or(escalated))
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
    let conversation =
        crate::services::bots::runtime::after_resolved(txn, conversation, now).await?;
    crate::services::reports::resolved(txn, &conversation, now).await?;
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
    crate::services::webhooks::conversation_resolved(txn, &row, now).await?;
    Ok(Some(row))
}

/// Escalates `run` and the runs still going on; sets the handler to human (and the
/// context variables, when given). Answers the conversation when anything changed.
pub(super) async fn escalate(
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
        crate::services::reports::reached_people(txn, row, now).await?;
        if escalated > 0 {
            crate::services::webhooks::conversation_escalated(txn, row, now).await?;
        }
    }
    Ok(changed)
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
        publish_conversation(ctx, &row).await;
    }
    Ok(count)
}

async fn begin(ctx: &Context) -> Result<DatabaseTransaction, ServiceError> {
    Ok(crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?)
}
