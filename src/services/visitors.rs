//! Visitors: the widget's hello (who is this browser, what did it miss), pages, contact
//! details, ratings and offline messages; and the visitor panel agents see.

use super::{
    Actor, Context, ServiceError,
    conversations::{MAX_MESSAGES_PAGE, Posted, publish_conversation, publish_message},
    random_text,
    views::{MessageView, ServerFrame, WidgetConversation, WidgetVisitor},
};
use crate::{
    domain::{
        FieldError,
        conversation::{AuthorKind, ClientId, ConversationStatus, MessageText, Rating},
        email::EmailAddress,
        ids::{AccountId, ConversationId, VisitorId},
        privacy::anonymize_ip_text,
        user::DisplayName,
        visitor::{NEW_VISIT_AFTER_MINUTES, Page, clip, parse_device, parse_language, parse_phone},
    },
    realtime::{hub::encode, protocol::Variable},
    storage::{
        self,
        conversations::ConversationChanges,
        entities::{visitor, visitor_page},
        messages::Appended,
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Characters of a visitor token (about 190 bits).
const VISITOR_TOKEN_CHARS: usize = 32;
/// Pages shown in the visitor panel.
const PANEL_PAGES: u64 = 20;
/// Earlier conversations shown in the visitor panel.
const PANEL_CONVERSATIONS: u64 = 10;
/// Most contact variables kept per visitor.
const MAX_VARIABLES: usize = 50;

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The visitor a widget's token names in the account (none for an unknown or erased one).
pub async fn find_by_token(
    ctx: &Context,
    account_id: AccountId,
    token: &str,
) -> Result<Option<VisitorId>, ServiceError> {
    Ok(
        storage::visitors::find_by_token_hash(&ctx.reads, account_id.as_uuid(), &hash_token(token))
            .await?
            .filter(|row| row.erased_at.is_none())
            .map(|row| VisitorId::from_uuid(row.id)),
    )
}

/// What a widget says when it connects.
pub struct HelloInput {
    pub visitor_token: Option<String>,
    pub conversation_id: Option<ConversationId>,
    pub last_seq: Option<i64>,
    pub page: Option<Page>,
    pub language: Option<String>,
    pub device: Option<String>,
    /// The widget socket's peer address (`domain::blocking::address_text`).
    pub ip: Option<String>,
    /// A signed identity of the site's user (`services::identity`).
    pub identity: Option<crate::realtime::protocol::Identity>,
}

/// What the server answers (the `welcome` frame, less the parts the socket adds).
pub struct Welcome {
    pub visitor_id: VisitorId,
    pub visitor_token: String,
    pub conversation: Option<WidgetConversation>,
    pub messages: Vec<MessageView>,
    pub reset: bool,
    /// The visitor's known name and email (the widget asks for neither again).
    pub visitor: WidgetVisitor,
    /// The visitor is a verified user of the site.
    pub verified: bool,
    /// Why the hello's identity was not taken (an `error` frame follows the welcome).
    pub identity_refused: Option<ServiceError>,
    /// Open now, and when people reply next (none: the account has no business hours).
    pub business_hours: Option<super::accounts::HoursNow>,
}

/// Identifies (or creates) the visitor and finds what the widget missed.
#[tracing::instrument(skip_all, fields(%account_id))]
pub async fn hello(
    ctx: &Context,
    account_id: AccountId,
    input: HelloInput,
) -> Result<Welcome, ServiceError> {
    let now = ctx.clock.now();
    let account = storage::accounts::find(&ctx.db, account_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let (verified, identity_refused) = match &input.identity {
        Some(identity) => match super::identity::check(&account, identity) {
            Ok(verified) => (Some(verified), None),
            Err(refused) => (None, Some(refused)),
        },
        None => (None, None),
    };
    let linked = match &verified {
        Some(verified) => {
            storage::visitors::find_verified(
                &ctx.db,
                account_id.as_uuid(),
                verified.user_id.as_str(),
            )
            .await?
        }
        None => None,
    };
    let known = match &input.visitor_token {
        Some(token) => {
            storage::visitors::find_by_token_hash(&ctx.db, account_id.as_uuid(), &hash_token(token))
                .await?
        }
        None => None,
    };
    let known_id = known.as_ref().map(|row| row.id);
    super::blocking::refuse_if_blocked(ctx, account_id, known_id, input.ip.as_deref()).await?;
    // With `anonymize_ips` only the zeroed address is stored; a block of it covers the
    // network it stands for (docs/decisions.md).
    let stored_ip = match &input.ip {
        Some(ip) if account.anonymize_ips => Some(anonymize_ip_text(ip)),
        other => other.clone(),
    };
    if let Some(linked) = &linked {
        super::blocking::refuse_if_blocked(ctx, account_id, Some(linked.id), None).await?;
    }
    if stored_ip != input.ip {
        super::blocking::refuse_if_blocked(ctx, account_id, None, stored_ip.as_deref()).await?;
    }
    let language = input.language.as_deref().and_then(parse_language);
    let device = input
        .device
        .as_deref()
        .and_then(parse_device)
        .map(str::to_owned);
    // A verified user is one visitor on every device; an anonymous browser (or one of
    // another user) never becomes someone else's visitor.
    let adoptable = |row: &visitor::Model| match &verified {
        Some(_) => row.verified_user_id.is_none(),
        None => true,
    };
    let (mut row, token) = match (linked, known, input.visitor_token) {
        (Some(row), _, _) => (row, String::new()),
        (None, Some(row), Some(token)) if adoptable(&row) => (row, token),
        _ => {
            let token = random_text(VISITOR_TOKEN_CHARS);
            let row = storage::visitors::insert(
                &ctx.db,
                visitor::Model {
                    id: VisitorId::generate().as_uuid(),
                    account_id: account_id.as_uuid(),
                    token_hash: hash_token(&token),
                    name: None,
                    email: None,
                    phone: None,
                    variables: "{}".to_owned(),
                    group_name: None,
                    language: None,
                    device: None,
                    visit_count: 0,
                    current_url: None,
                    current_title: None,
                    first_seen_at: now,
                    last_seen_at: now - chrono::Duration::minutes(NEW_VISIT_AFTER_MINUTES + 1),
                    last_ip: None,
                    erased_at: None,
                    verified_user_id: None,
                },
            )
            .await?;
            (row, token)
        }
    };
    let before = row.clone();
    let token = match &verified {
        Some(verified) => {
            apply_verified(&mut row, verified);
            verified.token.clone()
        }
        None => token,
    };
    if now - row.last_seen_at > chrono::Duration::minutes(NEW_VISIT_AFTER_MINUTES) {
        row.visit_count += 1;
    }
    row.last_seen_at = now;
    row.language = language.or(row.language);
    row.device = device.or(row.device);
    row.last_ip = stored_ip.or(row.last_ip);
    let page = input
        .page
        .filter(|page| row.current_url.as_deref() != Some(page.url.as_str()));
    if let Some(page) = &page {
        row.current_url = Some(page.url.clone());
        row.current_title = page.title.clone();
    }
    let row = storage::visitors::save_changes(&ctx.db, &before, row).await?;
    if let Some(page) = page {
        record_page(ctx, row.id, page, now).await?;
    }
    let visitor_id = VisitorId::from_uuid(row.id);
    publish_visitor(ctx, &row, true);

    let current = storage::conversations::latest_of_visitor(&ctx.db, row.id).await?;
    let (conversation, messages, reset) = match current {
        None => (None, Vec::new(), input.conversation_id.is_some()),
        Some(current) => {
            // `last_seq` applies to the named conversation, else to the latest one (DESIGN
            // section 5). A named conversation that is no longer the latest: its whole
            // history, marked as a reset, never a partial replay.
            let same = match input.conversation_id {
                Some(id) => id.as_uuid() == current.id,
                None => true,
            };
            let after = if same {
                input.last_seq.unwrap_or(0).max(0)
            } else {
                0
            };
            let reset = !same;
            let messages =
                storage::messages::after_seq(&ctx.db, current.id, after, false, MAX_MESSAGES_PAGE)
                    .await?
                    .into_iter()
                    .map(MessageView::from)
                    .collect();
            (
                Some(super::conversations::widget_conversation(ctx, &current).await?),
                messages,
                reset,
            )
        }
    };
    Ok(Welcome {
        visitor_id,
        visitor_token: token,
        conversation,
        messages,
        reset,
        visitor: WidgetVisitor {
            name: row.name.clone(),
            email: row.email.clone(),
        },
        verified: row.verified_user_id.is_some(),
        identity_refused,
        business_hours: super::accounts::hours_now(&account, now),
    })
}

/// Marks the row as the verified user's visitor, reachable with the user's shared token, with
/// the name and email the signed identity vouches for.
fn apply_verified(row: &mut visitor::Model, verified: &super::identity::Verified) {
    row.verified_user_id = Some(verified.user_id.as_str().to_owned());
    row.token_hash = hash_token(&verified.token);
    if let Some(email) = &verified.email {
        row.email = Some(email.as_str().to_owned());
    }
    if let Some(name) = &verified.name {
        row.name = Some(name.as_str().to_owned());
    }
}

/// The socket's (not yet verified) visitor becomes the verified user's visitor.
pub(crate) async fn mark_verified(
    ctx: &Context,
    row: &visitor::Model,
    verified: &super::identity::Verified,
) -> Result<(), ServiceError> {
    let mut changed = row.clone();
    apply_verified(&mut changed, verified);
    let saved = storage::visitors::save_changes(&ctx.db, row, changed).await?;
    publish_visitor(ctx, &saved, true);
    Ok(())
}

async fn record_page(
    ctx: &Context,
    visitor_id: uuid::Uuid,
    page: Page,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    storage::visitors::add_page(
        &ctx.db,
        visitor_page::Model {
            id: uuid::Uuid::now_v7(),
            visitor_id,
            url: page.url,
            title: page.title,
            referrer: page.referrer,
            at: now,
        },
    )
    .await?;
    Ok(())
}

/// Tells the account's agents where a visitor is, or that they left.
pub(crate) fn publish_visitor(ctx: &Context, row: &visitor::Model, online: bool) {
    let frame = ServerFrame::Visitor {
        id: row.id,
        name: row.name.as_deref(),
        email: row.email.as_deref(),
        verified: row.verified_user_id.is_some(),
        online,
        url: row.current_url.as_deref(),
        title: row.current_title.as_deref(),
    };
    if let Some(frame) = encode(&frame) {
        ctx.hub
            .to_agents(AccountId::from_uuid(row.account_id), frame);
    }
}

async fn load(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
) -> Result<visitor::Model, ServiceError> {
    storage::visitors::find_in_account(&ctx.db, account_id.as_uuid(), visitor_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)
}

/// The visitor moved to another page.
pub async fn page(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    page: Page,
) -> Result<(), ServiceError> {
    let now = ctx.clock.now();
    let mut row = load(ctx, account_id, visitor_id).await?;
    let before = row.clone();
    row.current_url = Some(page.url.clone());
    row.current_title = page.title.clone();
    row.last_seen_at = now;
    let row = storage::visitors::save_changes(&ctx.db, &before, row).await?;
    record_page(ctx, row.id, page, now).await?;
    publish_visitor(ctx, &row, true);
    Ok(())
}

/// The widget connected, disconnected or showed activity: the inactivity timeout starts again.
pub async fn seen(ctx: &Context, visitor_id: VisitorId) -> Result<(), ServiceError> {
    storage::visitors::touch(&ctx.db, visitor_id.as_uuid(), ctx.clock.now()).await?;
    Ok(())
}

/// The last widget of the visitor closed.
pub async fn left(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
) -> Result<(), ServiceError> {
    seen(ctx, visitor_id).await?;
    let row = load(ctx, account_id, visitor_id).await?;
    publish_visitor(ctx, &row, false);
    Ok(())
}

/// Contact details from `identify` (and the JS API). Every bad field is reported; nothing is
/// stored unless all are valid.
pub struct IdentifyInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub variables: Option<BTreeMap<String, Variable>>,
    pub group: Option<String>,
}

#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn identify(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    input: IdentifyInput,
) -> Result<(), ServiceError> {
    let mut problems = Vec::new();
    let name = input.name.as_deref().and_then(|raw| {
        DisplayName::parse("name", raw)
            .map_err(|e| problems.push(e))
            .ok()
    });
    let email = input.email.as_deref().and_then(|raw| {
        EmailAddress::parse("email", raw)
            .map_err(|e| problems.push(e))
            .ok()
    });
    let phone = input
        .phone
        .as_deref()
        .and_then(|raw| parse_phone("phone", raw).map_err(|e| problems.push(e)).ok());
    if input
        .variables
        .as_ref()
        .is_some_and(|vars| vars.len() > MAX_VARIABLES)
    {
        problems.push(FieldError::new(
            "variables",
            format!("at most {MAX_VARIABLES} variables"),
        ));
    }
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems));
    }
    let mut row = load(ctx, account_id, visitor_id).await?;
    let before = row.clone();
    if let Some(name) = name {
        row.name = Some(name.as_str().to_owned());
    }
    if let Some(email) = email {
        row.email = Some(email.as_str().to_owned());
    }
    if let Some(phone) = phone {
        row.phone = Some(phone);
    }
    if let Some(group) = input
        .group
        .map(|g| clip(g.trim(), 64))
        .filter(|g| !g.is_empty())
    {
        row.group_name = Some(group);
    }
    if let Some(variables) = input.variables {
        let mut merged: BTreeMap<String, Variable> =
            super::stored_json("visitor variables", &row.variables)?;
        for (key, variable) in variables {
            let key = clip(key.trim(), 64);
            if !key.is_empty() {
                merged.insert(
                    key,
                    Variable {
                        label: clip(&variable.label, 100),
                        value: clip(&variable.value, 1000),
                    },
                );
            }
        }
        if merged.len() > MAX_VARIABLES {
            return Err(ServiceError::invalid(FieldError::new(
                "variables",
                format!("at most {MAX_VARIABLES} variables"),
            )));
        }
        row.variables = serde_json::to_string(&merged).context("encoding variables")?;
    }
    row.last_seen_at = ctx.clock.now();
    let row = storage::visitors::save_changes(&ctx.db, &before, row).await?;
    publish_visitor(ctx, &row, true);
    Ok(())
}

/// The conversation a visitor's action is about: the one it names (which must be this
/// visitor's), else the visitor's latest. `NotFound` when there is none.
pub(crate) async fn conversation_of(
    conn: &impl sea_orm::ConnectionTrait,
    account_id: AccountId,
    visitor_id: VisitorId,
    named: Option<ConversationId>,
) -> Result<storage::entities::conversation::Model, ServiceError> {
    let row = match named {
        Some(id) => {
            storage::conversations::find_in_account(conn, account_id.as_uuid(), id.as_uuid())
                .await?
        }
        None => storage::conversations::latest_of_visitor(conn, visitor_id.as_uuid()).await?,
    };
    row.filter(|row| {
        row.account_id == account_id.as_uuid() && row.visitor_id == visitor_id.as_uuid()
    })
    .ok_or(ServiceError::NotFound)
}

/// The visitor rates the conversation the widget shows (else their latest).
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn rate(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    conversation_id: Option<ConversationId>,
    value: i64,
    comment: Option<String>,
) -> Result<(), ServiceError> {
    let rating = Rating::parse("value", value).map_err(ServiceError::invalid)?;
    let comment = comment
        .map(|c| clip(c.trim(), 2000))
        .filter(|c| !c.is_empty());
    let changes = storage::conversations::ConversationChanges {
        rating: Some((rating.value(), comment)),
        ..Default::default()
    };
    let now = ctx.clock.now();
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    // The visitor's row lock: two tabs rating at once are recorded one after the other, so
    // the second knows the rating it replaces.
    storage::visitors::touch(&txn, visitor_id.as_uuid(), now).await?;
    let row = conversation_of(&txn, account_id, visitor_id, conversation_id).await?;
    let saved = storage::conversations::update(&txn, row.account_id, row.id, changes)
        .await?
        .ok_or(ServiceError::NotFound)?;
    super::reports::rated(&txn, &row, rating.value(), now).await?;
    txn.commit().await.context("committing a rating")?;
    publish_conversation(ctx, &saved).await;
    Ok(())
}

/// A message left through the offline form: a new conversation with the visitor's email.
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn offline_message(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    client_id: &str,
    name: Option<&str>,
    email: &str,
    raw_text: &str,
) -> Result<Posted, ServiceError> {
    let max = ctx.settings.max_message_chars;
    let mut problems = Vec::new();
    let client_id = ClientId::parse("client_id", client_id)
        .map_err(|e| problems.push(e))
        .ok();
    let email = EmailAddress::parse("email", email)
        .map_err(|e| problems.push(e))
        .ok();
    let name = name.filter(|n| !n.trim().is_empty()).and_then(|raw| {
        DisplayName::parse("name", raw)
            .map_err(|e| problems.push(e))
            .ok()
    });
    let text = MessageText::parse(raw_text, max)
        .map_err(|problem| problems.push(MessageText::field_error("text", problem, max)))
        .ok();
    let (Some(client_id), Some(email), Some(text)) = (client_id, email, text) else {
        return Err(ServiceError::Invalid(problems));
    };
    let now = ctx.clock.now();
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    // The visitor's row lock first: a message written at the same instant cannot start a
    // second open conversation beside this one.
    storage::visitors::touch(&txn, visitor_id.as_uuid(), now).await?;
    let mut row =
        storage::visitors::find_in_account(&txn, account_id.as_uuid(), visitor_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let before = row.clone();
    let latest = storage::conversations::latest_of_visitor(&txn, row.id).await?;
    if let Some(latest) = &latest
        && let Some(existing) =
            storage::messages::find_by_client_id(&txn, latest.id, client_id.as_str()).await?
    {
        txn.rollback().await.context("rolling back a resend")?;
        return super::conversations::resend_of(existing, AuthorKind::Visitor, None);
    }
    row.email = Some(email.as_str().to_owned());
    if let Some(name) = name {
        row.name = Some(name.as_str().to_owned());
    }
    row.last_seen_at = now;
    let row = storage::visitors::save_changes(&txn, &before, row).await?;
    // The visitor's open conversation (e.g. handed to people while nobody was online) takes
    // the message, marked as left offline; a new conversation starts only when none is open.
    let (conversation, started) = match latest {
        Some(open) if open.status == ConversationStatus::Open => {
            let marked = ConversationChanges {
                offline: Some(true),
                ..ConversationChanges::default()
            };
            let open = storage::conversations::update(&txn, open.account_id, open.id, marked)
                .await?
                .ok_or(ServiceError::NotFound)?;
            (open, false)
        }
        _ => (
            storage::conversations::insert(
                &txn,
                super::conversations::new_conversation(account_id, visitor_id, now, true),
            )
            .await?,
            true,
        ),
    };
    let started_before = conversation.started && !started;
    let appended = storage::messages::append(
        &txn,
        super::conversations::visitor_message(account_id, conversation.id, &client_id, &text, now),
    )
    .await?;
    let Appended::New(stored, updated) = appended else {
        return Err(ServiceError::Unexpected(anyhow::anyhow!(
            "a new conversation already had this client_id"
        )));
    };
    super::conversations::after_stored(&txn, started_before, &stored, &updated).await?;
    super::email::offline_message_left(ctx, &txn, &updated, &row, text.as_str(), now).await?;
    txn.commit()
        .await
        .context("committing an offline message")?;
    let view = MessageView::from(stored);
    publish_message(ctx, account_id, visitor_id, &view);
    publish_conversation(ctx, &updated).await;
    publish_visitor(ctx, &row, true);
    Ok(Posted {
        message: view,
        created: true,
    })
}

/// The visitor panel of the inbox.
#[derive(Clone, Debug, Serialize)]
pub struct VisitorPanel {
    pub id: VisitorId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub variables: BTreeMap<String, Variable>,
    pub group: Option<String>,
    pub language: Option<String>,
    pub device: Option<String>,
    pub visit_count: i32,
    pub current_url: Option<String>,
    pub current_title: Option<String>,
    pub online: bool,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub pages: Vec<PageVisit>,
    pub conversations: Vec<EarlierConversation>,
    /// The address the widget last connected from.
    pub last_ip: Option<String>,
    /// The site's user id, when the visitor proved it with a signed identity.
    pub verified_user_id: Option<String>,
    pub block: Option<super::blocking::BlockView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PageVisit {
    pub url: String,
    pub title: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EarlierConversation {
    pub id: ConversationId,
    pub status: ConversationStatus,
    pub preview: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn panel(
    ctx: &Context,
    actor: &Actor,
    visitor_id: VisitorId,
) -> Result<VisitorPanel, ServiceError> {
    let row = load(ctx, actor.account_id, visitor_id).await?;
    let pages = storage::visitors::recent_pages(&ctx.db, row.id, PANEL_PAGES)
        .await?
        .into_iter()
        .map(|page| PageVisit {
            url: page.url,
            title: page.title,
            at: page.at,
        })
        .collect();
    let conversations = storage::conversations::of_visitor(&ctx.db, row.id, PANEL_CONVERSATIONS)
        .await?
        .into_iter()
        .map(|c| EarlierConversation {
            id: ConversationId::from_uuid(c.id),
            status: c.status,
            preview: c.last_message_preview,
            created_at: c.created_at,
        })
        .collect();
    Ok(VisitorPanel {
        id: visitor_id,
        online: ctx.hub.is_visitor_online(actor.account_id, visitor_id),
        name: row.name,
        email: row.email,
        phone: row.phone,
        variables: super::stored_json("visitor variables", &row.variables)?,
        group: row.group_name,
        language: row.language,
        device: row.device,
        visit_count: row.visit_count,
        current_url: row.current_url,
        current_title: row.current_title,
        first_seen_at: row.first_seen_at,
        last_seen_at: row.last_seen_at,
        pages,
        conversations,
        last_ip: row.last_ip,
        verified_user_id: row.verified_user_id,
        block: super::blocking::of_visitor(ctx, actor, visitor_id).await?,
    })
}

/// What a widget may have missed after `after_seq` of `conversation_id`: the next page (at
/// most `MAX_MESSAGES_PAGE`) of the visitor's latest conversation, and that conversation's id.
/// When the latest conversation is another one, its messages from the start. Called after
/// the welcome until a page comes back short, so a widget that missed any number of messages
/// gets every one of them, in order; it drops ids it already shows.
pub async fn catch_up(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    conversation_id: Option<ConversationId>,
    after_seq: i64,
) -> Result<(Option<ConversationId>, Vec<MessageView>), ServiceError> {
    let Some(latest) = storage::conversations::latest_of_visitor(&ctx.db, visitor_id.as_uuid())
        .await?
        .filter(|row| row.account_id == account_id.as_uuid())
    else {
        return Ok((None, Vec::new()));
    };
    let after = if conversation_id.map(|id| id.as_uuid()) == Some(latest.id) {
        after_seq
    } else {
        0
    };
    let messages =
        storage::messages::after_seq(&ctx.reads, latest.id, after, false, MAX_MESSAGES_PAGE)
            .await?
            .into_iter()
            .map(MessageView::from)
            .collect();
    Ok((Some(ConversationId::from_uuid(latest.id)), messages))
}
