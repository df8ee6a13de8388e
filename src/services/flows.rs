//! Chatbot flows of an account: create, read, replace and delete the flow JSON, validated as
//! a whole. Export and import are the same JSON: `id`, `created_at` and `updated_at` that an
//! export carries are ignored on import.

use super::{Actor, Context, ServiceError};
use crate::{
    domain::{
        flow::{FlowDefinition, targeting::MAX_ENABLED_FLOWS, validate},
        role::Role,
    },
    storage::{self, entities::flow},
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Keys an exported flow carries that are not part of the definition.
const EXPORT_KEYS: [&str; 3] = ["id", "created_at", "updated_at"];

/// A stored flow.
#[derive(Clone, Debug)]
pub struct Flow {
    pub id: uuid::Uuid,
    pub definition: FlowDefinition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Flow {
    /// The flow as the API exports it: the definition plus `id` and times.
    pub fn to_json(&self) -> Value {
        let mut json = serde_json::to_value(&self.definition).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut json {
            map.insert("id".to_owned(), Value::String(self.id.to_string()));
            map.insert(
                "created_at".to_owned(),
                Value::String(self.created_at.to_rfc3339()),
            );
            map.insert(
                "updated_at".to_owned(),
                Value::String(self.updated_at.to_rfc3339()),
            );
        }
        json
    }
}

fn from_row(row: flow::Model) -> Result<Flow, ServiceError> {
    let definition = serde_json::from_str(&row.definition)
        .with_context(|| format!("stored flow {} does not parse", row.id))?;
    Ok(Flow {
        id: row.id,
        definition,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn parse(json: &Value) -> Result<FlowDefinition, ServiceError> {
    let mut json = json.clone();
    if let Value::Object(map) = &mut json {
        for key in EXPORT_KEYS {
            map.remove(key);
        }
    }
    validate::parse(&json).map_err(ServiceError::Invalid)
}

fn row(
    actor: &Actor,
    id: uuid::Uuid,
    definition: &FlowDefinition,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<flow::Model, ServiceError> {
    Ok(flow::Model {
        id,
        account_id: actor.account_id.as_uuid(),
        name: definition.name.trim().to_owned(),
        enabled: definition.enabled,
        priority: definition.priority,
        definition: serde_json::to_string(definition).context("encoding a flow")?,
        created_at,
        updated_at: now,
    })
}

/// An enabled flow may be saved only while the account has fewer than `MAX_ENABLED_FLOWS`
/// other enabled flows: each page view checks every enabled flow's targeting.
async fn room_to_enable(
    ctx: &Context,
    actor: &Actor,
    definition: &FlowDefinition,
    id: Option<uuid::Uuid>,
) -> Result<(), ServiceError> {
    if !definition.enabled {
        return Ok(());
    }
    let others = storage::flows::list(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .filter(|row| row.enabled && Some(row.id) != id)
        .count();
    if others >= MAX_ENABLED_FLOWS {
        return Err(ServiceError::invalid(crate::domain::FieldError::new(
            "enabled",
            format!(
                "at most {MAX_ENABLED_FLOWS} flows can be enabled at once; disable another flow first (this one can be saved disabled)"
            ),
        )));
    }
    Ok(())
}

pub async fn list(ctx: &Context, actor: &Actor) -> Result<Vec<Flow>, ServiceError> {
    actor.require(Role::Admin)?;
    storage::flows::list(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Every flow's id and name, for any user of the account (agents pick one to hand a
/// conversation back to the bot).
pub async fn names(
    ctx: &Context,
    actor: &Actor,
) -> Result<Vec<(uuid::Uuid, String)>, ServiceError> {
    Ok(storage::flows::list(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .map(|row| (row.id, row.name))
        .collect())
}

pub async fn get(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<Flow, ServiceError> {
    actor.require(Role::Admin)?;
    from_row(
        storage::flows::find(&ctx.db, actor.account_id.as_uuid(), id)
            .await?
            .ok_or(ServiceError::NotFound)?,
    )
}

#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn create(ctx: &Context, actor: &Actor, json: &Value) -> Result<Flow, ServiceError> {
    actor.require(Role::Admin)?;
    let definition = parse(json)?;
    room_to_enable(ctx, actor, &definition, None).await?;
    let now = ctx.clock.now();
    let stored = storage::flows::insert(
        &ctx.db,
        row(actor, uuid::Uuid::now_v7(), &definition, now, now)?,
    )
    .await?;
    from_row(stored)
}

#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %id))]
pub async fn replace(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
    json: &Value,
) -> Result<Flow, ServiceError> {
    actor.require(Role::Admin)?;
    let definition = parse(json)?;
    let existing = get(ctx, actor, id).await?;
    room_to_enable(ctx, actor, &definition, Some(id)).await?;
    let updated = row(actor, id, &definition, existing.created_at, ctx.clock.now())?;
    if !storage::flows::replace(&ctx.db, updated).await? {
        return Err(ServiceError::NotFound);
    }
    get(ctx, actor, id).await
}

#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %id))]
pub async fn delete(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    if storage::flows::delete(&ctx.db, actor.account_id.as_uuid(), id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}
