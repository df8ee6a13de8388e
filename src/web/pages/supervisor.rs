//! `/supervisor` (owners and admins): the conversations in progress, who handles each (an
//! external bot, a flow, an agent, a team's queue) and how long it has been waiting. The page
//! updates itself when something changes (`static/inbox.js` over `/ws/agent?watch=1` fetches
//! `/supervisor/fragment`), and the waiting times tick in the browser.

use super::{Chrome, inbox::fragment, render};
use crate::{
    domain::conversation::Handler,
    domain::{conversation::ConversationStatus, role::Role},
    services::{self, Context, conversations::ListQuery},
    web::{auth::SignedIn, errors::PageError},
};
use actix_web::{HttpResponse, get, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_supervisor).service(get_supervisor_fragment);
}

/// Conversations shown (the most recently active first).
const SHOWN: u64 = 100;

struct Row {
    id: String,
    visitor: String,
    /// `bot`, `human` or `none`.
    handler: Handler,
    /// Who has it, in words: "bot Helper", "flow", "Ann", "queue of Support", "nobody".
    handled_by: String,
    /// Since it was queued, else since its last activity.
    waiting: String,
    /// The same in seconds, from which the browser keeps counting.
    waited_seconds: i64,
    queued: bool,
}

#[derive(Template)]
#[template(path = "supervisor/index.html")]
struct SupervisorPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

/// The table alone, fetched again whenever a conversation changes.
#[derive(Template)]
#[template(path = "supervisor/index.html", block = "rows")]
struct SupervisorFragment {
    rows: Vec<Row>,
}

fn waited(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{} min", seconds / 60)
    } else {
        format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60)
    }
}

/// The open conversations as the table shows them.
async fn rows(ctx: &Context, signed_in: &SignedIn) -> Result<Vec<Row>, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    let query = ListQuery {
        status: Some(ConversationStatus::Open),
        ..ListQuery::default()
    };
    let page = services::conversations::list(ctx, actor, &query, None, SHOWN).await?;
    let teams = services::routing::teams(ctx, actor).await?;
    let now = ctx.clock.now();
    let mut rows = Vec::new();
    for summary in page.conversations {
        let handled_by = match summary.handler.as_str() {
            "bot" => match services::bots::handling(ctx, actor, summary.id.as_uuid()).await? {
                Some((_, name)) => format!("bot {name}"),
                None => "flow".to_owned(),
            },
            _ => match (&summary.assignee, summary.team_id) {
                (Some(agent), _) => agent.name.clone(),
                (None, Some(team)) => format!(
                    "queue of {}",
                    teams
                        .iter()
                        .find(|t| t.id == team)
                        .map_or("a team", |t| t.name.as_str())
                ),
                (None, None) => "nobody".to_owned(),
            },
        };
        let since = summary.queued_at.unwrap_or(summary.last_activity_at);
        let waited_seconds = (now - since).num_seconds().max(0);
        rows.push(Row {
            id: summary.id.to_string(),
            visitor: summary.visitor.display_name.clone(),
            handler: summary.handler,
            handled_by,
            waiting: waited(waited_seconds),
            waited_seconds,
            queued: summary.queued_at.is_some() && summary.assignee.is_none(),
        });
    }
    Ok(rows)
}

#[get("/supervisor")]
async fn get_supervisor(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
) -> Result<HttpResponse, PageError> {
    let rows = rows(&ctx, &signed_in).await?;
    render(&SupervisorPage {
        chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "supervisor").await?,
        rows,
    })
}

#[get("/supervisor/fragment")]
async fn get_supervisor_fragment(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
) -> Result<HttpResponse, PageError> {
    fragment(&SupervisorFragment {
        rows: rows(&ctx, &signed_in).await?,
    })
}
