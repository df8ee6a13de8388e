//! Data protection (DESIGN section 12): exporting everything stored about a visitor, erasing
//! a visitor, the retention of resolved conversations, and the audit log of each of them.
//! Erasing keeps every total right: conversation rows (status, times, counters, labels,
//! outcome, rating) and the reporting, chatbot and billing facts stay; the person's content
//! goes (docs/decisions.md, "Data protection").

use super::{Actor, Context, ServiceError, views::ServerFrame};
use crate::{
    domain::conversation::{AuthorKind, ConversationStatus},
    domain::{ids::VisitorId, role::Role},
    realtime::hub::encode,
    storage::{self, entities::audit_entry},
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// The `error` code an erased visitor's open widgets get before their sockets close.
pub const ERASED_CODE: &str = "visitor_erased";
const ERASED_MESSAGE: &str = "This chat was erased.";
/// Conversations erased per retention transaction: small, so a batch holds the write lock
/// for milliseconds and live chat (which waits for that lock on SQLite) is not held up.
const RETENTION_BATCH: u64 = 50;

pub const EXPORTED: &str = "visitor.exported";
pub const ERASED: &str = "visitor.erased";
pub const RETENTION_DELETED: &str = "retention.deleted";

/// `GET /api/v1/visitors/{id}/export`: everything stored about one visitor.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VisitorExport {
    pub exported_at: DateTime<Utc>,
    pub visitor: ExportedVisitor,
    pub conversations: Vec<ExportedConversation>,
    /// Files the visitor uploaded or was sent (not those of internal notes), each with a
    /// signed download link that expires.
    pub attachments: Vec<ExportedAttachment>,
    pub ratings: Vec<ExportedRating>,
    pub pages: Vec<ExportedPage>,
    pub events: Vec<ExportedEvent>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedAttachment {
    /// `{id, name, type, size, url, download_url}`.
    #[serde(flatten)]
    pub file: super::attachments::AttachmentView,
    pub conversation_id: Option<uuid::Uuid>,
    /// None: uploaded but never sent.
    pub message_id: Option<uuid::Uuid>,
    /// `visitor` or `agent`.
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedVisitor {
    pub id: uuid::Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `{key: {label, value}}` as the widget set them.
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
    pub group: Option<String>,
    pub language: Option<String>,
    pub device: Option<String>,
    pub visit_count: i32,
    pub current_url: Option<String>,
    pub current_title: Option<String>,
    pub last_ip: Option<String>,
    pub verified_user_id: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedConversation {
    pub id: uuid::Uuid,
    #[schema(value_type = String)]
    pub status: ConversationStatus,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    pub tags: Vec<String>,
    /// Context variables a chatbot handover set.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    pub offline: bool,
    /// The messages the visitor saw, oldest first; agents' internal notes are not included.
    pub messages: Vec<ExportedMessage>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedMessage {
    pub id: uuid::Uuid,
    pub seq: i64,
    /// `visitor`, `agent`, `bot` or `system`.
    #[schema(value_type = String)]
    pub author_kind: AuthorKind,
    pub author_name: Option<String>,
    pub text: String,
    /// The button the visitor clicked, for a click.
    pub choice: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedRating {
    pub conversation_id: uuid::Uuid,
    pub rating: i16,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedPage {
    pub url: String,
    pub title: Option<String>,
    pub referrer: Option<String>,
    pub at: DateTime<Utc>,
}

/// Something that happened in the visitor's conversations: `conversation.started`,
/// `conversation.first_response`, `conversation.resolved`, `conversation.rated` (from the
/// reporting facts) and `chatbot.triggered` (a flow shown to them, with its name and outcome).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedEvent {
    pub kind: String,
    pub at: DateTime<Utc>,
    pub conversation_id: uuid::Uuid,
    /// For `chatbot.triggered`: the flow's name.
    pub flow: Option<String>,
    /// For `chatbot.triggered`: `resolved_by_chatbot`, `escalated_to_human` or null.
    pub outcome: Option<String>,
}

/// Owners and admins export a visitor's data; the export is recorded in the audit log.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %visitor_id))]
pub async fn export_visitor(
    ctx: &Context,
    actor: &Actor,
    visitor_id: VisitorId,
) -> Result<VisitorExport, ServiceError> {
    actor.require(Role::Admin)?;
    let account = actor.account_id.as_uuid();
    let visitor = live_visitor(ctx, account, visitor_id).await?;
    let conversations =
        storage::privacy::conversations_of_visitor(&ctx.db, account, visitor.id).await?;
    let ids: Vec<uuid::Uuid> = conversations.iter().map(|c| c.id).collect();
    let mut messages: HashMap<uuid::Uuid, Vec<ExportedMessage>> = HashMap::new();
    let mut notes = std::collections::HashSet::new();
    for row in storage::privacy::messages_of(&ctx.db, &ids).await? {
        if row.internal {
            notes.insert(row.id);
            continue;
        }
        messages
            .entry(row.conversation_id)
            .or_default()
            .push(ExportedMessage {
                id: row.id,
                seq: row.seq,
                author_kind: row.author_kind,
                author_name: row.author_name,
                text: row.text,
                choice: row.choice,
                created_at: row.created_at,
            });
    }
    let mut tags: HashMap<uuid::Uuid, Vec<String>> = HashMap::new();
    for (conversation, tag) in storage::conversations::tags_of(&ctx.db, &ids).await? {
        tags.entry(conversation).or_default().push(tag);
    }
    let mut events: Vec<ExportedEvent> = storage::privacy::report_events_of(&ctx.db, &ids)
        .await?
        .into_iter()
        .map(|row| ExportedEvent {
            kind: format!("conversation.{}", row.kind),
            at: row.at,
            conversation_id: row.conversation_id,
            flow: None,
            outcome: None,
        })
        .collect();
    events.extend(
        storage::privacy::flow_runs_of_visitor(&ctx.db, account, visitor.id)
            .await?
            .into_iter()
            .map(|run| ExportedEvent {
                kind: "chatbot.triggered".to_owned(),
                at: run.triggered_at,
                conversation_id: run.conversation_id,
                flow: Some(run.flow_name),
                outcome: run.outcome,
            }),
    );
    events.sort_by_key(|event| event.at);
    let ratings = conversations
        .iter()
        .filter_map(|c| {
            c.rating.map(|rating| ExportedRating {
                conversation_id: c.id,
                rating,
                comment: c.rating_comment.clone(),
            })
        })
        .collect();
    let pages = storage::privacy::pages_of(&ctx.db, visitor.id)
        .await?
        .into_iter()
        .map(|page| ExportedPage {
            url: page.url,
            title: page.title,
            referrer: page.referrer,
            at: page.at,
        })
        .collect();
    let conversations = conversations
        .into_iter()
        .map(|c| ExportedConversation {
            id: c.id,
            labels: if c.joined_by_chatbot {
                vec!["joined_by_chatbot".to_owned()]
            } else {
                Vec::new()
            },
            tags: tags.remove(&c.id).unwrap_or_default(),
            context: serde_json::from_str(&c.context).unwrap_or_default(),
            messages: messages.remove(&c.id).unwrap_or_default(),
            status: c.status,
            created_at: c.created_at,
            resolved_at: c.resolved_at,
            offline: c.offline,
        })
        .collect::<Vec<_>>();
    let now = ctx.clock.now();
    let attachments = storage::attachments::of_visitor(&ctx.db, account, visitor.id)
        .await?
        .into_iter()
        .filter(|row| row.message_id.is_none_or(|id| !notes.contains(&id)))
        .map(|row| {
            let mut view = super::attachments::AttachmentView::from(&row);
            view.download_url = Some(ctx.file_links.signed_url(view.id, now));
            ExportedAttachment {
                file: view,
                conversation_id: row.conversation_id,
                message_id: row.message_id,
                uploaded_by: row.uploader_kind,
                created_at: row.created_at,
            }
        })
        .collect();
    let details = serde_json::json!({
        "conversations": conversations.len(),
        "messages": conversations.iter().map(|c| c.messages.len()).sum::<usize>(),
    });
    storage::privacy::record(
        &ctx.db,
        entry(actor, EXPORTED, Some(visitor.id), details, now),
    )
    .await?;
    tracing::info!("visitor data exported");
    Ok(VisitorExport {
        exported_at: now,
        visitor: ExportedVisitor {
            id: visitor.id,
            variables: serde_json::from_str(&visitor.variables).unwrap_or_default(),
            name: visitor.name,
            email: visitor.email,
            phone: visitor.phone,
            group: visitor.group_name,
            language: visitor.language,
            device: visitor.device,
            visit_count: visitor.visit_count,
            current_url: visitor.current_url,
            current_title: visitor.current_title,
            last_ip: visitor.last_ip,
            verified_user_id: visitor.verified_user_id,
            first_seen_at: visitor.first_seen_at,
            last_seen_at: visitor.last_seen_at,
        },
        conversations,
        attachments,
        ratings,
        pages,
        events,
    })
}

/// Owners and admins erase a visitor: in one transaction their messages (notes included),
/// emails, contact fields, variables, IP address, pages and verified user id are removed and
/// their token stops working; conversation rows and every counted fact stay. Their open
/// widgets get `error` `visitor_erased` and close; a new `hello` starts a new visitor.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %visitor_id))]
pub async fn erase_visitor(
    ctx: &Context,
    actor: &Actor,
    visitor_id: VisitorId,
) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    let account = actor.account_id.as_uuid();
    let now = ctx.clock.now();
    let txn = storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    let visitor = storage::visitors::find_in_account(&txn, account, visitor_id.as_uuid())
        .await?
        .filter(|row| row.erased_at.is_none())
        .ok_or(ServiceError::NotFound)?;
    storage::visitors::lock(&txn, visitor.id).await?;
    let ids: Vec<uuid::Uuid> =
        storage::privacy::conversations_of_visitor(&txn, account, visitor.id)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
    let mut erased = storage::privacy::erase_conversations(&txn, &ids, None).await?;
    // Files uploaded but never sent are theirs too.
    erased
        .file_keys
        .extend(storage::attachments::delete_of_visitor(&txn, account, visitor.id).await?);
    let token_hash = format!("erased-{}", uuid::Uuid::new_v4().simple());
    let pages = storage::privacy::erase_visitor(&txn, visitor.id, token_hash, now).await?;
    let details = serde_json::json!({
        "conversations": ids.len(),
        "messages": erased.messages,
        "files": erased.file_keys.len(),
        "pages": pages,
    });
    storage::privacy::record(&txn, entry(actor, ERASED, Some(visitor.id), details, now)).await?;
    txn.commit().await.context("committing an erase")?;
    super::attachments::delete_objects(ctx, &erased.file_keys).await;
    tracing::info!(
        conversations = ids.len(),
        messages = erased.messages,
        pages,
        "visitor erased"
    );
    if let Some(frame) = encode(&ServerFrame::Closing {
        code: ERASED_CODE,
        message: ERASED_MESSAGE,
    }) {
        // The widget socket sends a `Blocked`-kind frame and closes; the widget reconnects
        // with its old token, which no longer finds this visitor.
        ctx.hub.to_visitor(visitor_id, frame);
    }
    Ok(())
}

/// What one retention run erased, over every account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionRun {
    pub conversations: u64,
    pub messages: u64,
}

/// Erases the content of every conversation resolved more than its account's
/// `retention_days` ago (as at the clock's now), in batches of `RETENTION_BATCH`, each its
/// own short transaction on the normal write path. Each account where something was erased
/// gets one audit entry with the counts.
#[tracing::instrument(skip_all)]
pub async fn apply_retention(ctx: &Context) -> Result<RetentionRun, ServiceError> {
    let now = ctx.clock.now();
    let mut total = RetentionRun::default();
    for (account, days) in storage::privacy::retention_accounts(&ctx.db).await? {
        let before = now - chrono::Duration::days(i64::from(days.max(0)));
        let mut run = RetentionRun::default();
        loop {
            let txn = storage::begin_write(&ctx.db)
                .await
                .context("starting a retention batch")?;
            let ids =
                storage::privacy::expired_conversations(&txn, account, before, RETENTION_BATCH)
                    .await?;
            let erased = storage::privacy::erase_conversations(&txn, &ids, Some(now)).await?;
            txn.commit().await.context("committing a retention batch")?;
            super::attachments::delete_objects(ctx, &erased.file_keys).await;
            run.conversations += erased.conversations;
            run.messages += erased.messages;
            if (ids.len() as u64) < RETENTION_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        if run.conversations > 0 {
            let details = serde_json::json!({
                "conversations": run.conversations,
                "messages": run.messages,
                "retention_days": days,
            });
            storage::privacy::record(
                &ctx.db,
                audit_entry::Model {
                    id: uuid::Uuid::now_v7(),
                    account_id: account,
                    at: now,
                    actor_user_id: None,
                    actor_name: None,
                    action: RETENTION_DELETED.to_owned(),
                    visitor_id: None,
                    details: details.to_string(),
                },
            )
            .await?;
            tracing::info!(
                %account,
                conversations = run.conversations,
                messages = run.messages,
                retention_days = days,
                "retention erased resolved conversations"
            );
        }
        total.conversations += run.conversations;
        total.messages += run.messages;
    }
    Ok(total)
}

/// One entry of the audit log.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    /// `visitor.exported`, `visitor.erased` or `retention.deleted`.
    pub action: String,
    /// Who acted; null for the retention job.
    pub actor: Option<AuditActor>,
    pub visitor_id: Option<uuid::Uuid>,
    /// Counts: `conversations`, `messages`, and `pages` or `retention_days`.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditActor {
    /// Null once that user is deleted.
    pub id: Option<uuid::Uuid>,
    pub name: String,
}

/// One page of the audit log, newest first, and the cursor of the next (older) page.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `cursor` for the older entries; null on the last page.
    pub next_cursor: Option<String>,
}

/// The audit log (owners only), newest first, `limit` (1 to 200) entries after `cursor`.
pub async fn audit_log(
    ctx: &Context,
    actor: &Actor,
    cursor: Option<&str>,
    limit: u64,
) -> Result<AuditPage, ServiceError> {
    actor.require(Role::Owner)?;
    let before = super::cursor::decode_param(cursor)?;
    let limit = limit.clamp(1, 200);
    let rows =
        storage::privacy::audit_log(&ctx.db, actor.account_id.as_uuid(), before, limit + 1).await?;
    let (rows, next_cursor) = super::cursor::page(rows, limit, |row| (row.at, row.id));
    Ok(AuditPage {
        entries: rows
            .into_iter()
            .map(|row| AuditEntryView {
                id: row.id,
                at: row.at,
                action: row.action,
                actor: row.actor_name.map(|name| AuditActor {
                    id: row.actor_user_id,
                    name,
                }),
                visitor_id: row.visitor_id,
                details: serde_json::from_str(&row.details).unwrap_or_default(),
            })
            .collect(),
        next_cursor,
    })
}

/// A visitor of the account that was not erased (an erased one answers 404: nothing is left).
async fn live_visitor(
    ctx: &Context,
    account: uuid::Uuid,
    visitor_id: VisitorId,
) -> Result<storage::entities::visitor::Model, ServiceError> {
    storage::visitors::find_in_account(&ctx.db, account, visitor_id.as_uuid())
        .await?
        .filter(|row| row.erased_at.is_none())
        .ok_or(ServiceError::NotFound)
}

fn entry(
    actor: &Actor,
    action: &str,
    visitor_id: Option<uuid::Uuid>,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> audit_entry::Model {
    audit_entry::Model {
        id: uuid::Uuid::now_v7(),
        account_id: actor.account_id.as_uuid(),
        at,
        actor_user_id: Some(actor.user_id.as_uuid()),
        actor_name: Some(actor.name.clone()),
        action: action.to_owned(),
        visitor_id,
        details: details.to_string(),
    }
}
