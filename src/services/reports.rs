//! Team reports (issue: routing and reports): the hooks that append reporting events inside
//! the transactions of what they record, and the report of a date range computed from those
//! events alone, never by scanning conversations.
//!
//! Definitions (also in docs/reports.md): a conversation counts on the day the visitor (or an
//! agent) started it; first response time runs from when the conversation first reached
//! people (the bot's handover, else its start) to the first reply by a person; resolution
//! time from start to resolve (each resolve after a reopen counts again); a rating counts
//! for the agent assigned when it was given, and a new rating of the same conversation
//! replaces the old one.

use super::{Actor, Context, ServiceError, insights::Range};
use crate::{
    domain::{
        business_hours::BusinessHours,
        report::{self, Fact, FactKind, HandledBy},
        role::Role,
    },
    storage::{
        self,
        entities::{conversation, report_event},
        flow_runs::RESOLVED_BY_CHATBOT,
    },
};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

fn event(
    row: &conversation::Model,
    kind: FactKind,
    at: DateTime<Utc>,
    agent: Option<uuid::Uuid>,
) -> report_event::Model {
    event_of((row.account_id, row.id, row.team_id), kind, at, agent)
}

/// A fact about the conversation `(account, conversation, team)`.
fn event_of(
    (account_id, conversation_id, team_id): (uuid::Uuid, uuid::Uuid, Option<uuid::Uuid>),
    kind: FactKind,
    at: DateTime<Utc>,
    agent: Option<uuid::Uuid>,
) -> report_event::Model {
    report_event::Model {
        id: uuid::Uuid::now_v7(),
        account_id,
        conversation_id,
        kind: kind.as_str().to_owned(),
        at,
        agent_id: agent,
        team_id,
        seconds: None,
        handled_by: None,
        rating: None,
        previous_rating: None,
    }
}

/// The first response fact: `agent` answered at `at` the conversation `(account,
/// conversation, team)` that people have had `since` (when it reached them, else its start).
pub(crate) fn first_response(
    of: (uuid::Uuid, uuid::Uuid, Option<uuid::Uuid>),
    since: DateTime<Utc>,
    agent: uuid::Uuid,
    at: DateTime<Utc>,
) -> report_event::Model {
    let mut fact = event_of(of, FactKind::FirstResponse, at, Some(agent));
    fact.seconds = Some((at - since).num_seconds().max(0));
    fact
}

/// The visitor (or an agent) started the conversation.
pub(crate) async fn started(
    conn: &impl ConnectionTrait,
    row: &conversation::Model,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    storage::reports::record(conn, event(row, FactKind::Started, at, None)).await
}

/// The conversation reached people now (a handover, or a visitor writing with no bot):
/// first response times count from the first time this happens.
pub(crate) async fn reached_people(
    conn: &impl ConnectionTrait,
    row: &conversation::Model,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if row.human_since.is_some() {
        return Ok(());
    }
    storage::reports::mark_human_since(conn, row.id, at).await
}

/// A person replied (not a note); records the first response once per conversation. The
/// caller holds the conversation's row lock.
pub(crate) async fn replied(
    conn: &impl ConnectionTrait,
    row: &conversation::Model,
    agent: uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if row.first_response_at.is_some()
        || !storage::reports::mark_first_response(conn, row.id, at).await?
    {
        return Ok(());
    }
    let since = row.human_since.unwrap_or(row.created_at);
    let fact = first_response((row.account_id, row.id, row.team_id), since, agent, at);
    storage::reports::record(conn, fact).await
}

/// The conversation was resolved (every resolve path ends here, with the outcome decided).
pub(crate) async fn resolved(
    conn: &impl ConnectionTrait,
    row: &conversation::Model,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    // A person who wrote wins over an earlier bot outcome (a conversation reopened and
    // answered by an agent).
    let handled_by = if row.first_response_at.is_some() {
        HandledBy::Human
    } else if row.outcome.as_deref() == Some(RESOLVED_BY_CHATBOT) {
        HandledBy::Bot
    } else {
        HandledBy::Nobody
    };
    let mut fact = event(row, FactKind::Resolved, at, row.assignee_id);
    fact.seconds = Some((at - row.created_at).num_seconds().max(0));
    fact.handled_by = Some(handled_by.as_str().to_owned());
    storage::reports::record(conn, fact).await
}

/// The visitor rated the conversation (`before` is the row as it was).
pub(crate) async fn rated(
    conn: &impl ConnectionTrait,
    before: &conversation::Model,
    rating: i16,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut fact = event(before, FactKind::Rated, at, before.assignee_id);
    fact.rating = Some(rating);
    fact.previous_rating = before.rating;
    storage::reports::record(conn, fact).await
}

/// The figures of the whole account, one agent or one team.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Conversations started in the range.
    pub conversations: u64,
    /// Conversations a person first answered in the range.
    pub first_responses: u64,
    pub median_first_response_seconds: Option<i64>,
    /// First responses whose wait began inside business hours (all of them without hours).
    pub first_responses_inside_hours: u64,
    pub median_first_response_inside_hours_seconds: Option<i64>,
    /// First responses whose wait began outside business hours.
    pub first_responses_outside_hours: u64,
    pub median_first_response_outside_hours_seconds: Option<i64>,
    /// Resolves in the range (a conversation reopened and resolved again counts twice).
    pub resolved: u64,
    pub median_resolution_seconds: Option<i64>,
    pub ratings: u64,
    /// 1 to 5, two decimals; null without ratings.
    pub average_rating: Option<f64>,
    /// Resolved with no person writing: "Resolved by chatbot".
    pub resolved_by_chatbot: u64,
    /// Resolved after a person replied.
    pub resolved_by_humans: u64,
    /// Resolved before anybody answered (e.g. the visitor left).
    pub resolved_without_reply: u64,
}

impl From<report::Figures> for Figures {
    fn from(f: report::Figures) -> Self {
        Figures {
            conversations: f.conversations,
            first_responses: f.first_responses,
            median_first_response_seconds: f.median_first_response_seconds,
            first_responses_inside_hours: f.first_responses_inside_hours,
            median_first_response_inside_hours_seconds: f
                .median_first_response_inside_hours_seconds,
            first_responses_outside_hours: f.first_responses_outside_hours,
            median_first_response_outside_hours_seconds: f
                .median_first_response_outside_hours_seconds,
            resolved: f.resolved,
            median_resolution_seconds: f.median_resolution_seconds,
            ratings: f.ratings,
            average_rating: f.average_rating,
            resolved_by_chatbot: f.resolved_by_chatbot,
            resolved_by_humans: f.resolved_by_humans,
            resolved_without_reply: f.resolved_without_reply,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Row {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Report {
    #[schema(value_type = String, example = "2026-11-01")]
    pub from: chrono::NaiveDate,
    #[schema(value_type = String, example = "2026-11-30")]
    pub to: chrono::NaiveDate,
    pub total: Figures,
    /// Agents with any figure in the range, by name.
    pub agents: Vec<Row>,
    /// Teams with any figure in the range, by name.
    pub teams: Vec<Row>,
}

/// A stored event as a fact; a first response learns whether its wait began inside the
/// account's (current) business hours.
fn fact(row: report_event::Model, hours: Option<&BusinessHours>) -> Option<Fact> {
    let inside_hours = match (row.kind.as_str(), hours, row.seconds) {
        ("first_response", Some(hours), Some(seconds)) => {
            Some(hours.is_open(row.at - chrono::Duration::seconds(seconds)))
        }
        _ => None,
    };
    Some(Fact {
        inside_hours,
        kind: FactKind::parse(&row.kind)?,
        conversation: row.conversation_id,
        agent: row.agent_id,
        team: row.team_id,
        seconds: row.seconds,
        handled_by: row.handled_by.as_deref().and_then(HandledBy::parse),
        rating: row.rating,
        previous_rating: row.previous_rating,
    })
}

fn rows(
    figures: BTreeMap<uuid::Uuid, report::Figures>,
    names: &BTreeMap<uuid::Uuid, String>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = figures
        .into_iter()
        .map(|(id, figures)| Row {
            id,
            name: names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "(deleted)".to_owned()),
            figures: figures.into(),
        })
        .collect();
    rows.sort_by_key(|row| row.name.to_lowercase());
    rows
}

/// The report of a date range (owners and admins).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn report(ctx: &Context, actor: &Actor, range: Range) -> Result<Report, ServiceError> {
    actor.require(Role::Admin)?;
    let account = actor.account_id.as_uuid();
    let hours = storage::accounts::find(&ctx.db, account)
        .await?
        .as_ref()
        .and_then(super::accounts::business_hours_of);
    let facts: Vec<Fact> = storage::reports::between(&ctx.db, account, range.start(), range.end())
        .await?
        .into_iter()
        .filter_map(|row| fact(row, hours.as_ref()))
        .collect();
    let computed = report::report(&facts);
    let agent_names: BTreeMap<uuid::Uuid, String> =
        storage::users::list_for_account(&ctx.db, account)
            .await?
            .into_iter()
            .map(|user| (user.id, user.name))
            .collect();
    let team_names: BTreeMap<uuid::Uuid, String> = storage::teams::list(&ctx.db, account)
        .await?
        .into_iter()
        .map(|team| (team.id, team.name))
        .collect();
    Ok(Report {
        from: range.from,
        to: range.to,
        total: computed.total.into(),
        agents: rows(computed.agents, &agent_names),
        teams: rows(computed.teams, &team_names),
    })
}
