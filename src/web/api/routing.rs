//! `/api/v1/teams` and `/api/v1/routing-rules`: teams with members and queue counts, and the
//! ordered rules that route conversations to them.

use crate::{
    services::{
        Context,
        routing::{self, RuleInput, RuleView, TeamInput, TeamView},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Serialize;
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_teams)
        .service(create_team)
        .service(update_team)
        .service(delete_team)
        .service(list_rules)
        .service(create_rule)
        .service(update_rule)
        .service(delete_rule);
}

fn id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    teams: Vec<TeamView>,
}

/// The account's teams, with members and how many conversations wait in each queue.
#[utoipa::path(get, path = "/api/v1/teams", tag = "routing", responses((status = 200, body = TeamList)))]
#[get("/teams")]
async fn list_teams(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(TeamList {
        teams: routing::teams(&ctx, &actor).await?,
    }))
}

/// Creates a team (owner, admin); the first team is the default.
#[utoipa::path(post, path = "/api/v1/teams", tag = "routing", request_body = TeamInput,
    responses((status = 201, body = TeamView), (status = 422, body = super::ErrorBody)))]
#[post("/teams")]
async fn create_team(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<TeamInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(routing::create_team(&ctx, &actor, body.into_inner()).await?))
}

/// Replaces a team's name, flags and members.
#[utoipa::path(put, path = "/api/v1/teams/{id}", tag = "routing", params(("id" = uuid::Uuid, Path)),
    request_body = TeamInput, responses((status = 200, body = TeamView), (status = 404, body = super::ErrorBody)))]
#[put("/teams/{id}")]
async fn update_team(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<TeamInput>,
) -> Result<HttpResponse, ApiError> {
    let team = routing::update_team(&ctx, &actor, id(&path)?, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(team))
}

/// Deletes a team and its rules.
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "routing", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
#[delete("/teams/{id}")]
async fn delete_team(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    routing::delete_team(&ctx, &actor, id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct RuleList {
    rules: Vec<RuleView>,
}

/// The routing rules in the order they are tried.
#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing", responses((status = 200, body = RuleList)))]
#[get("/routing-rules")]
async fn list_rules(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(RuleList {
        rules: routing::rules(&ctx, &actor).await?,
    }))
}

/// Adds a rule (at the end unless `position` says otherwise).
#[utoipa::path(post, path = "/api/v1/routing-rules", tag = "routing", request_body = RuleInput,
    responses((status = 201, body = RuleView), (status = 422, body = super::ErrorBody)))]
#[post("/routing-rules")]
async fn create_rule(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<RuleInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created()
        .json(routing::save_rule(&ctx, &actor, None, body.into_inner()).await?))
}

/// Replaces a rule.
#[utoipa::path(put, path = "/api/v1/routing-rules/{id}", tag = "routing", params(("id" = uuid::Uuid, Path)),
    request_body = RuleInput, responses((status = 200, body = RuleView), (status = 404, body = super::ErrorBody)))]
#[put("/routing-rules/{id}")]
async fn update_rule(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<RuleInput>,
) -> Result<HttpResponse, ApiError> {
    let rule = routing::save_rule(&ctx, &actor, Some(id(&path)?), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rule))
}

#[utoipa::path(delete, path = "/api/v1/routing-rules/{id}", tag = "routing", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
#[delete("/routing-rules/{id}")]
async fn delete_rule(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    routing::delete_rule(&ctx, &actor, id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
