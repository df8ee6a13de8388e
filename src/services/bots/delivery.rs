//! Sends bots their events: in order per conversation (a conversation's next event waits
//! until the one before it is delivered or given up), signed like webhooks
//! (`Frontdesk-Signature`), within the bot's `timeout_ms`, retried with the webhooks' backoff,
//! and durable (the outbox row outlives a crash; a claim that dies with its node runs out).
//!
//! A 2xx answer's body may carry actions (`{"actions": [...]}`): they are carried out in the
//! same transaction that records the delivery, so an answer is applied once. A bot that times
//! out, answers 5xx or malformed JSON, or is disabled hands the conversation to people with a
//! note naming the cause (for the events it was expected to answer); the event is still
//! retried, so the bot's record of the conversation stays complete.

use super::runtime;
use crate::{
    domain::{bot as rules, webhook},
    services::{Context, ServiceError, chatbot::Effects},
    storage::{self, entities::bot_event, webhooks::Attempt},
};
use anyhow::Context as _;
use chrono::Duration;
use futures_util::StreamExt;
use std::collections::HashSet;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Pending events one round looks at.
const BATCH: u64 = 200;
/// Conversations served at once, so one slow bot does not hold up the others.
const CONCURRENT_CONVERSATIONS: usize = 8;
/// How long a claimed event stays claimed: longer than the longest timeout a bot may have.
const LEASE: Duration = Duration::seconds(60);
/// Largest answer body read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Longest error text kept for an attempt.
const MAX_ERROR_CHARS: usize = 300;

/// The HTTP client bots are called with: no redirects (a 3xx is not an answer); each request
/// carries its bot's timeout.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_millis(
            u64::try_from(rules::MAX_TIMEOUT_MS).unwrap_or(30_000),
        ))
        .user_agent(concat!("Frontdesk-Bots/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the bots' HTTP client")
}

/// One client for the node (connection reuse).
fn shared_client() -> Option<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| match http_client() {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::error!(?error, "bot delivery is off: no HTTP client");
                None
            }
        })
        .as_ref()
}

/// Sends a conversation's due events now, in the background (after a commit that recorded
/// some), instead of at the job's next round.
pub(crate) fn kick(ctx: &Context, conversation_id: uuid::Uuid) {
    let Some(client) = shared_client() else {
        return;
    };
    let ctx = ctx.clone();
    tokio::spawn(async move {
        if let Err(error) = deliver_conversation(&ctx, client, conversation_id).await {
            tracing::warn!(?error, %conversation_id, "bot events could not be sent");
        }
    });
}

/// One round of the delivery job: every conversation whose first pending event is due gets
/// its due events sent, in order. Answers how many conversations it served.
#[tracing::instrument(skip_all)]
pub async fn deliver_due(ctx: &Context, client: &reqwest::Client) -> Result<usize, ServiceError> {
    let now = ctx.clock.now();
    let pending = storage::bots::pending(&ctx.db, BATCH).await?;
    let mut seen = HashSet::new();
    // A conversation's first pending event decides: later ones wait behind it.
    let due: Vec<uuid::Uuid> = pending
        .into_iter()
        .filter(|row| seen.insert(row.conversation_id))
        .filter(|row| row.next_attempt_at <= now)
        .map(|row| row.conversation_id)
        .collect();
    let served = due.len();
    futures_util::stream::iter(due)
        .for_each_concurrent(CONCURRENT_CONVERSATIONS, |conversation_id| async move {
            if let Err(error) = deliver_conversation(ctx, client, conversation_id).await {
                tracing::warn!(?error, %conversation_id, "bot events could not be sent");
            }
        })
        .await;
    Ok(served)
}

/// Sends the conversation's pending events one after the other while the first is due and
/// this node wins its claim.
async fn deliver_conversation(
    ctx: &Context,
    client: &reqwest::Client,
    conversation_id: uuid::Uuid,
) -> Result<(), ServiceError> {
    loop {
        let now = ctx.clock.now();
        let Some(event) = storage::bots::first_pending_of(&ctx.db, conversation_id).await? else {
            return Ok(());
        };
        if event.next_attempt_at > now
            || !storage::bots::claim(&ctx.db, event.id, now, now + LEASE).await?
        {
            return Ok(());
        }
        let delivered = send(ctx, client, event).await?;
        if !delivered {
            // Retried later: the conversation's later events wait behind it.
            return Ok(());
        }
    }
}

/// What one attempt got.
enum Answer {
    /// 2xx with valid actions (maybe none).
    Actions(Vec<rules::BotAction>),
    /// 2xx, but the body is not `{"actions": [...]}` (the bot did receive the event).
    Malformed(String),
    /// No usable answer: timed out, could not connect, non-2xx.
    Failed { status: Option<i32>, cause: String },
}

/// Sends one claimed event and records the attempt. Answers whether it is done (delivered or
/// given up), so the conversation's next event may go.
async fn send(
    ctx: &Context,
    client: &reqwest::Client,
    event: bot_event::Model,
) -> Result<bool, ServiceError> {
    let Some(bot) = storage::bots::find_by_id(&ctx.db, event.bot_id).await? else {
        // Deleted meanwhile: the cascade removes its events too.
        return Ok(true);
    };
    let attempts = event.attempts.saturating_add(1);
    let answer = if bot.enabled {
        call(ctx, client, &bot, &event, attempts).await
    } else {
        Answer::Failed {
            status: None,
            cause: "the bot is disabled".to_owned(),
        }
    };
    let done = ctx.clock.now();
    tracing::info!(event_id = %event.id, bot_id = %bot.id, kind = %event.kind, attempts, "bot event attempt");
    match answer {
        Answer::Actions(actions) => {
            let delivered = Attempt {
                status: DELIVERED,
                attempts,
                next_attempt_at: done,
                last_status_code: Some(200),
                last_error: None,
                at: done,
                delivered_at: Some(done),
            };
            match answered(ctx, &bot, &event, actions, delivered.clone()).await {
                Ok(()) => {}
                // The bot asked for something refused (e.g. `same_bot`): people take over.
                Err(error @ (ServiceError::Invalid(_) | ServiceError::Refused { .. })) => {
                    let cause = format!("its answer was refused: {}", describe_refusal(&error));
                    let attempt = Attempt {
                        last_error: Some(truncate(&cause)),
                        ..delivered
                    };
                    failed(ctx, &bot, &event, &cause, attempt).await?;
                }
                Err(error) => return Err(error),
            }
            Ok(true)
        }
        Answer::Malformed(cause) => {
            let attempt = Attempt {
                status: DELIVERED,
                attempts,
                next_attempt_at: done,
                last_status_code: Some(200),
                last_error: Some(truncate(&cause)),
                at: done,
                delivered_at: Some(done),
            };
            failed(ctx, &bot, &event, &cause, attempt).await?;
            Ok(true)
        }
        Answer::Failed { status, cause } => {
            let base = Duration::seconds(
                i64::try_from(ctx.settings.webhook_retry_base_seconds).unwrap_or(i64::MAX),
            );
            let next = webhook::next_attempt(done, attempts, base, rand::random::<f64>());
            let attempt = Attempt {
                status: if next.is_some() { PENDING } else { FAILED },
                attempts,
                next_attempt_at: next.unwrap_or(done),
                last_status_code: status,
                last_error: Some(truncate(&cause)),
                at: done,
                delivered_at: None,
            };
            failed(ctx, &bot, &event, &cause, attempt).await?;
            Ok(next.is_none())
        }
    }
}

/// POSTs the event, signed, within the bot's timeout.
async fn call(
    ctx: &Context,
    client: &reqwest::Client,
    bot: &storage::entities::bot::Model,
    event: &bot_event::Model,
    attempts: i32,
) -> Answer {
    let timeout_ms = u64::try_from(bot.timeout_ms.max(rules::MIN_TIMEOUT_MS)).unwrap_or(5_000);
    let signature = webhook::signature_header(
        &bot.secret,
        ctx.clock.now().timestamp(),
        event.payload.as_bytes(),
    );
    let request = client
        .post(&bot.url)
        .timeout(std::time::Duration::from_millis(timeout_ms))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Frontdesk-Signature", signature)
        .header("Frontdesk-Event", event.kind.as_str())
        .header("Frontdesk-Event-Id", event.id.to_string())
        .header("Frontdesk-Attempt", attempts.to_string())
        .body(event.payload.clone());
    let timed_out = || format!("timed out after {timeout_ms} ms");
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return Answer::Failed {
                status: None,
                cause: timed_out(),
            };
        }
        Err(error) => {
            let kind = if error.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            return Answer::Failed {
                status: None,
                cause: format!("{kind}: {error}"),
            };
        }
    };
    let status = response.status();
    let code = i32::from(status.as_u16());
    if !status.is_success() {
        return Answer::Failed {
            status: Some(code),
            cause: format!("answered HTTP {code}"),
        };
    }
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) if error.is_timeout() => {
            return Answer::Failed {
                status: Some(code),
                cause: timed_out(),
            };
        }
        Err(error) => {
            return Answer::Failed {
                status: Some(code),
                cause: format!("the answer could not be read: {error}"),
            };
        }
    };
    if body.len() > MAX_ANSWER_BYTES {
        return Answer::Malformed(format!("answered more than {MAX_ANSWER_BYTES} bytes"));
    }
    match rules::parse_answer(&body, ctx.settings.max_message_chars) {
        Ok(actions) => Answer::Actions(actions),
        Err(problems) => {
            let details: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect();
            Answer::Malformed(format!("answered malformed JSON ({})", details.join("; ")))
        }
    }
}

/// A 2xx answer: its actions are carried out (while the bot still has the conversation) in
/// the transaction that records the delivery.
async fn answered(
    ctx: &Context,
    bot: &storage::entities::bot::Model,
    event: &bot_event::Model,
    actions: Vec<rules::BotAction>,
    attempt: Attempt,
) -> Result<(), ServiceError> {
    let now = ctx.clock.now();
    let txn = storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    let conversation = runtime::lock(&txn, event.account_id, event.conversation_id).await?;
    let session = match &conversation {
        Some(_) => storage::bots::active_session(&txn, event.conversation_id)
            .await?
            .filter(|session| session.bot_id == bot.id),
        None => None,
    };
    let mut effects = Effects::default();
    if let (Some(conversation), Some(session)) = (&conversation, &session)
        && !actions.is_empty()
    {
        runtime::apply(
            runtime::Turn {
                ctx,
                txn: &txn,
                now,
            },
            bot,
            session,
            conversation,
            actions,
            &mut effects,
        )
        .await?;
    } else if !actions.is_empty() {
        tracing::info!(event_id = %event.id, "a bot answered for a conversation it no longer has; actions dropped");
    }
    storage::bots::record_attempt(&txn, event.id, attempt).await?;
    txn.commit().await.context("committing a bot's answer")?;
    if let Some(conversation) = &conversation {
        runtime::publish(ctx, conversation, effects).await;
    }
    Ok(())
}

/// Records a failed attempt and, for an event the bot was expected to answer while it still
/// has the conversation, hands the conversation to people with a note naming `cause`.
async fn failed(
    ctx: &Context,
    bot: &storage::entities::bot::Model,
    event: &bot_event::Model,
    cause: &str,
    attempt: Attempt,
) -> Result<(), ServiceError> {
    let now = ctx.clock.now();
    let txn = storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    let mut effects = Effects::default();
    let conversation = runtime::lock(&txn, event.account_id, event.conversation_id).await?;
    if event.expects_answer
        && let Some(conversation) = &conversation
        && let Some(session) = storage::bots::active_session(&txn, conversation.id)
            .await?
            .filter(|session| session.bot_id == bot.id)
    {
        runtime::fail(
            runtime::Turn {
                ctx,
                txn: &txn,
                now,
            },
            conversation,
            &session,
            bot,
            cause,
            &mut effects,
        )
        .await?;
    }
    storage::bots::record_attempt(&txn, event.id, attempt).await?;
    txn.commit().await.context("committing a bot's failure")?;
    if let Some(conversation) = &conversation {
        runtime::publish(ctx, conversation, effects).await;
    }
    Ok(())
}

fn describe_refusal(error: &ServiceError) -> String {
    match error {
        ServiceError::Refused { code, message } => format!("{code}: {message}"),
        ServiceError::Invalid(problems) => problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}
