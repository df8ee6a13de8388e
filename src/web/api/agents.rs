//! `GET/POST /api/v1/agents` and `PATCH /api/v1/agents/{id}`: the users of the account.

use crate::{
    domain::{
        email::EmailAddress,
        ids::UserId,
        password::NewPassword,
        role::Role,
        user::{AgentStatus, Capacity, DisplayName},
    },
    services::{
        self, Context, ServiceError,
        users::{NewUser, User, UserPatch},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_agents)
        .service(create_agent)
        .service(patch_agent);
}

#[derive(Serialize, ToSchema)]
pub struct AgentView {
    id: uuid::Uuid,
    email: String,
    name: String,
    /// `owner`, `admin` or `agent`.
    role: String,
    active: bool,
    /// Most open conversations held at once.
    capacity: i32,
    /// `online` or `away`.
    status: String,
    /// The user signed in with a temporary password and must set their own.
    must_change_password: bool,
    created_at: DateTime<Utc>,
}

impl From<User> for AgentView {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email,
            name: user.name,
            role: user.role.as_str().to_owned(),
            active: user.active,
            capacity: user.capacity,
            status: user.status.as_str().to_owned(),
            must_change_password: user.must_change_password,
            created_at: user.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AgentList {
    agents: Vec<AgentView>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAgent {
    agent: AgentView,
    /// Present when no password was given: shown once; the user must change it at first sign-in.
    temporary_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    email: String,
    name: String,
    /// `agent` (default), `admin`, or `owner` (owners only).
    role: Option<String>,
    /// Omit to generate a temporary password.
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPatchBody {
    name: Option<String>,
    role: Option<String>,
    capacity: Option<i64>,
    status: Option<String>,
    active: Option<bool>,
}

/// Every user of the account.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = AgentList), (status = 401, body = super::ErrorBody)))]
#[get("/agents")]
async fn list_agents(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    let agents = services::users::list_users(&ctx, &actor).await?;
    Ok(HttpResponse::Ok().json(AgentList {
        agents: agents.into_iter().map(AgentView::from).collect(),
    }))
}

/// Adds a user (owner or admin; only owners add owners).
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = NewAgentBody,
    responses((status = 201, body = CreatedAgent), (status = 403, body = super::ErrorBody),
        (status = 409, description = "The email is taken", body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
#[post("/agents")]
async fn create_agent(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<NewAgentBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut problems = Vec::new();
    let email = EmailAddress::parse("email", &body.email)
        .map_err(|e| problems.push(e))
        .ok();
    let name = DisplayName::parse("name", &body.name)
        .map_err(|e| problems.push(e))
        .ok();
    let role = Role::parse("role", body.role.as_deref().unwrap_or("agent"))
        .map_err(|e| problems.push(e))
        .ok();
    let password = match body.password.as_deref() {
        Some(raw) => NewPassword::parse("password", raw)
            .map_err(|e| problems.push(e))
            .ok()
            .map(Some),
        None => Some(None),
    };
    let (Some(email), Some(name), Some(role), Some(password)) = (email, name, role, password)
    else {
        return Err(ServiceError::Invalid(problems).into());
    };
    let (user, temporary_password) = services::users::create_user(
        &ctx,
        &actor,
        NewUser {
            email,
            name,
            role,
            password,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(CreatedAgent {
        agent: user.into(),
        temporary_password,
    }))
}

/// Changes a user: name and status (anyone for themselves), role, capacity, active (owner/admin).
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", request_body = AgentPatchBody,
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AgentView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "E.g. the last owner would be removed", body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
#[patch("/agents/{id}")]
async fn patch_agent(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    body: web::Json<AgentPatchBody>,
) -> Result<HttpResponse, ApiError> {
    let user_id: UserId = path.parse().map_err(|_| ApiError::not_found())?;
    let body = body.into_inner();
    let mut problems = Vec::new();
    let patch = UserPatch {
        name: body.name.and_then(|raw| {
            DisplayName::parse("name", &raw)
                .map_err(|e| problems.push(e))
                .ok()
        }),
        role: body
            .role
            .and_then(|raw| Role::parse("role", &raw).map_err(|e| problems.push(e)).ok()),
        capacity: body.capacity.and_then(|raw| {
            Capacity::parse("capacity", raw)
                .map_err(|e| problems.push(e))
                .ok()
        }),
        status: body.status.and_then(|raw| {
            AgentStatus::parse("status", &raw)
                .map_err(|e| problems.push(e))
                .ok()
        }),
        active: body.active,
    };
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems).into());
    }
    let user = services::users::update_user(&ctx, &actor, user_id, patch).await?;
    Ok(HttpResponse::Ok().json(AgentView::from(user)))
}
