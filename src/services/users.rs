//! Users of an account: signing in, inviting, changing roles, capacity and status, deactivating.

use super::{Actor, Context, ServiceError, random_text};
use crate::{
    domain::{
        FieldError,
        email::EmailAddress,
        ids::{AccountId, UserId},
        password::NewPassword,
        role::Role,
        user::{AgentStatus, Capacity, DEFAULT_CAPACITY, DisplayName},
    },
    storage::{self, entities::user},
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

/// Length of generated temporary passwords (about 94 bits from a 56-character alphabet).
const TEMPORARY_PASSWORD_CHARS: usize = 16;

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub must_change_password: bool,
    pub capacity: i32,
    pub status: AgentStatus,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<user::Model> for User {
    type Error = ServiceError;
    fn try_from(row: user::Model) -> Result<Self, Self::Error> {
        let role = Role::parse("role", &row.role)
            .map_err(|error| anyhow::anyhow!("user {}: {error}", row.id))?;
        let status = AgentStatus::parse("status", &row.status)
            .map_err(|error| anyhow::anyhow!("user {}: {error}", row.id))?;
        Ok(Self {
            id: UserId::from_uuid(row.id),
            account_id: AccountId::from_uuid(row.account_id),
            email: row.email,
            name: row.name,
            role,
            active: row.active,
            must_change_password: row.must_change_password,
            capacity: row.capacity,
            status,
            created_at: row.created_at,
        })
    }
}

impl User {
    fn into_actor(self) -> Actor {
        Actor {
            user_id: self.id,
            account_id: self.account_id,
            role: self.role,
            name: self.name,
            email: self.email,
            must_change_password: self.must_change_password,
        }
    }
}

pub struct NewUser {
    pub email: EmailAddress,
    pub name: DisplayName,
    pub role: Role,
    /// The user's password; `None` makes a temporary one that must be changed at first sign-in.
    pub password: Option<NewPassword>,
}

/// Changes to a user; `None` keeps the field.
#[derive(Default)]
pub struct UserPatch {
    pub name: Option<DisplayName>,
    pub role: Option<Role>,
    pub capacity: Option<Capacity>,
    pub status: Option<AgentStatus>,
    pub active: Option<bool>,
}

/// Inserts a user row; a taken email is a `Conflict`.
pub(crate) async fn insert_user(
    conn: &impl ConnectionTrait,
    account_id: AccountId,
    new: NewUser,
    password_hash: String,
    must_change_password: bool,
    now: DateTime<Utc>,
) -> Result<User, ServiceError> {
    let row = user::Model {
        id: UserId::generate().as_uuid(),
        account_id: account_id.as_uuid(),
        email: new.email.as_str().to_owned(),
        name: new.name.as_str().to_owned(),
        role: new.role.as_str().to_owned(),
        password_hash,
        active: true,
        must_change_password,
        capacity: DEFAULT_CAPACITY,
        status: AgentStatus::Online.as_str().to_owned(),
        created_at: now,
    };
    match storage::users::insert(conn, row).await {
        Ok(row) => row.try_into(),
        Err(error) if storage::is_unique_violation(&error) => Err(ServiceError::Conflict(format!(
            "a user with the email {} already exists",
            new.email
        ))),
        Err(error) => Err(error.into()),
    }
}

/// Checks an email and password. Unknown email, wrong password and deactivated user all
/// answer `Unauthorized` after the same amount of hashing work.
#[tracing::instrument(skip_all)]
pub async fn sign_in(ctx: &Context, email: &str, password: &str) -> Result<Actor, ServiceError> {
    let row = match EmailAddress::parse("email", email) {
        Ok(email) => storage::users::find_by_email(&ctx.db, email.as_str()).await?,
        Err(_) => None,
    };
    let verified = ctx
        .passwords
        .verify(password, row.as_ref().map(|row| row.password_hash.as_str()))
        .await?;
    match row {
        Some(row) if verified && row.active => Ok(User::try_from(row)?.into_actor()),
        _ => Err(ServiceError::Unauthorized),
    }
}

/// The actor of a session: the user, if it still exists and is active.
pub async fn session_actor(ctx: &Context, user_id: UserId) -> Result<Option<Actor>, ServiceError> {
    match storage::users::find(&ctx.reads, user_id.as_uuid()).await? {
        Some(row) if row.active => Ok(Some(User::try_from(row)?.into_actor())),
        _ => Ok(None),
    }
}

/// Creates a user without an actor (the operator's CLI).
pub async fn create_user_as_operator(
    ctx: &Context,
    account_id: AccountId,
    new: NewUser,
) -> Result<(User, Option<String>), ServiceError> {
    let (password, temporary) = match &new.password {
        Some(password) => (password.expose().to_owned(), None),
        None => {
            let temporary = random_text(TEMPORARY_PASSWORD_CHARS);
            (temporary.clone(), Some(temporary))
        }
    };
    let hash = ctx.passwords.hash(&password).await?;
    let user = insert_user(
        &ctx.db,
        account_id,
        new,
        hash,
        temporary.is_some(),
        ctx.clock.now(),
    )
    .await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user created");
    Ok((user, temporary))
}

/// Owners and admins add users; only an owner adds another owner.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn create_user(
    ctx: &Context,
    actor: &Actor,
    new: NewUser,
) -> Result<(User, Option<String>), ServiceError> {
    actor.require(Role::Admin)?;
    if new.role == Role::Owner {
        actor.require(Role::Owner)?;
    }
    create_user_as_operator(ctx, actor.account_id, new).await
}

pub async fn list_users(ctx: &Context, actor: &Actor) -> Result<Vec<User>, ServiceError> {
    storage::users::list_for_account(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .map(User::try_from)
        .collect()
}

pub async fn get_user(ctx: &Context, actor: &Actor, user_id: UserId) -> Result<User, ServiceError> {
    storage::users::find_in_account(&ctx.db, actor.account_id.as_uuid(), user_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?
        .try_into()
}

/// Changes a user. Everyone may change their own name and status; owners and admins change
/// others; only owners touch owners or grant the owner role; the last active owner stays one.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %user_id))]
pub async fn update_user(
    ctx: &Context,
    actor: &Actor,
    user_id: UserId,
    patch: UserPatch,
) -> Result<User, ServiceError> {
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    let mut row =
        storage::users::find_in_account(&txn, actor.account_id.as_uuid(), user_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let before = row.clone();
    let current = User::try_from(row.clone())?;
    let is_self = user_id == actor.user_id;
    let admin_fields = patch.role.is_some() || patch.capacity.is_some() || patch.active.is_some();
    if admin_fields || !is_self {
        actor.require(Role::Admin)?;
    }
    if current.role == Role::Owner || patch.role == Some(Role::Owner) {
        actor.require(Role::Owner)?;
    }
    if is_self && patch.active == Some(false) {
        return Err(ServiceError::Conflict(
            "you cannot deactivate yourself".to_owned(),
        ));
    }
    let stops_being_owner = current.role == Role::Owner
        && current.active
        && (patch.role.is_some_and(|role| role != Role::Owner) || patch.active == Some(false));
    if stops_being_owner
        && storage::users::count_active_owners(&txn, actor.account_id.as_uuid()).await? <= 1
    {
        return Err(ServiceError::Conflict(
            "an account needs at least one active owner".to_owned(),
        ));
    }
    if let Some(name) = patch.name {
        row.name = name.as_str().to_owned();
    }
    if let Some(role) = patch.role {
        row.role = role.as_str().to_owned();
    }
    if let Some(capacity) = patch.capacity {
        row.capacity = capacity.value();
    }
    if let Some(status) = patch.status {
        row.status = status.as_str().to_owned();
    }
    if let Some(active) = patch.active {
        row.active = active;
    }
    let saved = storage::users::save_changes(&txn, &before, row).await?;
    txn.commit().await.context("committing a user change")?;
    let user = User::try_from(saved)?;
    if user.status != current.status || user.active != current.active {
        let online = user.active && user.status == AgentStatus::Online;
        if ctx.hub.set_agent_online(user.account_id, user.id, online) {
            ctx.hub.announce_online(user.account_id);
        }
        ctx.hub
            .announce_agent(user.account_id, user.id, user.status.as_str());
        if online {
            super::routing::drain_quietly(ctx, user.account_id, user.id).await;
        }
    }
    Ok(user)
}

/// A signed-in user sets a new password, proving the current one.
#[tracing::instrument(skip_all, fields(user_id = %actor.user_id))]
pub async fn change_password(
    ctx: &Context,
    actor: &Actor,
    current_password: &str,
    new_password: NewPassword,
) -> Result<(), ServiceError> {
    let row = storage::users::find(&ctx.db, actor.user_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    if !ctx
        .passwords
        .verify(current_password, Some(&row.password_hash))
        .await?
    {
        return Err(ServiceError::invalid(FieldError::new(
            "current_password",
            "is not your current password",
        )));
    }
    if current_password == new_password.expose() {
        return Err(ServiceError::invalid(FieldError::new(
            "new_password",
            "must differ from the current password",
        )));
    }
    let hash = ctx.passwords.hash(new_password.expose()).await?;
    storage::users::set_password(&ctx.db, row.id, hash, false).await?;
    Ok(())
}

/// Sets a password without the old one (operator tools: the demo's printed logins).
pub(crate) async fn reset_password(
    ctx: &Context,
    user_id: UserId,
    password: &str,
) -> Result<(), ServiceError> {
    let hash = ctx.passwords.hash(password).await?;
    storage::users::set_password(&ctx.db, user_id.as_uuid(), hash, false).await?;
    Ok(())
}

/// Finds an active user by email (CLI).
pub async fn find_by_email(ctx: &Context, email: &EmailAddress) -> Result<User, ServiceError> {
    match storage::users::find_by_email(&ctx.db, email.as_str()).await? {
        Some(row) if row.active => row.try_into(),
        _ => Err(ServiceError::NotFound),
    }
}
