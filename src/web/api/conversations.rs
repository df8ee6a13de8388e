//! The conversations part of the REST API: list, read, messages, reply, note, assign,
//! resolve, reopen, tags.

use crate::{
    domain::{
        FieldError,
        conversation::{ConversationStatus, Tag},
        ids::{ConversationId, UserId},
    },
    services::{
        self, Context, ServiceError,
        conversations::{AssigneeFilter, ListQuery},
        views::{ConversationSummary, MessageView},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_conversations)
        .service(get_conversation)
        .service(list_messages)
        .service(post_message)
        .service(assign_conversation)
        .service(resolve_conversation)
        .service(transfer_conversation)
        .service(reopen_conversation)
        .service(set_tags);
}

/// Default page size of the conversation list.
const DEFAULT_LIMIT: u64 = 25;

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `open` or `resolved`.
    status: Option<String>,
    /// `me`, `unassigned` or a user id.
    assignee: Option<String>,
    /// A team id of the account: only that team's conversations.
    team: Option<String>,
    /// Visitor name, email or message text contains this.
    q: Option<String>,
    tag: Option<String>,
    /// `joined_by_chatbot`: only conversations the chatbot joined (also accepted as `labels`).
    #[serde(alias = "labels")]
    label: Option<String>,
    /// `resolved_by_chatbot` or `escalated_to_human`.
    outcome: Option<String>,
    /// `true` or `false`: counted as a chatbot conversation this period or not.
    #[param(value_type = Option<bool>)]
    chatbot_counted: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 100 (default 25).
    #[param(value_type = Option<u64>)]
    limit: Option<String>,
}

/// The list's query parameters: any other is refused (422), never silently ignored.
const LIST_PARAMS: [&str; 11] = [
    "status",
    "assignee",
    "team",
    "q",
    "tag",
    "label",
    "labels",
    "outcome",
    "chatbot_counted",
    "cursor",
    "limit",
];

/// A problem for each query parameter the list does not know.
fn unknown_params(query: &str, problems: &mut Vec<FieldError>) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    for (key, _) in pairs {
        if !LIST_PARAMS.contains(&key.as_str()) {
            problems.push(FieldError::new(
                &key,
                "is not a filter of this list (status, assignee, team, q, tag, label, outcome, chatbot_counted, cursor, limit)",
            ));
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    conversations: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Started conversations, newest activity first, cursor-paginated.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationList), (status = 422, body = super::ErrorBody)))]
#[get("/conversations")]
async fn list_conversations(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    request: HttpRequest,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let mut problems = Vec::new();
    unknown_params(request.query_string(), &mut problems);
    let mut query = ListQuery {
        search: params.q,
        ..ListQuery::default()
    };
    if let Some(status) = params.status.as_deref().filter(|s| !s.is_empty()) {
        query.status = ConversationStatus::parse("status", status)
            .map_err(|e| problems.push(e))
            .ok();
    }
    if let Some(assignee) = params.assignee.as_deref().filter(|s| !s.is_empty()) {
        query.assignee = match assignee {
            "me" => Some(AssigneeFilter::Me),
            "unassigned" => Some(AssigneeFilter::Unassigned),
            other => other
                .parse::<UserId>()
                .map(AssigneeFilter::User)
                .map_err(|_| {
                    problems.push(FieldError::new(
                        "assignee",
                        "must be me, unassigned or a user id",
                    ))
                })
                .ok(),
        };
    }
    if let Some(team) = params.team.as_deref().filter(|s| !s.is_empty()) {
        query.team = team
            .parse::<uuid::Uuid>()
            .map_err(|_| problems.push(FieldError::new("team", "must be a team id")))
            .ok();
    }
    match params.label.as_deref().filter(|s| !s.is_empty()) {
        Some(crate::services::views::JOINED_BY_CHATBOT) => query.joined_by_chatbot = true,
        Some(_) => problems.push(FieldError::new("label", "must be joined_by_chatbot")),
        None => {}
    }
    if let Some(outcome) = params.outcome.as_deref().filter(|s| !s.is_empty()) {
        match crate::services::views::outcome_code(outcome) {
            Some(code) => query.outcome = Some(code),
            None => problems.push(FieldError::new(
                "outcome",
                "must be resolved_by_chatbot or escalated_to_human",
            )),
        }
    }
    query.chatbot_counted = match params.chatbot_counted.as_deref().filter(|s| !s.is_empty()) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            problems.push(FieldError::new("chatbot_counted", "must be true or false"));
            None
        }
        None => None,
    };
    let limit = match params.limit.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<u64>() {
            Ok(limit @ 1..=100) => limit,
            _ => {
                problems.push(FieldError::new("limit", "must be a number from 1 to 100"));
                DEFAULT_LIMIT
            }
        },
    };
    if let Some(tag) = params.tag.as_deref().filter(|s| !s.is_empty()) {
        query.tag = Tag::parse("tag", tag).map_err(|e| problems.push(e)).ok();
    }
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems).into());
    }
    let page = services::conversations::list(
        &ctx,
        &actor,
        &query,
        params.cursor.as_deref().filter(|c| !c.is_empty()),
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ConversationList {
        conversations: page.conversations,
        next_cursor: page.next_cursor,
    }))
}

/// One conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = ConversationSummary), (status = 404, body = super::ErrorBody)))]
#[get("/conversations/{id}")]
async fn get_conversation(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let summary = services::conversations::get(&ctx, &actor, conversation_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesParams {
    /// Only messages with a greater `seq` (default 0: from the start).
    after_seq: Option<i64>,
    /// 1 to 500 (default 500).
    limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    messages: Vec<MessageView>,
}

/// Messages in `seq` order, internal notes included.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = uuid::Uuid, Path), MessagesParams), responses((status = 200, body = MessageList), (status = 404, body = super::ErrorBody)))]
#[get("/conversations/{id}/messages")]
async fn list_messages(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    params: web::Query<MessagesParams>,
) -> Result<HttpResponse, ApiError> {
    let messages = services::conversations::messages(
        &ctx,
        &actor,
        conversation_id(&path)?,
        params.after_seq.unwrap_or(0),
        params
            .limit
            .unwrap_or(services::conversations::MAX_MESSAGES_PAGE)
            .max(1),
    )
    .await?;
    Ok(HttpResponse::Ok().json(MessageList { messages }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageBody {
    /// May be empty when the message carries `attachments`.
    #[serde(default)]
    text: String,
    /// Your id for this message; sending it again returns the original message.
    client_id: String,
    /// An internal note: only agents see it.
    #[serde(default)]
    internal: bool,
    /// Ids of files uploaded with `POST /api/v1/conversations/{id}/attachments` (at most 10);
    /// each can be sent in one message only.
    #[serde(default)]
    attachments: Vec<uuid::Uuid>,
}

/// An agent reply (or internal note). `201` with the new message; `200` with the original for a
/// repeated `client_id`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", request_body = NewMessageBody,
    params(("id" = uuid::Uuid, Path)),
    responses((status = 201, body = MessageView), (status = 200, description = "A resend: the original message", body = MessageView),
        (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[post("/conversations/{id}/messages")]
async fn post_message(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<NewMessageBody>,
) -> Result<HttpResponse, ApiError> {
    let posted = services::conversations::post_agent_message(
        &ctx,
        &actor,
        conversation_id(&path)?,
        &body.client_id,
        &body.text,
        body.internal,
        &body.attachments,
    )
    .await?;
    let mut response = if posted.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(posted.message))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A user of the account, or null to unassign.
    assignee_id: Option<uuid::Uuid>,
}

/// Assigns the conversation to a user (or unassigns it).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", tag = "conversations", request_body = AssignBody,
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = ConversationSummary), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[post("/conversations/{id}/assign")]
async fn assign_conversation(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let summary = services::conversations::assign(
        &ctx,
        &actor,
        conversation_id(&path)?,
        body.assignee_id.map(UserId::from_uuid),
    )
    .await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// Resolves the conversation (idempotent).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/resolve", tag = "conversations",
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = ConversationSummary), (status = 404, body = super::ErrorBody)))]
#[post("/conversations/{id}/resolve")]
async fn resolve_conversation(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(services::conversations::resolve(&ctx, &actor, conversation_id(&path)?).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// To this agent.
    #[schema(value_type = Option<uuid::Uuid>)]
    agent_id: Option<uuid::Uuid>,
    /// To this team (its least busy online member with free capacity, else its queue).
    #[schema(value_type = Option<uuid::Uuid>)]
    team_id: Option<uuid::Uuid>,
    /// To this bot flow (never the flow already running in the conversation: `409 flow_running`).
    #[schema(value_type = Option<uuid::Uuid>)]
    flow_id: Option<uuid::Uuid>,
    /// To this external bot (never the bot already in the conversation: `409 same_bot`).
    #[schema(value_type = Option<uuid::Uuid>)]
    bot_id: Option<uuid::Uuid>,
}

/// Transfers the conversation to an agent, a team, a bot flow or an external bot (exactly one of the four);
/// recorded as an internal system note.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "conversations",
    params(("id" = uuid::Uuid, Path)), request_body = TransferBody,
    responses((status = 200, body = ConversationSummary), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[post("/conversations/{id}/transfer")]
async fn transfer_conversation(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    use crate::services::routing::Transfer;
    let id = conversation_id(&path)?;
    let summary = match (body.agent_id, body.team_id, body.flow_id, body.bot_id) {
        (Some(agent), None, None, None) => {
            services::routing::transfer(&ctx, &actor, id, Transfer::Agent(UserId::from_uuid(agent)))
                .await?
        }
        (None, Some(team), None, None) => {
            services::routing::transfer(&ctx, &actor, id, Transfer::Team(team)).await?
        }
        (None, None, None, Some(bot)) => {
            services::bots::runtime::transfer_to_bot(&ctx, &actor, id, bot).await?;
            services::conversations::get(&ctx, &actor, id).await?
        }
        (None, None, Some(flow), None) => {
            services::chatbot::transfer_to_flow(
                &ctx,
                &actor,
                id,
                crate::domain::ids::FlowId::from_uuid(flow),
            )
            .await?;
            services::conversations::get(&ctx, &actor, id).await?
        }
        _ => {
            return Err(ServiceError::invalid(FieldError::new(
                "agent_id",
                "give exactly one of agent_id, team_id, flow_id and bot_id",
            ))
            .into());
        }
    };
    Ok(HttpResponse::Ok().json(summary))
}

/// Reopens the conversation (idempotent).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/reopen", tag = "conversations",
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = ConversationSummary), (status = 404, body = super::ErrorBody)))]
#[post("/conversations/{id}/reopen")]
async fn reopen_conversation(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(services::conversations::reopen(&ctx, &actor, conversation_id(&path)?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    /// The whole set of tags (replaces the current one).
    tags: Vec<String>,
}

/// Replaces the conversation's tags.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/tags", tag = "conversations", request_body = TagsBody,
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = ConversationSummary), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[post("/conversations/{id}/tags")]
async fn set_tags(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<TagsBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        services::conversations::set_tags(&ctx, &actor, conversation_id(&path)?, &body.tags)
            .await?,
    ))
}
