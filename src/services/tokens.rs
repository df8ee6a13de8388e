//! API tokens: made in settings or by the CLI, shown once, stored as a SHA-256 hash, revocable.

use super::{Actor, Context, ServiceError, users};
use crate::{
    domain::{
        FieldError,
        email::EmailAddress,
        ids::{ApiTokenId, UserId},
        role::Role,
    },
    storage::{self, entities::api_token},
};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked tokens are easy to recognise and scan for.
const TOKEN_PREFIX: &str = "fd_";
/// Random bytes per token: 160 bits, beyond guessing.
const TOKEN_BYTES: usize = 20;
/// Characters of the token shown in lists to tell tokens apart.
const SHOWN_PREFIX_CHARS: usize = 10;

#[derive(Clone, Debug)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: String,
    pub prefix: String,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_token::Model> for ApiToken {
    fn from(row: api_token::Model) -> Self {
        Self {
            id: ApiTokenId::from_uuid(row.id),
            name: row.name,
            prefix: row.prefix,
            user_id: UserId::from_uuid(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A fresh token: `prefix` and 160 random bits in hex (user tokens, bots' tokens).
pub(crate) fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn parse_name(raw: &str) -> Result<String, ServiceError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ServiceError::invalid(FieldError::new(
            "name",
            "must be 1 to 80 characters",
        )));
    }
    Ok(name.to_owned())
}

async fn insert_token(
    ctx: &Context,
    user: &users::User,
    name: String,
) -> Result<(ApiToken, String), ServiceError> {
    let secret = new_secret(TOKEN_PREFIX);
    let row = storage::api_tokens::insert(
        &ctx.db,
        api_token::Model {
            id: ApiTokenId::generate().as_uuid(),
            account_id: user.account_id.as_uuid(),
            user_id: user.id.as_uuid(),
            name,
            token_hash: hash_secret(&secret),
            prefix: secret.chars().take(SHOWN_PREFIX_CHARS).collect(),
            created_at: ctx.clock.now(),
            last_used_at: None,
            revoked_at: None,
        },
    )
    .await?;
    tracing::info!(token_id = %row.id, user_id = %user.id, "API token created");
    Ok((row.into(), secret))
}

/// Owners and admins make tokens that act as themselves. Returns the secret, shown once.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn create_token(
    ctx: &Context,
    actor: &Actor,
    name: &str,
) -> Result<(ApiToken, String), ServiceError> {
    actor.require(Role::Admin)?;
    let name = parse_name(name)?;
    let user = users::get_user(ctx, actor, actor.user_id).await?;
    insert_token(ctx, &user, name).await
}

/// The operator makes a token for any active user (CLI).
pub async fn create_token_for_email(
    ctx: &Context,
    email: &EmailAddress,
    name: &str,
) -> Result<(ApiToken, String), ServiceError> {
    let name = parse_name(name)?;
    let user = users::find_by_email(ctx, email).await?;
    insert_token(ctx, &user, name).await
}

pub async fn list_tokens(ctx: &Context, actor: &Actor) -> Result<Vec<ApiToken>, ServiceError> {
    actor.require(Role::Admin)?;
    Ok(
        storage::api_tokens::list_for_account(&ctx.db, actor.account_id.as_uuid())
            .await?
            .into_iter()
            .map(ApiToken::from)
            .collect(),
    )
}

#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %token_id))]
pub async fn revoke_token(
    ctx: &Context,
    actor: &Actor,
    token_id: ApiTokenId,
) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    if storage::api_tokens::revoke(
        &ctx.db,
        actor.account_id.as_uuid(),
        token_id.as_uuid(),
        ctx.clock.now(),
    )
    .await?
    {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// The actor behind a Bearer token: an unrevoked token of an active user.
pub async fn authenticate(ctx: &Context, secret: &str) -> Result<Actor, ServiceError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Err(ServiceError::Unauthorized);
    }
    let token = storage::api_tokens::find_active_by_hash(&ctx.reads, &hash_secret(secret))
        .await?
        .ok_or(ServiceError::Unauthorized)?;
    let actor = users::session_actor(ctx, UserId::from_uuid(token.user_id))
        .await?
        .filter(|actor| actor.account_id.as_uuid() == token.account_id)
        .ok_or(ServiceError::Unauthorized)?;
    let now = ctx.clock.now();
    // Use is recorded at most once a minute (`touch` checks again, for concurrent requests):
    // most requests write nothing.
    if token.last_used_at.is_none_or(|at| {
        now - at >= chrono::Duration::minutes(storage::api_tokens::TOUCH_EVERY_MINUTES)
    }) {
        record_use(ctx, token.id, now);
    }
    Ok(actor)
}

/// Records a token's use through the message writer, without the request waiting for it.
///
/// Awaited on the request's own connection, the touch waited for SQLite's write lock behind
/// the writer's back-to-back batches with SQLite's sleeping busy handler, and every request
/// of that token (all seeing the use as stale meanwhile) queued behind it on the one writing
/// connection: agents' replies waited seconds under load (docs/benchmarks.md). In the
/// writer the touch joins the next batch; a lost touch costs only a stale "last used".
fn record_use(ctx: &Context, token_id: uuid::Uuid, now: DateTime<Utc>) {
    let writer = ctx.writer.clone();
    tokio::spawn(async move {
        let touched = writer
            .write(move |txn| {
                Box::pin(async move {
                    storage::api_tokens::touch(txn, token_id, now).await?;
                    Ok(super::writer::Written::Commit(()))
                })
            })
            .await;
        if let Err(error) = touched {
            tracing::warn!(?error, %token_id, "cannot record an API token's use");
        }
    });
}
