//! `/api/v1/bots`: external bots (owner, admin) and their delivery logs; and
//! `/api/v1/conversations/{id}/bot-actions`, where a bot acts with its own token.

use crate::{
    domain::ids::ConversationId,
    services::{
        self, Context, ServiceError,
        bots::{self, BotDeliveryView, BotInput, BotView, CreatedBot},
    },
    web::{
        auth::{ApiActor, bearer_token},
        errors::ApiError,
    },
};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_bots)
        .service(create_bot)
        .service(get_bot)
        .service(patch_bot)
        .service(delete_bot)
        .service(list_bot_deliveries)
        .service(post_bot_actions);
}

fn id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

#[derive(Serialize, ToSchema)]
pub struct BotList {
    bots: Vec<BotView>,
}

#[derive(Serialize, ToSchema)]
pub struct BotDeliveryList {
    deliveries: Vec<BotDeliveryView>,
}

/// The account's bots.
#[utoipa::path(get, path = "/api/v1/bots", tag = "bots",
    responses((status = 200, body = BotList), (status = 403, body = super::ErrorBody)))]
#[get("/bots")]
async fn list_bots(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(BotList {
        bots: bots::list(&ctx, &actor).await?,
    }))
}

/// Registers a bot: `name` and an absolute http(s) `url` are required; `enabled` (true),
/// `timeout_ms` (5000), `avatar`, `label`. The answer carries `secret` and `token` this once.
#[utoipa::path(post, path = "/api/v1/bots", tag = "bots", request_body = BotInput,
    responses((status = 201, body = CreatedBot), (status = 422, body = super::ErrorBody)))]
#[post("/bots")]
async fn create_bot(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<BotInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(bots::create(&ctx, &actor, body.into_inner()).await?))
}

/// One bot.
#[utoipa::path(get, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = BotView), (status = 404, body = super::ErrorBody)))]
#[get("/bots/{id}")]
async fn get_bot(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(bots::get(&ctx, &actor, id(&path)?).await?))
}

/// Changes any of `name`, `url`, `enabled`, `timeout_ms`, `avatar`, `label` (empty text
/// removes `avatar` or `label`).
#[utoipa::path(patch, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = uuid::Uuid, Path)),
    request_body = BotInput,
    responses((status = 200, body = BotView), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[patch("/bots/{id}")]
async fn patch_bot(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<BotInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(bots::update(&ctx, &actor, id(&path)?, body.into_inner()).await?))
}

/// Removes a bot; the conversations it handles go to people first, with a note.
#[utoipa::path(delete, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
#[delete("/bots/{id}")]
async fn delete_bot(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    bots::delete(&ctx, &actor, id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The bot's recent events and their delivery, newest first.
#[utoipa::path(get, path = "/api/v1/bots/{id}/deliveries", tag = "bots", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = BotDeliveryList), (status = 404, body = super::ErrorBody)))]
#[get("/bots/{id}/deliveries")]
async fn list_bot_deliveries(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(BotDeliveryList {
        deliveries: bots::deliveries(&ctx, &actor, id(&path)?).await?,
    }))
}

/// A bot's actions, as in the answer to an event (`{"actions": [...]}` in the response body).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotActionsBody {
    /// Carried out in order; a `handover`, `end` or `transfer` ends the bot's part.
    #[schema(value_type = Vec<BotActionSchema>)]
    actions: Vec<serde_json::Value>,
}

/// One action of a bot, by `type` (docs/bots.md). This describes the JSON for the OpenAPI
/// document; `domain::bot::parse_actions` reads it, with every problem and its path.
#[derive(ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum BotActionSchema {
    /// A bot message; the widget shows its buttons as quick replies.
    Message {
        /// 1 to the server's message limit.
        text: String,
        /// At most 10, ids unique.
        buttons: Option<Vec<crate::domain::bot::BotButton>>,
    },
    /// Shows the bot typing in the widget.
    Typing,
    /// People take over: the context is merged into the conversation's and routed like a
    /// flow's handover; agents get a note with the summary.
    Handover {
        /// Values are text (numbers and booleans are turned into text).
        context: Option<std::collections::BTreeMap<String, String>>,
        summary: Option<String>,
    },
    /// Resolves the conversation.
    End,
    /// Another bot (never itself: 409 `same_bot`) or a flow takes over; exactly one of the two.
    Transfer {
        #[schema(value_type = Option<uuid::Uuid>)]
        bot_id: Option<uuid::Uuid>,
        #[schema(value_type = Option<uuid::Uuid>)]
        flow_id: Option<uuid::Uuid>,
    },
}

/// The bot acts in a conversation it handles, with its own token (`fdbot_…`): 204 once done;
/// 403 for any other bot or a user's token; 409 `same_bot` for a transfer to itself,
/// `conversation_closed` in a resolved conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/bot-actions", tag = "bots",
    params(("id" = uuid::Uuid, Path)), request_body = BotActionsBody,
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
#[post("/conversations/{id}/bot-actions")]
async fn post_bot_actions(
    ctx: web::Data<Context>,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Json<BotActionsBody>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer_token(&request).ok_or(ServiceError::Unauthorized)?;
    let actor = match bots::authenticate(&ctx, token).await {
        Ok(actor) => actor,
        Err(ServiceError::Unauthorized) => {
            // A person's token is valid, but only a bot acts here.
            services::tokens::authenticate(&ctx, token).await?;
            return Err(ServiceError::Forbidden(
                "only the bot that handles a conversation may act in it; use the bot's token"
                    .to_owned(),
            )
            .into());
        }
        Err(error) => return Err(error.into()),
    };
    let conversation_id: ConversationId = path.parse().map_err(|_| ApiError::not_found())?;
    bots::act(&ctx, &actor, conversation_id, &body.actions).await?;
    Ok(HttpResponse::NoContent().finish())
}
