//! Email: the account's notification address and toggles, queueing the offline-message and
//! new-conversation notifications and a visitor's transcript into the outbox (inside the
//! transaction that causes them, so a crash loses none), and delivering due emails with
//! retries (`jobs::email` calls `deliver_due`).

use super::{Actor, Context, ServiceError};
use crate::{
    domain::{
        FieldError,
        conversation::AuthorKind,
        email::EmailAddress,
        ids::{AccountId, ConversationId, VisitorId},
        mail::{self, Composed, Notice, TranscriptLine},
        role::Role,
    },
    mailer::{Mailer, Outgoing},
    metrics::SendOutcome,
    storage::{
        self,
        emails::{Outcome, Scope},
        entities::{conversation, email, email_settings, visitor},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

/// Transcripts a visitor may ask for per conversation in `TRANSCRIPT_WINDOW_MINUTES`: enough
/// to correct a mistyped address, too few to use the widget as a mail cannon.
pub const MAX_TRANSCRIPTS_PER_WINDOW: u64 = 3;
pub const TRANSCRIPT_WINDOW_MINUTES: i64 = 60;
/// Transcripts one account sends in `TRANSCRIPT_WINDOW_MINUTES`, whatever the visitors: a
/// script opening fresh visitors cannot turn the account's mail server into a spam relay.
pub const MAX_ACCOUNT_TRANSCRIPTS_PER_WINDOW: u64 = 60;
/// Attempts before an email is given up as `failed` (with doubling waits, about a day at the
/// default one-minute first wait and six-hour cap).
const MAX_ATTEMPTS: i32 = 10;
/// Longest wait between two attempts.
const MAX_RETRY_WAIT_MS: u64 = 6 * 60 * 60 * 1000;
/// How long a node holds an email it is sending; longer than an SMTP conversation may take,
/// so a crashed node's email is retried by another after this.
const LEASE_SECONDS: i64 = 120;
/// Emails one round of the job sends at most.
const BATCH: u64 = 50;
/// Messages read per page when writing a transcript, and the most a transcript holds.
const TRANSCRIPT_PAGE: u64 = 500;
const MAX_TRANSCRIPT_MESSAGES: usize = 5000;

/// Who gets notification emails and which ones.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NotificationSettings {
    /// Where notifications go; null: none are sent.
    pub email: Option<String>,
    /// Email when a visitor starts a conversation.
    pub new_conversation: bool,
    /// Email when a visitor leaves a message through the offline form.
    pub offline_message: bool,
}

/// Changes to the notification settings; `None` keeps a field.
#[derive(Default)]
pub struct NotificationPatch {
    /// `Some(None)` removes the address.
    pub email: Option<Option<EmailAddress>>,
    pub new_conversation: Option<bool>,
    pub offline_message: Option<bool>,
}

impl NotificationPatch {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.new_conversation.is_none() && self.offline_message.is_none()
    }
}

/// The stored settings, or the defaults: no address, both kinds on once one is set.
fn settings_of(row: Option<email_settings::Model>) -> NotificationSettings {
    match row {
        Some(row) => NotificationSettings {
            email: row.notification_email,
            new_conversation: row.on_new_conversation,
            offline_message: row.on_offline_message,
        },
        None => NotificationSettings {
            email: None,
            new_conversation: true,
            offline_message: true,
        },
    }
}

/// An email address parsed for the `field`; empty text means "none".
pub fn parse_optional_address(field: &str, raw: &str) -> Result<Option<EmailAddress>, FieldError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        EmailAddress::parse(field, raw).map(Some)
    }
}

pub async fn notification_settings(
    ctx: &Context,
    account_id: AccountId,
) -> Result<NotificationSettings, ServiceError> {
    Ok(settings_of(
        storage::emails::settings(&ctx.db, account_id.as_uuid()).await?,
    ))
}

/// Owners and admins change where notifications go and which are sent.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn update_notification_settings(
    ctx: &Context,
    actor: &Actor,
    patch: NotificationPatch,
) -> Result<NotificationSettings, ServiceError> {
    actor.require(Role::Admin)?;
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    apply_notification_patch(&txn, actor.account_id, patch, ctx.clock.now()).await?;
    txn.commit()
        .await
        .context("committing notification settings")?;
    notification_settings(ctx, actor.account_id).await
}

/// Writes a notification settings change inside the caller's transaction.
pub(crate) async fn apply_notification_patch(
    txn: &sea_orm::DatabaseTransaction,
    account_id: AccountId,
    patch: NotificationPatch,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServiceError> {
    let current = settings_of(storage::emails::settings(txn, account_id.as_uuid()).await?);
    let row = email_settings::Model {
        account_id: account_id.as_uuid(),
        notification_email: match patch.email {
            Some(email) => email.map(|e| e.as_str().to_owned()),
            None => current.email,
        },
        on_new_conversation: patch.new_conversation.unwrap_or(current.new_conversation),
        on_offline_message: patch.offline_message.unwrap_or(current.offline_message),
        updated_at: now,
    };
    storage::emails::save_settings(txn, row).await?;
    Ok(())
}

/// The conversation in the inbox, for links in emails (`public_url`, else the bound address).
fn inbox_link(ctx: &Context, conversation_id: uuid::Uuid) -> String {
    let base = match &ctx.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", ctx.settings.bind),
    };
    format!("{base}/inbox/{conversation_id}")
}

fn new_email(
    account_id: uuid::Uuid,
    conversation_id: uuid::Uuid,
    kind: &str,
    to: &str,
    reply_to: Option<String>,
    composed: Composed,
    now: DateTime<Utc>,
) -> email::Model {
    email::Model {
        id: uuid::Uuid::now_v7(),
        account_id,
        conversation_id: Some(conversation_id),
        kind: kind.to_owned(),
        to_address: to.to_owned(),
        reply_to,
        subject: composed.subject,
        body_text: composed.body,
        status: "pending".to_owned(),
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        last_error: None,
        sent_at: None,
        created_at: now,
    }
}

/// Which notification to queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NoticeKind {
    OfflineMessage,
    NewConversation,
}

/// Queues a notification in the caller's transaction when the account wants it.
async fn notify(
    ctx: &Context,
    txn: &impl ConnectionTrait,
    kind: NoticeKind,
    conversation: &conversation::Model,
    visitor: Option<&visitor::Model>,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let settings = settings_of(storage::emails::settings(txn, conversation.account_id).await?);
    let wanted = match kind {
        NoticeKind::OfflineMessage => settings.offline_message,
        NoticeKind::NewConversation => settings.new_conversation,
    };
    let Some(to) = settings.email.filter(|_| wanted) else {
        return Ok(());
    };
    let account_name = storage::accounts::find(txn, conversation.account_id)
        .await?
        .map(|row| row.name)
        .unwrap_or_default();
    let visitor = match visitor {
        Some(row) => Some(row.clone()),
        None => {
            storage::visitors::find_in_account(
                txn,
                conversation.account_id,
                conversation.visitor_id,
            )
            .await?
        }
    };
    let link = inbox_link(ctx, conversation.id);
    let notice = Notice {
        account_name: &account_name,
        visitor_name: visitor.as_ref().and_then(|v| v.name.as_deref()),
        visitor_email: visitor.as_ref().and_then(|v| v.email.as_deref()),
        text,
        page_url: visitor.as_ref().and_then(|v| v.current_url.as_deref()),
        link: &link,
        at: now,
    };
    let (kind, composed, reply_to) = match kind {
        NoticeKind::OfflineMessage => (
            "offline_message",
            mail::offline_message(&notice),
            notice.visitor_email.map(str::to_owned),
        ),
        NoticeKind::NewConversation => ("new_conversation", mail::new_conversation(&notice), None),
    };
    storage::emails::insert(
        txn,
        new_email(
            conversation.account_id,
            conversation.id,
            kind,
            &to,
            reply_to,
            composed,
            now,
        ),
    )
    .await?;
    Ok(())
}

/// A visitor left a message through the offline form (`conversation` was created for it).
pub(crate) async fn offline_message_left(
    ctx: &Context,
    txn: &impl ConnectionTrait,
    conversation: &conversation::Model,
    visitor: &visitor::Model,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    notify(
        ctx,
        txn,
        NoticeKind::OfflineMessage,
        conversation,
        Some(visitor),
        text,
        now,
    )
    .await
}

/// A visitor's typed message was stored in `before` (the conversation as it was before it):
/// the first one of a conversation (new, or opened by a bot greeting alone) notifies.
pub(crate) async fn visitor_wrote(
    ctx: &Context,
    txn: &impl ConnectionTrait,
    started_before: bool,
    before: &conversation::Model,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if started_before {
        return Ok(());
    }
    notify(
        ctx,
        txn,
        NoticeKind::NewConversation,
        before,
        None,
        text,
        now,
    )
    .await
}

/// How a transcript names each author.
fn author_label<'a>(row: &'a storage::entities::message::Model, visitor: &'a str) -> &'a str {
    match row.author_kind.as_str() {
        kind if kind == AuthorKind::Visitor.as_str() => visitor,
        kind if kind == AuthorKind::Agent.as_str() => row.author_name.as_deref().unwrap_or("Agent"),
        kind if kind == AuthorKind::Bot.as_str() => row.author_name.as_deref().unwrap_or("Bot"),
        _ => row.author_name.as_deref().unwrap_or("Frontdesk"),
    }
}

/// The visitor asks for their latest conversation's transcript by email: every message they
/// can see (never internal notes), queued now, at most `MAX_TRANSCRIPTS_PER_WINDOW` an hour.
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn request_transcript(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    conversation_id: Option<ConversationId>,
    raw_email: &str,
) -> Result<(), ServiceError> {
    let to = EmailAddress::parse("email", raw_email).map_err(ServiceError::invalid)?;
    let now = ctx.clock.now();
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    // The visitor's row lock: two requests at once cannot both slip under the limit.
    storage::visitors::touch(&txn, visitor_id.as_uuid(), now).await?;
    let visitor =
        storage::visitors::find_in_account(&txn, account_id.as_uuid(), visitor_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let conversation =
        super::visitors::conversation_of(&txn, account_id, visitor_id, conversation_id).await?;
    if conversation.last_seq == 0 {
        return Err(ServiceError::NotFound);
    }
    let since = now - chrono::Duration::minutes(TRANSCRIPT_WINDOW_MINUTES);
    let count = |scope| storage::emails::count_since(&txn, scope, "transcript", since);
    if count(Scope::Conversation(conversation.id)).await? >= MAX_TRANSCRIPTS_PER_WINDOW
        || count(Scope::Account(account_id.as_uuid())).await? >= MAX_ACCOUNT_TRANSCRIPTS_PER_WINDOW
    {
        txn.rollback()
            .await
            .context("rolling back a refused transcript")?;
        return Err(ServiceError::Refused {
            code: "too_many_transcripts",
            message: format!(
                "at most {MAX_TRANSCRIPTS_PER_WINDOW} transcripts of a conversation an hour (and {MAX_ACCOUNT_TRANSCRIPTS_PER_WINDOW} of an account); try later"
            ),
        });
    }
    let messages = visible_messages(&txn, conversation.id).await?;
    let account = storage::accounts::find(&txn, account_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let settings = settings_of(storage::emails::settings(&txn, account.id).await?);
    let visitor_name = visitor.name.clone().unwrap_or_else(|| "You".to_owned());
    let lines = transcript_lines(&messages, &visitor_name, (&ctx.file_links, now));
    let composed = mail::transcript(&account.name, conversation.created_at, &lines);
    storage::emails::insert(
        &txn,
        new_email(
            account.id,
            conversation.id,
            "transcript",
            to.as_str(),
            settings.email,
            composed,
            now,
        ),
    )
    .await?;
    txn.commit()
        .await
        .context("committing a transcript email")?;
    tracing::info!(conversation_id = %conversation.id, "transcript queued");
    Ok(())
}

/// The conversation's messages in `seq` order (at most `MAX_TRANSCRIPT_MESSAGES`).
async fn visible_messages(
    txn: &impl ConnectionTrait,
    conversation_id: uuid::Uuid,
) -> Result<Vec<storage::entities::message::Model>, ServiceError> {
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let page =
            storage::messages::after_seq(txn, conversation_id, after, false, TRANSCRIPT_PAGE)
                .await?;
        let full = page.len() as u64 == TRANSCRIPT_PAGE;
        after = page.last().map_or(after, |m| m.seq);
        messages.extend(page);
        if !full || messages.len() >= MAX_TRANSCRIPT_MESSAGES {
            return Ok(messages);
        }
    }
}

/// The lines a visitor may read (never internal notes), oldest first.
/// Files are listed with signed links (`links`), valid from `now` for the configured time.
fn transcript_lines<'a>(
    messages: &'a [storage::entities::message::Model],
    visitor_name: &'a str,
    (links, now): (&super::attachments::FileLinks, DateTime<Utc>),
) -> Vec<TranscriptLine<'a>> {
    messages
        .iter()
        .filter(|m| !m.internal && (!m.text.trim().is_empty() || m.attachments.is_some()))
        .map(|m| TranscriptLine {
            author: author_label(m, visitor_name),
            text: &m.text,
            files: super::attachments::of_message(m.attachments.as_deref())
                .iter()
                .map(|file| {
                    format!(
                        "{} ({}, {} bytes): {}",
                        file.name,
                        file.content_type,
                        file.size,
                        links.signed_url(file.id, now)
                    )
                })
                .collect(),
            at: m.created_at,
        })
        .collect()
}

/// An agent replied (inside the reply's transaction, after it was stored) to a visitor who
/// is not connected: when the visitor gave an email (offline form, a bot's question,
/// `identify`), the conversation so far is emailed there with a link back to the chat.
/// A reply email of the conversation not yet sent is replaced, so a burst of replies is one
/// email. Answers the address it was queued for.
pub(crate) async fn reply_to_absent_visitor(
    ctx: &Context,
    txn: &impl ConnectionTrait,
    conversation: &conversation::Model,
    agent_name: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, ServiceError> {
    let (account_id, visitor_id) = (
        AccountId::from_uuid(conversation.account_id),
        VisitorId::from_uuid(conversation.visitor_id),
    );
    if ctx.hub.is_visitor_online(account_id, visitor_id) {
        return Ok(None);
    }
    let Some(visitor) =
        storage::visitors::find_in_account(txn, conversation.account_id, conversation.visitor_id)
            .await?
    else {
        return Ok(None);
    };
    let Some(to) = visitor.email.clone() else {
        return Ok(None);
    };
    let account = storage::accounts::find(txn, conversation.account_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let settings = settings_of(storage::emails::settings(txn, account.id).await?);
    let messages = visible_messages(txn, conversation.id).await?;
    let visitor_name = visitor.name.clone().unwrap_or_else(|| "You".to_owned());
    let lines = transcript_lines(&messages, &visitor_name, (&ctx.file_links, ctx.clock.now()));
    let composed = mail::reply(
        &account.name,
        agent_name,
        &lines,
        visitor.current_url.as_deref(),
    );
    storage::emails::skip_pending(txn, conversation.id, REPLY_KIND).await?;
    storage::emails::insert(
        txn,
        new_email(
            account.id,
            conversation.id,
            REPLY_KIND,
            &to,
            settings.email,
            composed,
            now,
        ),
    )
    .await?;
    Ok(Some(to))
}

/// The kind of the email that carries an agent's reply to an absent visitor.
const REPLY_KIND: &str = "reply";

/// The wait before retry number `attempts` (1 for the first retry): doubling from `first_ms`.
fn retry_wait(first_ms: u64, attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let ms = first_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_RETRY_WAIT_MS);
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Sends every due email once: claims it (one node wins), sends, records the outcome.
/// Returns how many were sent.
pub async fn deliver_due(ctx: &Context, mailer: &Mailer) -> Result<usize, ServiceError> {
    let mut sent = 0;
    for row in storage::emails::due(&ctx.db, ctx.clock.now(), BATCH).await? {
        // Each email's lease starts when it is claimed, right before its send (at most
        // SMTP_TIMEOUT, well inside the lease): a slow batch never sends on an expired lease.
        let now = ctx.clock.now();
        let lease_until = now + chrono::Duration::seconds(LEASE_SECONDS);
        if !storage::emails::claim(&ctx.db, row.id, now, lease_until).await? {
            continue;
        }
        let attempts = row.attempts + 1;
        let outgoing = Outgoing {
            to: &row.to_address,
            reply_to: row.reply_to.as_deref(),
            subject: &row.subject,
            body: &row.body_text,
        };
        let outcome = match mailer.send(&outgoing).await {
            Ok(true) => {
                sent += 1;
                tracing::info!(email_id = %row.id, kind = %row.kind, "email sent");
                Outcome::Sent
            }
            Ok(false) => {
                tracing::info!(email_id = %row.id, kind = %row.kind,
                    "email skipped: no smtp_url is configured");
                Outcome::Skipped
            }
            Err(error) if error.permanent || attempts >= MAX_ATTEMPTS => {
                tracing::warn!(email_id = %row.id, attempts, error = %error.message,
                    "email failed for good");
                Outcome::Failed(error.message)
            }
            Err(error) => {
                let at = ctx.clock.now() + retry_wait(ctx.settings.email_retry_ms, attempts);
                tracing::warn!(email_id = %row.id, attempts, error = %error.message, retry_at = %at,
                    "email not sent; will retry");
                Outcome::Retry(at, error.message)
            }
        };
        let send = match &outcome {
            Outcome::Sent => SendOutcome::Delivered,
            Outcome::Skipped => SendOutcome::Skipped,
            Outcome::Retry(..) => SendOutcome::Failed,
            Outcome::Failed(_) => SendOutcome::GaveUp,
        };
        storage::emails::finish(&ctx.db, row.id, ctx.clock.now(), outcome).await?;
        ctx.metrics.email_attempt(send);
    }
    Ok(sent)
}

/// An email in the outbox, as the API shows it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EmailView {
    pub id: uuid::Uuid,
    /// `offline_message`, `new_conversation` or `transcript`.
    pub kind: String,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub conversation_id: Option<uuid::Uuid>,
    /// `pending`, `sent`, `failed` or `skipped`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The account's newest emails, for owners and admins.
pub async fn recent_emails(
    ctx: &Context,
    actor: &Actor,
    limit: u64,
) -> Result<Vec<EmailView>, ServiceError> {
    actor.require(Role::Admin)?;
    Ok(
        storage::emails::recent(&ctx.db, actor.account_id.as_uuid(), limit)
            .await?
            .into_iter()
            .map(|row| EmailView {
                id: row.id,
                kind: row.kind,
                to: row.to_address,
                reply_to: row.reply_to,
                subject: row.subject,
                conversation_id: row.conversation_id,
                status: row.status,
                attempts: row.attempts,
                next_attempt_at: row.next_attempt_at,
                last_error: row.last_error,
                sent_at: row.sent_at,
                created_at: row.created_at,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_double_and_stop_at_the_cap() {
        assert_eq!(retry_wait(1000, 1), chrono::Duration::seconds(1));
        assert_eq!(retry_wait(1000, 2), chrono::Duration::seconds(2));
        assert_eq!(retry_wait(1000, 4), chrono::Duration::seconds(8));
        assert_eq!(
            retry_wait(60_000, 30),
            chrono::Duration::milliseconds(MAX_RETRY_WAIT_MS as i64)
        );
    }
}
