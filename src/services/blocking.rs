//! Blocking visitors: an agent blocks a visitor's token (and by default the IP address their
//! widget connects from); a blocked visitor's widget is refused at `hello`, and the sockets
//! they have open when the block is placed are told and closed through the hub.

use super::{Actor, Context, ServiceError, views::ServerFrame};
use crate::{
    domain::{
        blocking::BlockReason,
        ids::{AccountId, VisitorId},
        role::Role,
    },
    realtime::hub::{Frame, encode},
    storage::{self, entities::blocked_visitor},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// The error code a blocked visitor's widget gets.
pub const BLOCKED_CODE: &str = "blocked";
/// What the widget may show; it says nothing about why, so it does not invite arguing.
const BLOCKED_MESSAGE: &str = "Chat is not available.";
/// Blocks listed at once; an account keeps far fewer (abusers, not customers).
const LIST_LIMIT: u64 = 1000;

/// `POST /api/v1/visitors/{id}/block` and the inbox form.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockInput {
    /// Shown to colleagues only, never to the visitor.
    pub reason: Option<String>,
    /// Also block the address the visitor's widget last connected from (default true).
    pub block_ip: Option<bool>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BlockedBy {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BlockView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    /// The blocked visitor; null for a block of an address alone.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub visitor_id: Option<uuid::Uuid>,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    /// The blocked address; null when only the visitor's token is blocked.
    pub ip: Option<String>,
    pub reason: Option<String>,
    /// Null once that user is deleted.
    pub blocked_by: Option<BlockedBy>,
    pub created_at: DateTime<Utc>,
}

impl BlockView {
    /// How the settings page names the visitor: name, email or their generated name.
    pub fn visitor_label(&self) -> String {
        match (&self.visitor_name, &self.visitor_email, self.visitor_id) {
            (Some(name), _, _) => name.clone(),
            (None, Some(email), _) => email.clone(),
            (None, None, Some(id)) => crate::domain::visitor::generated_name(id),
            (None, None, None) => "Anyone at this address".to_owned(),
        }
    }
}

/// The `error` frame a blocked widget gets before its socket closes.
pub fn blocked_frame() -> Option<Frame> {
    encode(&ServerFrame::Closing {
        code: BLOCKED_CODE,
        message: BLOCKED_MESSAGE,
    })
}

/// Refuses a widget whose visitor or address is blocked, before anything is stored.
pub async fn refuse_if_blocked(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: Option<uuid::Uuid>,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    match storage::blocking::matching(&ctx.db, account_id.as_uuid(), visitor_id, ip).await? {
        Some(_) => Err(ServiceError::Refused {
            code: BLOCKED_CODE,
            message: BLOCKED_MESSAGE.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Blocks a visitor (any user may: abuse is handled by whoever is answering). With
/// `block_ip` (the default) the address their widget last connected from is blocked too,
/// unless another block already covers it. Their open widgets are closed.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %visitor_id))]
pub async fn block_visitor(
    ctx: &Context,
    actor: &Actor,
    visitor_id: VisitorId,
    input: BlockInput,
) -> Result<BlockView, ServiceError> {
    let reason = BlockReason::parse("reason", input.reason.as_deref())
        .map_err(ServiceError::invalid)?
        .map(BlockReason::into_inner);
    let account = actor.account_id.as_uuid();
    let now = ctx.clock.now();
    let txn = crate::storage::begin_write(&ctx.db).await?;
    let visitor = storage::visitors::find_in_account(&txn, account, visitor_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    if storage::blocking::find_by_visitor(&txn, account, visitor.id)
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(
            "this visitor is already blocked".to_owned(),
        ));
    }
    let ip = match (input.block_ip.unwrap_or(true), visitor.last_ip.clone()) {
        (true, Some(ip)) => match storage::blocking::find_by_ip(&txn, account, &ip).await? {
            Some(_) => None,
            None => Some(ip),
        },
        _ => None,
    };
    let inserted = storage::blocking::insert(
        &txn,
        blocked_visitor::Model {
            id: uuid::Uuid::now_v7(),
            account_id: account,
            visitor_id: Some(visitor.id),
            ip: ip.clone(),
            reason,
            blocked_by: Some(actor.user_id.as_uuid()),
            created_at: now,
        },
    )
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(error) if storage::is_unique_violation(&error) => {
            return Err(ServiceError::Conflict(
                "this visitor is already blocked".to_owned(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    txn.commit().await?;
    tracing::info!(block_id = %row.id, ip_blocked = ip.is_some(), "visitor blocked");
    disconnect(ctx, actor.account_id, Some(visitor.id), ip.as_deref()).await;
    Ok(view(
        row,
        Some(&visitor),
        Some(BlockedBy {
            id: actor.user_id.as_uuid(),
            name: actor.name.clone(),
        }),
    ))
}

/// Closes the open widgets of a just-blocked visitor, and of anyone else connected from the
/// just-blocked address. Best effort: a widget that slips through is refused at its next hello.
async fn disconnect(
    ctx: &Context,
    account_id: AccountId,
    visitor: Option<uuid::Uuid>,
    ip: Option<&str>,
) {
    let Some(frame) = blocked_frame() else {
        return;
    };
    let mut targets: Vec<uuid::Uuid> = visitor.into_iter().collect();
    if let Some(ip) = ip {
        let online = ctx
            .hub
            .visitors_online(account_id)
            .into_iter()
            .map(|id| id.as_uuid())
            .collect();
        match storage::blocking::visitors_at_ip(&ctx.db, account_id.as_uuid(), ip, online).await {
            Ok(found) => targets.extend(found),
            Err(error) => tracing::warn!(%error, "cannot find the visitors at a blocked address"),
        }
    }
    targets.sort_unstable();
    targets.dedup();
    for id in targets {
        ctx.hub.to_visitor(VisitorId::from_uuid(id), frame.clone());
    }
}

/// Unblocks a visitor (their token, and the address blocked with it).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %visitor_id))]
pub async fn unblock_visitor(
    ctx: &Context,
    actor: &Actor,
    visitor_id: VisitorId,
) -> Result<(), ServiceError> {
    let account = actor.account_id.as_uuid();
    storage::visitors::find_in_account(&ctx.db, account, visitor_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let block = storage::blocking::find_by_visitor(&ctx.db, account, visitor_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    remove(ctx, actor, block).await
}

/// Removes one block by its id.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %block_id))]
pub async fn unblock(
    ctx: &Context,
    actor: &Actor,
    block_id: uuid::Uuid,
) -> Result<(), ServiceError> {
    let block = storage::blocking::find_in_account(&ctx.db, actor.account_id.as_uuid(), block_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    remove(ctx, actor, block).await
}

/// Owners and admins lift any block; an agent lifts only the blocks they placed, so one
/// agent cannot quietly undo a colleague's (or a manager's) decision.
async fn remove(
    ctx: &Context,
    actor: &Actor,
    block: blocked_visitor::Model,
) -> Result<(), ServiceError> {
    if !actor.is_at_least(Role::Admin) && block.blocked_by != Some(actor.user_id.as_uuid()) {
        return Err(ServiceError::Forbidden(
            "agents can lift only the blocks they placed; ask an admin".to_owned(),
        ));
    }
    storage::blocking::delete(&ctx.db, block.id).await?;
    tracing::info!(block_id = %block.id, "block lifted");
    Ok(())
}

/// The account's blocks, newest first (every user may see them).
pub async fn list(ctx: &Context, actor: &Actor) -> Result<Vec<BlockView>, ServiceError> {
    let account = actor.account_id.as_uuid();
    let rows = storage::blocking::list(&ctx.db, account, LIST_LIMIT).await?;
    views(ctx, account, rows).await
}

/// The block on a visitor, if any (for the visitor panel).
pub async fn of_visitor(
    ctx: &Context,
    actor: &Actor,
    visitor_id: VisitorId,
) -> Result<Option<BlockView>, ServiceError> {
    let account = actor.account_id.as_uuid();
    let rows: Vec<_> = storage::blocking::find_by_visitor(&ctx.db, account, visitor_id.as_uuid())
        .await?
        .into_iter()
        .collect();
    Ok(views(ctx, account, rows).await?.into_iter().next())
}

async fn views(
    ctx: &Context,
    account: uuid::Uuid,
    rows: Vec<blocked_visitor::Model>,
) -> Result<Vec<BlockView>, ServiceError> {
    let visitor_ids = rows.iter().filter_map(|row| row.visitor_id).collect();
    let visitors: HashMap<_, _> = storage::blocking::visitors(&ctx.db, account, visitor_ids)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let user_ids = rows.iter().filter_map(|row| row.blocked_by).collect();
    let users: HashMap<_, _> = storage::blocking::users(&ctx.db, account, user_ids)
        .await?
        .into_iter()
        .map(|u| {
            (
                u.id,
                BlockedBy {
                    id: u.id,
                    name: u.name,
                },
            )
        })
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let visitor = row.visitor_id.and_then(|id| visitors.get(&id));
            let by = row.blocked_by.and_then(|id| users.get(&id).cloned());
            view(row, visitor, by)
        })
        .collect())
}

fn view(
    row: blocked_visitor::Model,
    visitor: Option<&storage::entities::visitor::Model>,
    blocked_by: Option<BlockedBy>,
) -> BlockView {
    BlockView {
        id: row.id,
        visitor_id: row.visitor_id,
        visitor_name: visitor.and_then(|v| v.name.clone()),
        visitor_email: visitor.and_then(|v| v.email.clone()),
        ip: row.ip,
        reason: row.reason,
        blocked_by,
        created_at: row.created_at,
    }
}
