//! `/bots` (owners and admins): the account's external bots, the form to register one (its
//! secret and token shown once), enable/disable and delete, and each bot's recent deliveries
//! and failures.

use super::{Chrome, error_lines, redirect, render, render_with_status};
use crate::{
    domain::role::Role,
    services::{
        self, Context, ServiceError,
        bots::{BotDeliveryView, BotInput, BotView, CreatedBot},
    },
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_bots)
        .service(post_bot)
        .service(post_toggle_bot)
        .service(post_delete_bot);
}

/// A bot with its latest deliveries.
struct BotRow {
    bot: BotView,
    deliveries: Vec<BotDeliveryView>,
}

#[derive(Template)]
#[template(path = "bots/index.html")]
struct BotsPage {
    chrome: Chrome,
    bots: Vec<BotRow>,
    /// Just registered: its secret and token, shown this once.
    created: Option<CreatedBot>,
    errors: Vec<String>,
    notice: Option<&'static str>,
}

/// Deliveries shown per bot.
const SHOWN_DELIVERIES: usize = 20;

fn at(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

async fn page(
    ctx: &Context,
    signed_in: &SignedIn,
    created: Option<CreatedBot>,
    errors: Vec<String>,
    notice: Option<&'static str>,
) -> Result<BotsPage, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    let mut bots = Vec::new();
    for bot in services::bots::list(ctx, actor).await? {
        let mut deliveries = services::bots::deliveries(ctx, actor, bot.id).await?;
        deliveries.truncate(SHOWN_DELIVERIES);
        bots.push(BotRow { bot, deliveries });
    }
    Ok(BotsPage {
        chrome: Chrome::new(ctx, actor, &signed_in.session, "bots").await?,
        bots,
        created,
        errors,
        notice,
    })
}

#[derive(serde::Deserialize)]
struct Notice {
    saved: Option<String>,
}

#[get("/bots")]
async fn get_bots(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let notice = query.saved.as_ref().map(|_| "Saved.");
    render(&page(&ctx, &signed_in, None, Vec::new(), notice).await?)
}

async fn failed(
    ctx: &Context,
    signed_in: &SignedIn,
    error: ServiceError,
) -> Result<HttpResponse, PageError> {
    let errors = error_lines(&error).ok_or(error)?;
    render_with_status(
        &page(ctx, signed_in, None, errors, None).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

#[derive(serde::Deserialize)]
struct NewBotForm {
    name: String,
    url: String,
    timeout_ms: Option<String>,
    label: Option<String>,
    avatar: Option<String>,
}

/// Registers a bot and shows its secret and token once (the page is the answer, not a redirect).
#[post("/bots")]
async fn post_bot(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<NewBotForm>,
) -> Result<HttpResponse, PageError> {
    let timeout_ms = match form
        .timeout_ms
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(ms) => Some(ms),
            Err(_) => {
                let error = ServiceError::invalid(crate::domain::FieldError::new(
                    "timeout_ms",
                    "must be a number of milliseconds",
                ));
                return failed(&ctx, &signed_in, error).await;
            }
        },
    };
    let input = BotInput {
        name: Some(form.name),
        url: Some(form.url),
        enabled: Some(true),
        timeout_ms,
        avatar: form.avatar,
        label: form.label,
    };
    match services::bots::create(&ctx, &signed_in.actor, input).await {
        Ok(created) => render(&page(&ctx, &signed_in, Some(created), Vec::new(), None).await?),
        Err(error) => failed(&ctx, &signed_in, error).await,
    }
}

fn path_id(raw: &str) -> Result<uuid::Uuid, PageError> {
    Ok(raw.parse().map_err(|_| ServiceError::NotFound)?)
}

#[derive(serde::Deserialize)]
struct ToggleForm {
    enabled: String,
}

#[post("/bots/{id}/enabled")]
async fn post_toggle_bot(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<ToggleForm>,
) -> Result<HttpResponse, PageError> {
    let input = BotInput {
        enabled: Some(form.enabled == "true"),
        ..BotInput::default()
    };
    match services::bots::update(&ctx, &signed_in.actor, path_id(&path)?, input).await {
        Ok(_) => Ok(redirect("/bots?saved=1")),
        Err(error) => failed(&ctx, &signed_in, error).await,
    }
}

#[post("/bots/{id}/delete")]
async fn post_delete_bot(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    match services::bots::delete(&ctx, &signed_in.actor, path_id(&path)?).await {
        Ok(()) => Ok(redirect("/bots?saved=1")),
        Err(error) => failed(&ctx, &signed_in, error).await,
    }
}
