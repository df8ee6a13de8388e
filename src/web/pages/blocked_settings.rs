//! `/settings/blocked` (owners and admins): the visitors and addresses that may not chat,
//! who blocked them and why, with Unblock.

use super::{Chrome, format_time, redirect, render};
use crate::{
    domain::role::Role,
    services::{self, Context, ServiceError, blocking::BlockView},
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_blocked).service(post_unblock);
}

/// One line of the list.
pub struct BlockRow {
    pub id: String,
    pub visitor: String,
    pub ip: String,
    pub reason: String,
    pub by: String,
    pub at: String,
}

impl From<BlockView> for BlockRow {
    fn from(block: BlockView) -> Self {
        Self {
            id: block.id.to_string(),
            visitor: block.visitor_label(),
            ip: block.ip.clone().unwrap_or_else(|| "—".to_owned()),
            reason: block.reason.clone().unwrap_or_else(|| "—".to_owned()),
            by: block
                .blocked_by
                .as_ref()
                .map_or_else(|| "(deleted user)".to_owned(), |by| by.name.clone()),
            at: format_time(block.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "settings/blocked.html")]
struct BlockedPage {
    chrome: Chrome,
    tab: &'static str,
    blocks: Vec<BlockRow>,
    saved: bool,
}

#[derive(serde::Deserialize)]
struct Saved {
    saved: Option<String>,
}

#[get("/settings/blocked")]
async fn get_blocked(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<Saved>,
) -> Result<HttpResponse, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    render(&BlockedPage {
        chrome: Chrome::new(&ctx, actor, &signed_in.session, "settings").await?,
        tab: "blocked",
        blocks: services::blocking::list(&ctx, actor)
            .await?
            .into_iter()
            .map(BlockRow::from)
            .collect(),
        saved: query.saved.is_some(),
    })
}

#[post("/settings/blocked/{id}/unblock")]
async fn post_unblock(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    let id: uuid::Uuid = path.parse().map_err(|_| ServiceError::NotFound)?;
    services::blocking::unblock(&ctx, actor, id).await?;
    Ok(redirect("/settings/blocked?saved=1"))
}
