//! The live inbox: the conversation list with filters, the conversation view (transcript,
//! reply box with shortcuts and internal notes, assign, tags, resolve/reopen), the visitor
//! panel, and the live visitors page. `static/inbox.js` keeps them live over `/ws/agent` by
//! re-fetching the blocks of these same templates.

use super::{Chrome, format_time, redirect, render};
use crate::{
    domain::{
        conversation::{AuthorKind, ClientId, ConversationStatus, Tag},
        ids::{ConversationId, UserId},
        user::AgentStatus,
    },
    services::{
        self, Context, ServiceError,
        conversations::{AssigneeFilter, ListQuery},
        shortcuts::Shortcut,
        users::{User, UserPatch},
        views::{ConversationSummary, JOINED_BY_CHATBOT, MessageView},
        visitors::VisitorPanel,
    },
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, post, web};
use askama::Template;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_inbox)
        .service(get_list_fragment)
        .service(get_conversation)
        .service(get_conversation_fragment)
        .service(post_reply)
        .service(post_resolve)
        .service(post_reopen)
        .service(post_assign)
        .service(post_transfer)
        .service(post_tags)
        .service(post_status)
        .service(get_visitors)
        .service(get_visitors_fragment)
        .service(post_block)
        .service(post_unblock);
}

/// Conversations per list page.
const LIST_PAGE: u64 = 50;
/// Messages shown in the transcript (the newest).
const TRANSCRIPT_MESSAGES: u64 = 200;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filters {
    /// `open` (default), `resolved`, or `all`.
    status: Option<String>,
    /// `all` (default), `mine`, `unassigned`.
    assignee: Option<String>,
    q: Option<String>,
    tag: Option<String>,
    /// `joined_by_chatbot` to see only conversations the chatbot joined.
    label: Option<String>,
    /// `resolved_by_chatbot` or `escalated_to_human`.
    outcome: Option<String>,
    /// A team's id: only that team's conversations.
    team: Option<String>,
    cursor: Option<String>,
}

impl Filters {
    fn status(&self) -> &str {
        match self.status.as_deref() {
            Some("resolved") => "resolved",
            Some("all") => "all",
            _ => "open",
        }
    }

    fn assignee(&self) -> &str {
        match self.assignee.as_deref() {
            Some("mine") => "mine",
            Some("unassigned") => "unassigned",
            _ => "all",
        }
    }

    fn q(&self) -> &str {
        self.q.as_deref().unwrap_or("")
    }

    fn tag(&self) -> &str {
        self.tag.as_deref().unwrap_or("")
    }

    fn label(&self) -> &str {
        match self.label.as_deref() {
            Some(JOINED_BY_CHATBOT) => JOINED_BY_CHATBOT,
            _ => "",
        }
    }

    fn outcome(&self) -> &str {
        self.outcome
            .as_deref()
            .and_then(crate::services::views::outcome_code)
            .unwrap_or("")
    }

    /// The team filtered on (an id), or "" for every team.
    fn team(&self) -> &str {
        self.team
            .as_deref()
            .filter(|team| team.parse::<uuid::Uuid>().is_ok())
            .unwrap_or("")
    }

    /// The filters as a query string, to keep them across links.
    fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("status", self.status()),
            ("assignee", self.assignee()),
            ("q", self.q()),
            ("tag", self.tag()),
            ("label", self.label()),
            ("outcome", self.outcome()),
            ("team", self.team()),
        ])
        .unwrap_or_default()
    }

    fn to_list_query(&self) -> ListQuery {
        ListQuery {
            status: match self.status() {
                "resolved" => Some(ConversationStatus::Resolved),
                "all" => None,
                _ => Some(ConversationStatus::Open),
            },
            assignee: match self.assignee() {
                "mine" => Some(AssigneeFilter::Me),
                "unassigned" => Some(AssigneeFilter::Unassigned),
                _ => None,
            },
            search: self.q.clone().filter(|q| !q.trim().is_empty()),
            joined_by_chatbot: self.label() == JOINED_BY_CHATBOT,
            outcome: self
                .outcome
                .as_deref()
                .and_then(crate::services::views::outcome_code),
            chatbot_counted: None,
            team: self.team().parse().ok(),
            tag: self
                .tag
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .and_then(|t| Tag::parse("tag", t).ok()),
        }
    }
}

/// One line of the conversation list.
pub struct Row {
    pub id: String,
    pub visitor: String,
    pub preview: String,
    pub at: String,
    pub status: ConversationStatus,
    pub unread: i32,
    pub assignee: Option<String>,
    pub offline: bool,
    pub tags: Vec<String>,
    pub selected: bool,
    /// Labelled "Joined by chatbot".
    pub chatbot: bool,
    /// "Resolved by chatbot" or "Escalated to human".
    pub outcome: Option<&'static str>,
}

impl Row {
    fn new(summary: ConversationSummary, selected: Option<ConversationId>) -> Self {
        Self {
            id: summary.id.to_string(),
            visitor: summary.visitor_label(),
            preview: summary
                .last_message
                .as_ref()
                .map(|m| m.preview.clone())
                .unwrap_or_default(),
            at: summary.last_activity_at.format("%b %d %H:%M").to_string(),
            status: summary.status,
            unread: summary.unread,
            assignee: summary.assignee.map(|a| a.name),
            offline: summary.offline,
            chatbot: summary
                .labels
                .iter()
                .any(|label| label == JOINED_BY_CHATBOT),
            outcome: summary
                .outcome
                .as_deref()
                .map(crate::services::views::outcome_label),
            tags: summary.tags,
            selected: Some(summary.id) == selected,
        }
    }
}

/// One bubble of the transcript.
pub struct Bubble {
    pub kind: AuthorKind,
    pub author: String,
    pub text: String,
    pub internal: bool,
    /// The visitor clicked a bot button; `text` is its label. The button's id (`choice`)
    /// is internal to the flow and never shown.
    pub clicked: bool,
    /// Which side of the transcript: `visitor` on the left, `team` (agents, bot, notes) on
    /// the right, `system` centred.
    pub side: &'static str,
    /// A bot step's buttons, by label (agents see what the visitor was offered).
    pub buttons: Vec<String>,
    /// The files the message carries.
    pub files: Vec<BubbleFile>,
    pub at: String,
}

/// A file of a transcript bubble: a thumbnail (raster images) or a card.
pub struct BubbleFile {
    pub name: String,
    pub content_type: String,
    /// e.g. `12 KB`.
    pub size: String,
    pub url: String,
    pub image: bool,
}

impl From<crate::services::attachments::AttachmentView> for BubbleFile {
    fn from(file: crate::services::attachments::AttachmentView) -> Self {
        let bytes = file.size.max(0);
        let size = if bytes < 1024 {
            format!("{bytes} B")
        } else if bytes < 1024 * 1024 {
            format!("{} KB", (bytes + 512) / 1024)
        } else {
            format!("{:.1} MB", bytes as f64 / 1024.0 / 1024.0)
        };
        Self {
            image: crate::domain::attachment::shown_inline(&file.content_type),
            name: file.name,
            content_type: file.content_type,
            size,
            url: file.url,
        }
    }
}

impl From<MessageView> for Bubble {
    fn from(message: MessageView) -> Self {
        let author = match (message.author.kind.as_str(), message.author.name) {
            (_, Some(name)) => name,
            ("visitor", None) => "Visitor".to_owned(),
            ("bot", None) => "Chatbot".to_owned(),
            ("system", None) => "System".to_owned(),
            (_, None) => "Agent".to_owned(),
        };
        Self {
            side: match message.author.kind.as_str() {
                "visitor" => "visitor",
                "system" => "system",
                _ => "team",
            },
            kind: message.author.kind,
            author,
            text: message.text,
            internal: message.internal,
            clicked: message.choice.is_some(),
            files: message
                .attachments
                .into_iter()
                .map(BubbleFile::from)
                .collect(),
            buttons: message
                .buttons
                .unwrap_or_default()
                .into_iter()
                .map(|button| button.label)
                .collect(),
            at: message.at.format("%H:%M").to_string(),
        }
    }
}

/// The open conversation of the page.
pub struct Open {
    pub summary: ConversationSummary,
    pub title: String,
    pub bubbles: Vec<Bubble>,
    pub visitor: VisitorPanel,
    pub first_seen: String,
    pub pages: Vec<(String, String, String)>,
    pub client_id: String,
    /// The conversation's team, by name.
    pub team: Option<String>,
    /// Transfer targets: teams and bot flows, `(id, name)`.
    pub teams: Vec<(String, String)>,
    pub flows: Vec<(String, String)>,
    /// External bots (enabled ones), `(id, name)`.
    pub bots: Vec<(String, String)>,
    /// Why the last action on this conversation was refused (e.g. the flow already runs).
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox/index.html")]
struct InboxPage {
    chrome: Chrome,
    filters: Filters,
    rows: Vec<Row>,
    next_cursor: Option<String>,
    open: Option<Open>,
    agents: Vec<User>,
    shortcuts_json: String,
    /// The teams' queues: how many conversations wait for an agent.
    queues: Vec<services::routing::TeamView>,
}

#[derive(Template)]
#[template(path = "inbox/index.html", block = "list")]
struct ListFragment {
    filters: Filters,
    rows: Vec<Row>,
    next_cursor: Option<String>,
    queues: Vec<services::routing::TeamView>,
}

#[derive(Template)]
#[template(path = "inbox/index.html", block = "conversation")]
struct ConversationFragment {
    chrome: Chrome,
    filters: Filters,
    open: Option<Open>,
    agents: Vec<User>,
}

async fn rows(
    ctx: &Context,
    signed_in: &SignedIn,
    filters: &Filters,
    selected: Option<ConversationId>,
) -> Result<(Vec<Row>, Option<String>), PageError> {
    let query = filters.to_list_query();
    let cursor = filters.cursor.as_deref().filter(|c| !c.is_empty());
    let page = match services::conversations::list(ctx, &signed_in.actor, &query, cursor, LIST_PAGE)
        .await
    {
        // A stale or hand-edited cursor, or a team deleted meanwhile: every team, from the top.
        Err(ServiceError::Invalid(_)) => {
            let query = ListQuery {
                team: None,
                ..query
            };
            services::conversations::list(ctx, &signed_in.actor, &query, None, LIST_PAGE).await?
        }
        other => other?,
    };
    Ok((
        page.conversations
            .into_iter()
            .map(|c| Row::new(c, selected))
            .collect(),
        page.next_cursor,
    ))
}

async fn open(ctx: &Context, signed_in: &SignedIn, id: ConversationId) -> Result<Open, PageError> {
    let actor = &signed_in.actor;
    let summary = services::conversations::get(ctx, actor, id).await?;
    let messages =
        services::conversations::latest_messages(ctx, actor, id, TRANSCRIPT_MESSAGES).await?;
    let visitor = services::visitors::panel(ctx, actor, summary.visitor.id).await?;
    let teams: Vec<(String, String)> = services::routing::teams(ctx, actor)
        .await?
        .into_iter()
        .map(|team| (team.id.to_string(), team.name))
        .collect();
    let team = summary.team_id.and_then(|id| {
        teams
            .iter()
            .find(|(team, _)| *team == id.to_string())
            .map(|(_, name)| name.clone())
    });
    let flows = services::flows::names(ctx, actor)
        .await?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    let bots = services::bots::names(ctx, actor)
        .await?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    Ok(Open {
        team,
        teams,
        flows,
        bots,
        notice: None,
        bubbles: messages
            .into_iter()
            .map(Bubble::from)
            .map(|mut bubble| {
                if bubble.kind == AuthorKind::Visitor && bubble.author == "Visitor" {
                    bubble.author = summary.visitor_label();
                }
                bubble
            })
            .collect(),
        title: summary.visitor_label(),
        first_seen: format_time(visitor.first_seen_at),
        pages: visitor
            .pages
            .iter()
            .map(|p| {
                (
                    p.url.clone(),
                    p.title.clone().unwrap_or_else(|| p.url.clone()),
                    p.at.format("%b %d %H:%M").to_string(),
                )
            })
            .collect(),
        visitor,
        summary,
        client_id: ClientId::generate().as_str().to_owned(),
    })
}

fn conversation_id(raw: &str) -> Result<ConversationId, PageError> {
    raw.parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))
}

async fn page(
    ctx: &Context,
    signed_in: &SignedIn,
    filters: Filters,
    selected: Option<ConversationId>,
) -> Result<HttpResponse, PageError> {
    page_with_notice(ctx, signed_in, filters, selected, None).await
}

/// The inbox with a notice above the open conversation (a refused action), answered with
/// the notice's status.
async fn page_with_notice(
    ctx: &Context,
    signed_in: &SignedIn,
    filters: Filters,
    selected: Option<ConversationId>,
    notice: Option<(StatusCode, String)>,
) -> Result<HttpResponse, PageError> {
    let (rows, next_cursor) = rows(ctx, signed_in, &filters, selected).await?;
    let mut open = match selected {
        Some(id) => Some(open(ctx, signed_in, id).await?),
        None => None,
    };
    let status = notice
        .as_ref()
        .map_or(StatusCode::OK, |(status, _)| *status);
    if let Some(open) = &mut open {
        open.notice = notice.map(|(_, text)| text);
    }
    let shortcuts: Vec<Shortcut> = services::shortcuts::list(ctx, &signed_in.actor).await?;
    super::render_with_status(
        &InboxPage {
            chrome: Chrome::new(ctx, &signed_in.actor, &signed_in.session, "inbox").await?,
            filters,
            rows,
            next_cursor,
            open,
            agents: services::users::list_users(ctx, &signed_in.actor)
                .await?
                .into_iter()
                .filter(|user| user.active)
                .collect(),
            shortcuts_json: serde_json::to_string(&shortcuts).unwrap_or_else(|_| "[]".to_owned()),
            queues: services::routing::teams(ctx, &signed_in.actor).await?,
        },
        status,
    )
}

pub(super) fn fragment(template: &impl Template) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(template.render()?))
}

#[get("/inbox")]
async fn get_inbox(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    page(&ctx, &signed_in, filters.into_inner(), None).await
}

#[get("/inbox/fragments/list")]
async fn get_list_fragment(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    filters: web::Query<Filters>,
    selected: web::Query<Selected>,
) -> Result<HttpResponse, PageError> {
    let filters = filters.into_inner();
    let selected = selected.selected.as_deref().and_then(|s| s.parse().ok());
    let (rows, next_cursor) = rows(&ctx, &signed_in, &filters, selected).await?;
    fragment(&ListFragment {
        filters,
        rows,
        next_cursor,
        queues: services::routing::teams(&ctx, &signed_in.actor).await?,
    })
}

#[derive(Deserialize)]
struct Selected {
    selected: Option<String>,
}

#[get("/inbox/{id}")]
async fn get_conversation(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let id = conversation_id(&path)?;
    services::conversations::mark_read(&ctx, &signed_in.actor, id).await?;
    page(&ctx, &signed_in, filters.into_inner(), Some(id)).await
}

#[get("/inbox/{id}/fragment")]
async fn get_conversation_fragment(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let id = conversation_id(&path)?;
    services::conversations::mark_read(&ctx, &signed_in.actor, id).await?;
    fragment(&ConversationFragment {
        chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "inbox").await?,
        filters: filters.into_inner(),
        open: Some(open(&ctx, &signed_in, id).await?),
        agents: services::users::list_users(&ctx, &signed_in.actor)
            .await?
            .into_iter()
            .filter(|user| user.active)
            .collect(),
    })
}

fn back(req: &HttpRequest, id: &str) -> HttpResponse {
    let filters = req.query_string();
    if filters.is_empty() {
        redirect(&format!("/inbox/{id}"))
    } else {
        redirect(&format!("/inbox/{id}?{filters}"))
    }
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

#[derive(Deserialize)]
struct ReplyForm {
    client_id: String,
    #[serde(default)]
    text: String,
    internal: Option<String>,
    /// Comma-separated ids of uploaded files.
    attachments: Option<String>,
}

/// The ids of a form's comma-separated `attachments`.
fn attachment_ids(raw: Option<&str>) -> Result<Vec<uuid::Uuid>, ServiceError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse().map_err(|_| {
                ServiceError::invalid(crate::domain::FieldError::new(
                    "attachments",
                    "must be ids of uploaded files",
                ))
            })
        })
        .collect()
}

#[post("/inbox/{id}/messages")]
async fn post_reply(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<ReplyForm>,
) -> Result<HttpResponse, PageError> {
    let id = conversation_id(&path)?;
    let result = match attachment_ids(form.attachments.as_deref()) {
        Ok(attachments) => {
            services::conversations::post_agent_message(
                &ctx,
                &signed_in.actor,
                id,
                &form.client_id,
                &form.text,
                form.internal.is_some(),
                &attachments,
            )
            .await
        }
        Err(error) => Err(error),
    };
    match (result, wants_json(&req)) {
        (Ok(posted), true) => Ok(HttpResponse::Ok().json(posted.message)),
        (Ok(_), false) => Ok(back(&req, &path)),
        (Err(error), true) => {
            let api = crate::web::errors::ApiError::from(error);
            Ok(actix_web::ResponseError::error_response(&api))
        }
        (Err(error), false) => Err(error.into()),
    }
}

#[post("/inbox/{id}/resolve")]
async fn post_resolve(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    services::conversations::resolve(&ctx, &signed_in.actor, conversation_id(&path)?).await?;
    Ok(back(&req, &path))
}

#[post("/inbox/{id}/reopen")]
async fn post_reopen(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    services::conversations::reopen(&ctx, &signed_in.actor, conversation_id(&path)?).await?;
    Ok(back(&req, &path))
}

#[derive(Deserialize)]
struct AssignForm {
    assignee_id: String,
}

#[post("/inbox/{id}/assign")]
async fn post_assign(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<AssignForm>,
) -> Result<HttpResponse, PageError> {
    let assignee = match form.assignee_id.as_str() {
        "" => None,
        raw => Some(raw.parse::<UserId>().map_err(|_| ServiceError::NotFound)?),
    };
    services::conversations::assign(&ctx, &signed_in.actor, conversation_id(&path)?, assignee)
        .await?;
    Ok(back(&req, &path))
}

#[derive(Deserialize)]
struct TransferForm {
    /// `agent:<id>`, `team:<id>`, `flow:<id>` or `bot:<id>`.
    target: String,
}

/// Transfers to an agent, a team or a bot flow; a refusal (such as the flow already running
/// here) shows on the conversation instead of an error page.
#[post("/inbox/{id}/transfer")]
async fn post_transfer(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    filters: web::Query<Filters>,
    SecureForm(form): SecureForm<TransferForm>,
) -> Result<HttpResponse, PageError> {
    use services::routing::Transfer;
    let id = conversation_id(&path)?;
    let (kind, raw) = form.target.split_once(':').unwrap_or(("", ""));
    let target: Option<uuid::Uuid> = raw.parse().ok();
    let result = match (kind, target) {
        ("agent", Some(user)) => services::routing::transfer(
            &ctx,
            &signed_in.actor,
            id,
            Transfer::Agent(UserId::from_uuid(user)),
        )
        .await
        .map(drop),
        ("team", Some(team)) => {
            services::routing::transfer(&ctx, &signed_in.actor, id, Transfer::Team(team))
                .await
                .map(drop)
        }
        ("flow", Some(flow)) => {
            services::chatbot::transfer_to_flow(
                &ctx,
                &signed_in.actor,
                id,
                crate::domain::ids::FlowId::from_uuid(flow),
            )
            .await
        }
        ("bot", Some(bot)) => {
            services::bots::runtime::transfer_to_bot(&ctx, &signed_in.actor, id, bot).await
        }
        _ => Err(ServiceError::invalid(crate::domain::FieldError::new(
            "target",
            "choose an agent, a team, a bot flow or a bot",
        ))),
    };
    match result {
        Ok(()) => Ok(back(&req, &path)),
        Err(
            error @ (ServiceError::Invalid(_)
            | ServiceError::Conflict(_)
            | ServiceError::Refused { .. }),
        ) => {
            let (status, text) = match &error {
                ServiceError::Refused { message, .. } => (StatusCode::CONFLICT, message.clone()),
                ServiceError::Conflict(message) => (StatusCode::CONFLICT, message.clone()),
                other => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    super::error_lines(other)
                        .map(|lines| lines.join(" "))
                        .unwrap_or_default(),
                ),
            };
            page_with_notice(
                &ctx,
                &signed_in,
                filters.into_inner(),
                Some(id),
                Some((status, text)),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct TagsForm {
    tags: String,
}

#[post("/inbox/{id}/tags")]
async fn post_tags(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<TagsForm>,
) -> Result<HttpResponse, PageError> {
    let tags: Vec<String> = form
        .tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    services::conversations::set_tags(&ctx, &signed_in.actor, conversation_id(&path)?, &tags)
        .await?;
    Ok(back(&req, &path))
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

/// The online/away switch in the header.
#[post("/account/status")]
async fn post_status(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<StatusForm>,
) -> Result<HttpResponse, PageError> {
    let status = AgentStatus::parse("status", &form.status).map_err(ServiceError::invalid)?;
    services::users::update_user(
        &ctx,
        &signed_in.actor,
        signed_in.actor.user_id,
        UserPatch {
            status: Some(status),
            ..UserPatch::default()
        },
    )
    .await?;
    let back = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|referer| {
            referer
                .find("/inbox")
                .or_else(|| referer.find("/visitors"))
                .map(|at| referer[at..].to_owned())
        })
        .unwrap_or_else(|| "/inbox".to_owned());
    Ok(redirect(&back))
}

/// One visitor on the live visitors page.
pub struct OnlineVisitor {
    pub name: String,
    /// The end of the visitor's id, for support (names can repeat).
    pub short_id: String,
    pub url: String,
    pub title: String,
    pub visits: i32,
    pub device: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "visitors/index.html")]
struct VisitorsPage {
    chrome: Chrome,
    visitors: Vec<OnlineVisitor>,
}

#[derive(Template)]
#[template(path = "visitors/index.html", block = "visitors")]
struct VisitorsFragment {
    visitors: Vec<OnlineVisitor>,
}

async fn online_visitors(
    ctx: &Context,
    signed_in: &SignedIn,
) -> Result<Vec<OnlineVisitor>, PageError> {
    let mut visitors = Vec::new();
    for visitor_id in ctx.hub.visitors_online(signed_in.actor.account_id) {
        let panel = match services::visitors::panel(ctx, &signed_in.actor, visitor_id).await {
            Ok(panel) => panel,
            Err(ServiceError::NotFound) => continue,
            Err(error) => return Err(error.into()),
        };
        visitors.push(OnlineVisitor {
            name: crate::services::views::display_name(
                panel.id.as_uuid(),
                panel.name.as_deref(),
                panel.email.as_deref(),
            ),
            short_id: panel.id.to_string()[24..].to_owned(),
            url: panel.current_url.clone().unwrap_or_default(),
            title: panel
                .current_title
                .clone()
                .or(panel.current_url.clone())
                .unwrap_or_default(),
            visits: panel.visit_count,
            device: panel.device.clone().unwrap_or_else(|| "unknown".to_owned()),
            since: format_time(panel.last_seen_at),
        });
    }
    visitors.sort_by(|a, b| b.since.cmp(&a.since));
    Ok(visitors)
}

#[get("/visitors")]
async fn get_visitors(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
) -> Result<HttpResponse, PageError> {
    render(&VisitorsPage {
        chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "visitors").await?,
        visitors: online_visitors(&ctx, &signed_in).await?,
    })
}

#[get("/visitors/fragment")]
async fn get_visitors_fragment(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
) -> Result<HttpResponse, PageError> {
    fragment(&VisitorsFragment {
        visitors: online_visitors(&ctx, &signed_in).await?,
    })
}

#[derive(Deserialize)]
struct BlockForm {
    reason: Option<String>,
    /// The "also block their IP address" checkbox; absent when unchecked.
    block_ip: Option<String>,
}

/// "Block visitor" in the visitor panel: blocks the visitor of this conversation.
#[post("/inbox/{id}/block")]
async fn post_block(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<BlockForm>,
) -> Result<HttpResponse, PageError> {
    let summary =
        services::conversations::get(&ctx, &signed_in.actor, conversation_id(&path)?).await?;
    let input = services::blocking::BlockInput {
        reason: form.reason,
        block_ip: Some(form.block_ip.is_some()),
    };
    services::blocking::block_visitor(&ctx, &signed_in.actor, summary.visitor.id, input).await?;
    Ok(back(&req, &path))
}

/// "Unblock" in the visitor panel.
#[post("/inbox/{id}/unblock")]
async fn post_unblock(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let summary =
        services::conversations::get(&ctx, &signed_in.actor, conversation_id(&path)?).await?;
    services::blocking::unblock_visitor(&ctx, &signed_in.actor, summary.visitor.id).await?;
    Ok(back(&req, &path))
}
