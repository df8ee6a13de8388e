//! Webhooks (DESIGN section 7): endpoints managed by owners and admins, events recorded in the
//! transaction of the change they describe together with one outbox row per subscribed
//! endpoint (so a crash never loses a delivery), and the delivery of due outbox rows, signed,
//! retried with exponential backoff, each attempt logged.
//!
//! Conversation events cost one indexed lookup (the account's enabled endpoints) when nobody
//! listens: no event row is written then. Billing events are always recorded.

use super::{Actor, Context, ServiceError, views::MessageView};
use crate::{
    domain::{
        FieldError,
        role::Role,
        webhook::{self, EndpointUrl, Subscription},
    },
    metrics::SendOutcome,
    storage::{
        self,
        entities::{conversation, event, message, webhook_delivery, webhook_endpoint},
        webhooks::Attempt,
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// Deliveries one round of the job claims; more wait for the next round.
const BATCH: u64 = 50;
/// Deliveries sent at once, so one slow receiver does not hold up the others.
const CONCURRENT_SENDS: usize = 8;
/// How long a claimed delivery stays claimed: longer than a send can take (the timeout), so a
/// node that died while sending leaves it to another node after this.
const LEASE: Duration = Duration::seconds(60);
/// The longest a receiver may take to answer.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Rows shown in a delivery log.
const LOG_LIMIT: u64 = 100;
/// Longest error text kept for a failed attempt.
const MAX_ERROR_CHARS: usize = 300;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// An endpoint as the API and the settings page show it, secret included (owners and admins
/// need it to verify signatures).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    pub url: String,
    pub description: String,
    /// Event names, or `["*"]` for every event.
    pub events: Vec<String>,
    pub enabled: bool,
    /// `whsec_…`: verify `Frontdesk-Signature` with it.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_endpoint::Model> for EndpointView {
    fn from(row: webhook_endpoint::Model) -> Self {
        Self {
            id: row.id,
            events: Subscription::from_stored(&row.events).names(),
            url: row.url,
            description: row.description,
            enabled: row.enabled,
            secret: row.secret,
            created_at: row.created_at,
        }
    }
}

/// A new endpoint: `events` absent, empty or `["*"]` subscribes to every event.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub url: String,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One delivery of one event to one endpoint, with its latest attempt.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    #[schema(value_type = uuid::Uuid)]
    pub endpoint_id: uuid::Uuid,
    pub endpoint_url: String,
    #[schema(value_type = uuid::Uuid)]
    pub event_id: uuid::Uuid,
    /// The event's type, e.g. `message.created`.
    pub event: String,
    /// `pending`, `delivered` or `failed` (given up after the last attempt).
    pub status: String,
    pub attempts: i32,
    /// The HTTP status of the latest attempt; none when it got no answer.
    pub last_status_code: Option<i32>,
    /// Why the latest attempt failed, when it got no answer.
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When a pending delivery is sent next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The endpoints of the actor's account (owner, admin).
pub async fn endpoints(ctx: &Context, actor: &Actor) -> Result<Vec<EndpointView>, ServiceError> {
    actor.require(Role::Admin)?;
    Ok(
        storage::webhooks::endpoints(&ctx.db, actor.account_id.as_uuid())
            .await?
            .into_iter()
            .map(EndpointView::from)
            .collect(),
    )
}

/// Adds an endpoint with a fresh secret (owner, admin).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn create_endpoint(
    ctx: &Context,
    actor: &Actor,
    input: EndpointInput,
) -> Result<EndpointView, ServiceError> {
    actor.require(Role::Admin)?;
    let mut problems = Vec::new();
    let url = EndpointUrl::parse("url", &input.url)
        .map_err(|e| problems.push(e))
        .ok();
    let events = Subscription::parse("events", input.events.as_deref())
        .map_err(|e| problems.push(e))
        .ok();
    let description = input.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > webhook::MAX_DESCRIPTION_CHARS {
        problems.push(FieldError::new(
            "description",
            format!(
                "must be at most {} characters",
                webhook::MAX_DESCRIPTION_CHARS
            ),
        ));
    }
    let (Some(url), Some(events), true) = (url, events, problems.is_empty()) else {
        return Err(ServiceError::Invalid(problems));
    };
    let row = storage::webhooks::insert_endpoint(
        &ctx.db,
        webhook_endpoint::Model {
            id: uuid::Uuid::now_v7(),
            account_id: actor.account_id.as_uuid(),
            url: url.as_str().to_owned(),
            secret: format!("whsec_{}", super::random_text(32)),
            description,
            events: events.to_stored(),
            enabled: true,
            created_at: ctx.clock.now(),
        },
    )
    .await?;
    tracing::info!(endpoint_id = %row.id, "webhook endpoint added");
    Ok(row.into())
}

pub async fn endpoint(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
) -> Result<EndpointView, ServiceError> {
    actor.require(Role::Admin)?;
    storage::webhooks::find_endpoint(&ctx.db, actor.account_id.as_uuid(), id)
        .await?
        .map(EndpointView::from)
        .ok_or(ServiceError::NotFound)
}

/// Removes an endpoint and its deliveries (owner, admin).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %id))]
pub async fn delete_endpoint(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    if storage::webhooks::delete_endpoint(&ctx.db, actor.account_id.as_uuid(), id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// The delivery log of the account, or of one of its endpoints, newest first (owner, admin).
pub async fn deliveries(
    ctx: &Context,
    actor: &Actor,
    endpoint_id: Option<uuid::Uuid>,
) -> Result<Vec<DeliveryView>, ServiceError> {
    actor.require(Role::Admin)?;
    let account_id = actor.account_id.as_uuid();
    if let Some(id) = endpoint_id {
        storage::webhooks::find_endpoint(&ctx.db, account_id, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
    }
    let rows = storage::webhooks::deliveries(&ctx.db, account_id, endpoint_id, LOG_LIMIT).await?;
    let kinds: HashMap<uuid::Uuid, String> =
        storage::webhooks::events_by_id(&ctx.db, rows.iter().map(|row| row.event_id).collect())
            .await?
            .into_iter()
            .map(|event| (event.id, event.kind))
            .collect();
    let urls: HashMap<uuid::Uuid, String> = storage::webhooks::endpoints(&ctx.db, account_id)
        .await?
        .into_iter()
        .map(|endpoint| (endpoint.id, endpoint.url))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| DeliveryView {
            id: row.id,
            endpoint_id: row.endpoint_id,
            endpoint_url: urls.get(&row.endpoint_id).cloned().unwrap_or_default(),
            event_id: row.event_id,
            event: kinds.get(&row.event_id).cloned().unwrap_or_default(),
            next_attempt_at: (row.status == PENDING).then_some(row.next_attempt_at),
            status: row.status,
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            last_attempt_at: row.last_attempt_at,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
        })
        .collect())
}

/// Queues a `webhook.test` event to one endpoint only (owner, admin); the job sends it.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %id))]
pub async fn send_test(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
) -> Result<DeliveryView, ServiceError> {
    actor.require(Role::Admin)?;
    let account_id = actor.account_id.as_uuid();
    let now = ctx.clock.now();
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    let endpoint = storage::webhooks::find_endpoint(&txn, account_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let event = new_event(
        account_id,
        webhook::TEST_EVENT,
        serde_json::json!({"endpoint_id": endpoint.id, "message": "A test event from Frontdesk"}),
        None,
        now,
    );
    storage::billing::record_event(&txn, event.clone()).await?;
    let delivery = enqueue(&txn, &endpoint, &event).await?;
    txn.commit().await.context("committing a test event")?;
    deliveries(ctx, actor, Some(endpoint.id))
        .await?
        .into_iter()
        .find(|row| row.id == delivery)
        .ok_or_else(|| ServiceError::Unexpected(anyhow::anyhow!("a queued delivery vanished")))
}

fn new_event(
    account_id: uuid::Uuid,
    kind: &str,
    data: serde_json::Value,
    dedupe_key: Option<String>,
    now: DateTime<Utc>,
) -> event::Model {
    event::Model {
        id: uuid::Uuid::now_v7(),
        account_id,
        kind: kind.to_owned(),
        payload: data.to_string(),
        dedupe_key,
        created_at: now,
    }
}

async fn enqueue(
    conn: &impl ConnectionTrait,
    endpoint: &webhook_endpoint::Model,
    event: &event::Model,
) -> Result<uuid::Uuid, ServiceError> {
    let id = uuid::Uuid::now_v7();
    storage::webhooks::insert_delivery(
        conn,
        webhook_delivery::Model {
            id,
            account_id: event.account_id,
            endpoint_id: endpoint.id,
            event_id: event.id,
            status: PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: event.created_at,
            last_status_code: None,
            last_error: None,
            last_attempt_at: None,
            delivered_at: None,
            created_at: event.created_at,
        },
    )
    .await?;
    Ok(id)
}

/// The account's enabled endpoints: read once per batch of messages on the writer.
async fn enabled_endpoints(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
) -> Result<std::sync::Arc<Vec<webhook_endpoint::Model>>, ServiceError> {
    Ok(super::writer::read_once_per_batch(account_id, || {
        storage::webhooks::enabled_endpoints(conn, account_id)
    })
    .await?)
}

/// The enabled endpoints of the account that subscribe to `kind`.
async fn subscribers(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
    kind: &str,
) -> Result<Vec<webhook_endpoint::Model>, ServiceError> {
    Ok(enabled_endpoints(conn, account_id)
        .await?
        .iter()
        .filter(|endpoint| Subscription::from_stored(&endpoint.events).includes(kind))
        .cloned()
        .collect())
}

/// Records an event that is kept whether or not anybody listens (billing's), inside the
/// caller's transaction, and queues it to every subscribed endpoint. One with a `dedupe_key`
/// already recorded is neither recorded nor queued again. Answers whether it was recorded.
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
    kind: &str,
    data: serde_json::Value,
    dedupe_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    let event = new_event(account_id, kind, data, dedupe_key, now);
    if !storage::billing::record_event(conn, event.clone()).await? {
        return Ok(false);
    }
    for endpoint in subscribers(conn, account_id, kind).await? {
        enqueue(conn, &endpoint, &event).await?;
    }
    Ok(true)
}

/// Records an event only when one of `endpoints` (the account's enabled endpoints) subscribes
/// to it, and queues it to those, inside the caller's transaction.
async fn emit_to(
    conn: &impl ConnectionTrait,
    endpoints: &[webhook_endpoint::Model],
    account_id: uuid::Uuid,
    kind: &str,
    data: impl FnOnce() -> serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let subscribed: Vec<&webhook_endpoint::Model> = endpoints
        .iter()
        .filter(|endpoint| Subscription::from_stored(&endpoint.events).includes(kind))
        .collect();
    if subscribed.is_empty() {
        return Ok(());
    }
    let event = new_event(account_id, kind, data(), None, now);
    storage::billing::record_event(conn, event.clone()).await?;
    for endpoint in subscribed {
        enqueue(conn, endpoint, &event).await?;
    }
    Ok(())
}

/// `emit_to` the account's enabled endpoints: one indexed lookup when nobody listens.
async fn emit(
    conn: &impl ConnectionTrait,
    account_id: uuid::Uuid,
    kind: &str,
    data: impl FnOnce() -> serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let endpoints = enabled_endpoints(conn, account_id).await?;
    emit_to(conn, &endpoints, account_id, kind, data, now).await
}

/// A conversation as webhook payloads show it.
fn conversation_data(row: &conversation::Model) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "visitor_id": row.visitor_id,
        "status": row.status,
        "handler": row.handler,
        "assignee_id": row.assignee_id,
        "team_id": row.team_id,
        "offline": row.offline,
        "joined_by_chatbot": row.joined_by_chatbot,
        "outcome": row.outcome,
        "created_at": row.created_at,
        "resolved_at": row.resolved_at,
    })
}

/// A message was stored (inside its transaction). The conversation it starts (the visitor or
/// an agent does something for the first time in it) is `conversation.created`; a message of
/// a started conversation that is not an internal note is `message.created`. A bot's greeting
/// in a conversation the visitor has not touched yet is neither (it is not in the inbox).
pub(crate) async fn message_stored(
    conn: &impl ConnectionTrait,
    started_before: bool,
    stored: &message::Model,
    conversation: &conversation::Model,
) -> Result<(), ServiceError> {
    message_stored_with_files(conn, started_before, stored, conversation, None).await
}

/// `message_stored` for a message that may carry files: their views in `message.created` get
/// signed, expiring `download_url`s made with `links`.
pub(crate) async fn message_stored_with_files(
    conn: &impl ConnectionTrait,
    started_before: bool,
    stored: &message::Model,
    conversation: &conversation::Model,
    links: Option<&super::attachments::FileLinks>,
) -> Result<(), ServiceError> {
    if !conversation.started || (started_before && stored.internal) {
        // Nothing to send, so no lookup either (a bot's greeting, a note).
        return Ok(());
    }
    let now = stored.created_at;
    let account_id = conversation.account_id;
    // One lookup for both events.
    let endpoints = enabled_endpoints(conn, account_id).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    if !started_before {
        let data = || serde_json::json!({"conversation": conversation_data(conversation)});
        emit_to(
            conn,
            &endpoints,
            account_id,
            "conversation.created",
            data,
            now,
        )
        .await?;
    }
    if !stored.internal {
        let data = || {
            let mut message = MessageView::from(stored.clone());
            if let Some(links) = links {
                links.sign_all(&mut message.attachments, now);
            }
            serde_json::json!({
                "conversation_id": conversation.id,
                "message": message,
            })
        };
        emit_to(conn, &endpoints, account_id, "message.created", data, now).await?;
    }
    Ok(())
}

/// The bot handed the conversation to people (inside the handover's transaction).
pub(crate) async fn conversation_escalated(
    conn: &impl ConnectionTrait,
    conversation: &conversation::Model,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    emit(
        conn,
        conversation.account_id,
        "conversation.escalated",
        || serde_json::json!({"conversation": conversation_data(conversation)}),
        now,
    )
    .await
}

/// The conversation was resolved by an agent, the API, the inactivity job or a flow (inside
/// the resolve's transaction).
pub(crate) async fn conversation_resolved(
    conn: &impl ConnectionTrait,
    conversation: &conversation::Model,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    emit(
        conn,
        conversation.account_id,
        "conversation.resolved",
        || serde_json::json!({"conversation": conversation_data(conversation)}),
        now,
    )
    .await
}

/// The HTTP client of the delivery job: no redirects (a 3xx is not an acknowledgement) and a
/// short timeout.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .connect_timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Frontdesk-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the webhook HTTP client")
}

/// One round of the delivery job: claims due deliveries and sends them. Answers how many it
/// attempted.
#[tracing::instrument(skip_all)]
pub async fn deliver_due(ctx: &Context, client: &reqwest::Client) -> Result<usize, ServiceError> {
    let due = storage::webhooks::due(&ctx.db, ctx.clock.now(), BATCH).await?;
    let attempted = std::sync::atomic::AtomicUsize::new(0);
    let attempted_ref = &attempted;
    futures_util::stream::iter(due)
        .for_each_concurrent(CONCURRENT_SENDS, |row| async move {
            let id = row.id;
            // Claimed right before its send, so its lease (longer than one send's timeout)
            // cannot run out while earlier sends of the batch wait on slow receivers.
            let now = ctx.clock.now();
            match storage::webhooks::claim(&ctx.db, id, now, now + LEASE).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(?error, delivery_id = %id, "a webhook delivery could not be claimed");
                    return;
                }
            }
            attempted_ref.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Err(error) = deliver(ctx, client, row).await {
                tracing::warn!(?error, delivery_id = %id, "a webhook delivery could not be recorded");
            }
        })
        .await;
    Ok(attempted.into_inner())
}

/// Sends one claimed delivery and records the attempt.
async fn deliver(
    ctx: &Context,
    client: &reqwest::Client,
    row: webhook_delivery::Model,
) -> Result<(), ServiceError> {
    let endpoint = storage::webhooks::find_endpoint_by_id(&ctx.db, row.endpoint_id).await?;
    let event = storage::webhooks::find_event(&ctx.db, row.event_id).await?;
    let (Some(endpoint), Some(event)) = (endpoint, event) else {
        // Deleted meanwhile: the cascade removes the delivery too.
        return Ok(());
    };
    let data: serde_json::Value = super::stored_json("webhook event payload", &event.payload)?;
    let body = serde_json::json!({
        "id": event.id,
        "type": event.kind,
        "created_at": event.created_at,
        "account_id": event.account_id,
        "data": data,
    })
    .to_string();
    let sent_at = ctx.clock.now();
    let signature =
        webhook::signature_header(&endpoint.secret, sent_at.timestamp(), body.as_bytes());
    let result = client
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Frontdesk-Signature", signature)
        .header("Frontdesk-Event", event.kind.as_str())
        .header("Frontdesk-Delivery", row.id.to_string())
        .body(body)
        .send()
        .await;
    let attempts = row.attempts.saturating_add(1);
    let done = ctx.clock.now();
    let (status_code, error) = match result {
        Ok(response) => (Some(i32::from(response.status().as_u16())), None),
        Err(error) => (None, Some(describe(&error))),
    };
    let delivered = status_code.is_some_and(|code| (200..300).contains(&code));
    let attempt = if delivered {
        Attempt {
            status: DELIVERED,
            attempts,
            next_attempt_at: done,
            last_status_code: status_code,
            last_error: None,
            at: done,
            delivered_at: Some(done),
        }
    } else {
        let base = Duration::seconds(
            i64::try_from(ctx.settings.webhook_retry_base_seconds).unwrap_or(i64::MAX),
        );
        let jitter = rand::random::<f64>();
        let next = webhook::next_attempt(done, attempts, base, jitter);
        Attempt {
            status: if next.is_some() { PENDING } else { FAILED },
            attempts,
            next_attempt_at: next.unwrap_or(done),
            last_status_code: status_code,
            last_error: error.or_else(|| status_code.map(|code| format!("HTTP {code}"))),
            at: done,
            delivered_at: None,
        }
    };
    tracing::info!(
        delivery_id = %row.id,
        endpoint_id = %endpoint.id,
        event = %event.kind,
        status = attempt.status,
        code = ?status_code,
        attempts,
        "webhook attempt"
    );
    let outcome = match attempt.status {
        DELIVERED => SendOutcome::Delivered,
        FAILED => SendOutcome::GaveUp,
        _ => SendOutcome::Failed,
    };
    storage::webhooks::record_attempt(&ctx.db, row.id, attempt).await?;
    ctx.metrics.webhook_attempt(outcome);
    Ok(())
}

/// A failed send in words an admin can act on (timeout, refused connection, …).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {error}");
    if let Some(source) = std::error::Error::source(error) {
        text = format!("{text} ({source})");
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}
