//! Shortcuts (canned replies): an agent types `/name` in the reply box to insert the text.

use super::{Actor, Context, ServiceError};
use crate::{
    domain::{FieldError, role::Role},
    storage::{self, entities::shortcut},
};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Shortcut {
    pub id: uuid::Uuid,
    pub name: String,
    pub text: String,
}

/// A shortcut name: 1 to 32 lower-case letters, digits, `-` or `_`.
fn parse_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim().trim_start_matches('/').to_lowercase();
    let valid = (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(FieldError::new(
            "name",
            "must be 1 to 32 letters, digits, - or _",
        ))
    }
}

pub async fn list(ctx: &Context, actor: &Actor) -> Result<Vec<Shortcut>, ServiceError> {
    Ok(
        storage::shortcuts::list(&ctx.db, actor.account_id.as_uuid())
            .await?
            .into_iter()
            .map(|row| Shortcut {
                id: row.id,
                name: row.name,
                text: row.text,
            })
            .collect(),
    )
}

/// Owners and admins add shortcuts for the whole account.
pub async fn create(
    ctx: &Context,
    actor: &Actor,
    name: &str,
    text: &str,
) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    let mut problems = Vec::new();
    let name = parse_name(name).map_err(|e| problems.push(e)).ok();
    let text = text.trim();
    if text.is_empty() || text.chars().count() > ctx.settings.max_message_chars {
        problems.push(FieldError::new(
            "text",
            format!("must be 1 to {} characters", ctx.settings.max_message_chars),
        ));
    }
    let Some(name) = name.filter(|_| problems.is_empty()) else {
        return Err(ServiceError::Invalid(problems));
    };
    let row = shortcut::Model {
        id: uuid::Uuid::now_v7(),
        account_id: actor.account_id.as_uuid(),
        name: name.clone(),
        text: text.to_owned(),
        created_at: ctx.clock.now(),
    };
    match storage::shortcuts::insert(&ctx.db, row).await {
        Ok(()) => Ok(()),
        Err(error) if storage::is_unique_violation(&error) => Err(ServiceError::Conflict(format!(
            "a shortcut /{name} exists already"
        ))),
        Err(error) => Err(error.into()),
    }
}

pub async fn delete(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    if storage::shortcuts::delete(&ctx.db, actor.account_id.as_uuid(), id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}
