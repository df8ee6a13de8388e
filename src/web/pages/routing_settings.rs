//! `/settings/routing` (owners and admins): teams with their members, default and shared
//! queue, and the ordered routing rules that send conversations to them.

use super::{Chrome, error_lines, redirect, render, render_with_status};
use crate::{
    domain::{
        flow::definition::{Match, Operator},
        role::Role,
        routing::RuleCondition,
    },
    services::{
        self, Context, ServiceError,
        routing::{RuleInput, RuleView, TeamInput, TeamView},
        users::User,
    },
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_routing)
        .service(post_team)
        .service(post_update_team)
        .service(post_delete_team)
        .service(post_rule)
        .service(post_delete_rule);
}

/// Condition rows on the "Add a rule" form.
const CONDITION_ROWS: [usize; 3] = [1, 2, 3];
pub const OPERATORS: [&str; 6] = [
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "regex",
];

#[derive(Template)]
#[template(path = "settings/routing.html")]
struct RoutingPage {
    chrome: Chrome,
    tab: &'static str,
    teams: Vec<TeamView>,
    users: Vec<User>,
    rules: Vec<RuleView>,
    /// External bots a rule may send new conversations to first, `(id, name)`.
    bots: Vec<(uuid::Uuid, String)>,
    errors: Vec<String>,
    saved: bool,
    rows: [usize; 3],
    operators: [&'static str; 6],
}

impl RoutingPage {
    fn bot_name(&self, id: &uuid::Uuid) -> String {
        self.bots
            .iter()
            .find(|(bot, _)| bot == id)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| "a bot".to_owned())
    }

    fn team_name(&self, id: &uuid::Uuid) -> String {
        self.teams
            .iter()
            .find(|t| t.id == *id)
            .map_or_else(|| "(deleted)".to_owned(), |t| t.name.clone())
    }
}

fn op_code(op: &Operator) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A condition as people read it: `context.topic equals "sales"`.
pub fn describe(condition: &RuleCondition) -> String {
    format!(
        "{} {} \u{201c}{}\u{201d}",
        condition.field,
        op_code(&condition.op).replace('_', " "),
        condition.value
    )
}

async fn page(
    ctx: &Context,
    signed_in: &SignedIn,
    errors: Vec<String>,
    saved: bool,
) -> Result<RoutingPage, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    Ok(RoutingPage {
        chrome: Chrome::new(ctx, actor, &signed_in.session, "settings").await?,
        tab: "routing",
        teams: services::routing::teams(ctx, actor).await?,
        users: services::users::list_users(ctx, actor)
            .await?
            .into_iter()
            .filter(|u| u.active)
            .collect(),
        rules: services::routing::rules(ctx, actor).await?,
        bots: services::bots::names(ctx, actor).await?,
        errors,
        saved,
        rows: CONDITION_ROWS,
        operators: OPERATORS,
    })
}

#[derive(serde::Deserialize)]
struct Saved {
    saved: Option<String>,
}

#[get("/settings/routing")]
async fn get_routing(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<Saved>,
) -> Result<HttpResponse, PageError> {
    render(&page(&ctx, &signed_in, Vec::new(), query.saved.is_some()).await?)
}

async fn done(
    ctx: &Context,
    signed_in: &SignedIn,
    result: Result<(), ServiceError>,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(()) => Ok(redirect("/settings/routing?saved=1")),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            render_with_status(
                &page(ctx, signed_in, errors, false).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

/// Team forms: `name`, `is_default`, `shared_queue`, one `member` per checked user.
fn team_input(form: &[(String, String)]) -> Result<TeamInput, ServiceError> {
    let members = form
        .iter()
        .filter(|(key, _)| key == "member")
        .map(|(_, value)| {
            value.parse().map_err(|_| {
                ServiceError::invalid(crate::domain::FieldError::new("members", "not a user's id"))
            })
        })
        .collect::<Result<Vec<uuid::Uuid>, _>>()?;
    Ok(TeamInput {
        name: field(form, "name").to_owned(),
        is_default: field(form, "is_default") == "on",
        shared_queue: field(form, "shared_queue") == "on",
        members,
    })
}

#[post("/settings/routing/teams")]
async fn post_team(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let result = match team_input(&form) {
        Ok(input) => services::routing::create_team(&ctx, &signed_in.actor, input)
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    done(&ctx, &signed_in, result).await
}

fn path_id(raw: &str) -> Result<uuid::Uuid, PageError> {
    Ok(raw.parse().map_err(|_| ServiceError::NotFound)?)
}

#[post("/settings/routing/teams/{id}")]
async fn post_update_team(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let id = path_id(&path)?;
    let result = match team_input(&form) {
        Ok(input) => services::routing::update_team(&ctx, &signed_in.actor, id, input)
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    done(&ctx, &signed_in, result).await
}

#[post("/settings/routing/teams/{id}/delete")]
async fn post_delete_team(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let id = path_id(&path)?;
    let result = services::routing::delete_team(&ctx, &signed_in.actor, id).await;
    done(&ctx, &signed_in, result).await
}

/// The rule form: `name`, `match`, `team_id`, and rows `field_N`, `op_N`, `value_N`
/// (rows without a value are skipped).
fn rule_input(form: &[(String, String)]) -> Result<RuleInput, ServiceError> {
    let mut conditions = Vec::new();
    for n in CONDITION_ROWS {
        let value = field(form, &format!("value_{n}"));
        if value.trim().is_empty() {
            continue;
        }
        let op: Operator = serde_json::from_value(serde_json::Value::String(
            field(form, &format!("op_{n}")).to_owned(),
        ))
        .map_err(|_| {
            ServiceError::invalid(crate::domain::FieldError::new(
                format!("conditions[{}].op", conditions.len()),
                "pick an operator",
            ))
        })?;
        conditions.push(RuleCondition {
            field: field(form, &format!("field_{n}")).trim().to_owned(),
            op,
            value: value.trim().to_owned(),
        });
    }
    Ok(RuleInput {
        name: field(form, "name").to_owned(),
        match_: if field(form, "match") == "any" {
            Match::Any
        } else {
            Match::All
        },
        conditions,
        team_id: field(form, "team_id").parse().map_err(|_| {
            ServiceError::invalid(crate::domain::FieldError::new("team_id", "pick a team"))
        })?,
        position: None,
        // "First to the bot": an optional bot the rule sends new conversations to.
        target: field(form, "bot_id")
            .parse()
            .ok()
            .map(|bot_id| crate::services::routing::RuleTarget { bot_id }),
    })
}

#[post("/settings/routing/rules")]
async fn post_rule(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let result = match rule_input(&form) {
        Ok(input) => services::routing::save_rule(&ctx, &signed_in.actor, None, input)
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    done(&ctx, &signed_in, result).await
}

#[post("/settings/routing/rules/{id}/delete")]
async fn post_delete_rule(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let id = path_id(&path)?;
    let result = services::routing::delete_rule(&ctx, &signed_in.actor, id).await;
    done(&ctx, &signed_in, result).await
}
