//! External bots (DESIGN section 11): registered by owners and admins, each with a signing
//! secret and its own API token (both shown once on creation). `runtime` is a bot taking part
//! in conversations (events recorded in the transaction of what causes them, the actions it
//! answers with); `delivery` sends the events, in order per conversation, signed and retried.

pub mod delivery;
pub mod runtime;

use super::{Actor, Context, ServiceError};
use crate::{
    domain::{
        FieldError,
        bot::{self, DEFAULT_TIMEOUT_MS},
        role::Role,
    },
    storage::{self, entities::bot as bot_row},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use delivery::{deliver_due, http_client};
pub use runtime::{BotActor, act, authenticate};

/// Every bot token starts with this (user tokens start with `fd_`).
const TOKEN_PREFIX: &str = "fdbot_";
/// Characters of the token shown to tell tokens apart.
const SHOWN_PREFIX_CHARS: usize = 12;
/// Events shown in a bot's delivery log.
const LOG_LIMIT: u64 = 100;

/// A bot as the API and the Bots page show it (never its secret or token after creation).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BotView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub timeout_ms: i32,
    /// Image URL shown to visitors beside the bot's messages.
    pub avatar: Option<String>,
    /// The name visitors see (the bot's name when not set).
    pub label: Option<String>,
    /// The start of the bot's API token, to tell tokens apart.
    pub token_prefix: String,
    pub created_at: DateTime<Utc>,
}

impl From<bot_row::Model> for BotView {
    fn from(row: bot_row::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            url: row.url,
            enabled: row.enabled,
            timeout_ms: row.timeout_ms,
            avatar: row.avatar,
            label: row.label,
            token_prefix: row.token_prefix,
            created_at: row.created_at,
        }
    }
}

/// A new bot, as the answer to create shows it: with its `secret` and `token`, this once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CreatedBot {
    #[serde(flatten)]
    pub bot: BotView,
    /// `bsec_…`: verify `Frontdesk-Signature` with it.
    pub secret: String,
    /// `fdbot_…`: the bot's own API token for `POST /api/v1/conversations/{id}/bot-actions`.
    pub token: String,
}

/// A bot's settings; on create `name` and `url` are required, on update every field is optional.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub enabled: Option<bool>,
    pub timeout_ms: Option<i64>,
    /// Empty text removes it.
    pub avatar: Option<String>,
    /// Empty text removes it.
    pub label: Option<String>,
}

/// One event to a bot and how its delivery went.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BotDeliveryView {
    #[schema(value_type = uuid::Uuid)]
    pub event_id: uuid::Uuid,
    /// The event's type, e.g. `message.created`.
    pub event: String,
    #[schema(value_type = uuid::Uuid)]
    pub conversation_id: uuid::Uuid,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    /// Why the latest attempt failed (timed out, HTTP 500, malformed answer, …).
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn optional(
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<String, FieldError>,
) -> Result<Option<Option<String>>, FieldError> {
    match raw.map(|text| text.trim().to_owned()) {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(Some(None)),
        Some(text) => parse(&text).map(|value| Some(Some(value))),
    }
}

/// Applies `input` to `row`, with every problem at once.
fn apply_input(
    row: &mut bot_row::Model,
    input: BotInput,
    creating: bool,
) -> Result<(), ServiceError> {
    let mut problems = Vec::new();
    match input.name {
        Some(name) => match bot::parse_name("name", &name) {
            Ok(name) => row.name = name,
            Err(error) => problems.push(error),
        },
        None if creating => problems.push(FieldError::new("name", "is required")),
        None => {}
    }
    match input.url {
        Some(url) => match bot::parse_url("url", &url) {
            Ok(url) => row.url = url,
            Err(error) => problems.push(error),
        },
        None if creating => problems.push(FieldError::new("url", "is required")),
        None => {}
    }
    if let Some(enabled) = input.enabled {
        row.enabled = enabled;
    }
    if let Some(ms) = input.timeout_ms {
        match bot::parse_timeout("timeout_ms", ms) {
            Ok(ms) => row.timeout_ms = ms,
            Err(error) => problems.push(error),
        }
    }
    match optional(input.avatar, |raw| bot::parse_avatar("avatar", raw)) {
        Ok(Some(avatar)) => row.avatar = avatar,
        Ok(None) => {}
        Err(error) => problems.push(error),
    }
    match optional(input.label, |raw| bot::parse_name("label", raw)) {
        Ok(Some(label)) => row.label = label,
        Ok(None) => {}
        Err(error) => problems.push(error),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Invalid(problems))
    }
}

/// The bots of the actor's account (owner, admin).
pub async fn list(ctx: &Context, actor: &Actor) -> Result<Vec<BotView>, ServiceError> {
    actor.require(Role::Admin)?;
    Ok(storage::bots::list(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .map(BotView::from)
        .collect())
}

/// The enabled bots an agent may transfer a conversation to, `(id, name)`.
pub async fn names(
    ctx: &Context,
    actor: &Actor,
) -> Result<Vec<(uuid::Uuid, String)>, ServiceError> {
    Ok(storage::bots::list(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .filter(|row| row.enabled)
        .map(|row| (row.id, row.name))
        .collect())
}

/// The bot (id, name) that has a conversation of the actor's account now, if any.
pub async fn handling(
    ctx: &Context,
    actor: &Actor,
    conversation_id: uuid::Uuid,
) -> Result<Option<(uuid::Uuid, String)>, ServiceError> {
    let Some(session) = storage::bots::active_session(&ctx.reads, conversation_id).await? else {
        return Ok(None);
    };
    Ok(
        storage::bots::find(&ctx.reads, actor.account_id.as_uuid(), session.bot_id)
            .await?
            .map(|bot| (bot.id, bot.name)),
    )
}

pub async fn get(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<BotView, ServiceError> {
    actor.require(Role::Admin)?;
    storage::bots::find(&ctx.db, actor.account_id.as_uuid(), id)
        .await?
        .map(BotView::from)
        .ok_or(ServiceError::NotFound)
}

/// Registers a bot with a fresh secret and token, answered this once (owner, admin).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn create(
    ctx: &Context,
    actor: &Actor,
    input: BotInput,
) -> Result<CreatedBot, ServiceError> {
    actor.require(Role::Admin)?;
    let token = super::tokens::new_secret(TOKEN_PREFIX);
    let secret = format!("bsec_{}", super::random_text(32));
    let mut row = bot_row::Model {
        id: uuid::Uuid::now_v7(),
        account_id: actor.account_id.as_uuid(),
        name: String::new(),
        url: String::new(),
        secret: secret.clone(),
        token_hash: super::tokens::hash_secret(&token),
        token_prefix: token.chars().take(SHOWN_PREFIX_CHARS).collect(),
        enabled: true,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        avatar: None,
        label: None,
        created_at: ctx.clock.now(),
    };
    apply_input(&mut row, input, true)?;
    let row = storage::bots::insert(&ctx.db, row).await?;
    tracing::info!(bot_id = %row.id, "bot registered");
    Ok(CreatedBot {
        bot: row.into(),
        secret,
        token,
    })
}

/// Changes a bot's settings (owner, admin). A bot disabled while it handles conversations
/// hands each to people at its next event.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %id))]
pub async fn update(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
    input: BotInput,
) -> Result<BotView, ServiceError> {
    actor.require(Role::Admin)?;
    let mut row = storage::bots::find(&ctx.db, actor.account_id.as_uuid(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    apply_input(&mut row, input, false)?;
    Ok(storage::bots::save(&ctx.db, row).await?.into())
}

/// Removes a bot (owner, admin): the conversations it handles go to people first, with a note.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %id))]
pub async fn delete(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    let row = storage::bots::find(&ctx.db, actor.account_id.as_uuid(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    runtime::hand_over_all(ctx, &row, "the bot was deleted").await?;
    if storage::bots::delete(&ctx.db, actor.account_id.as_uuid(), id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// A bot's recent events and how their delivery went, newest first (owner, admin).
pub async fn deliveries(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
) -> Result<Vec<BotDeliveryView>, ServiceError> {
    actor.require(Role::Admin)?;
    storage::bots::find(&ctx.db, actor.account_id.as_uuid(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(storage::bots::events_of_bot(&ctx.db, id, LOG_LIMIT)
        .await?
        .into_iter()
        .map(|row| BotDeliveryView {
            event_id: row.id,
            event: row.kind,
            conversation_id: row.conversation_id,
            next_attempt_at: (row.status == delivery::PENDING).then_some(row.next_attempt_at),
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
