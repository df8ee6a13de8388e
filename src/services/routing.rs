//! Teams, routing rules and assignment (DESIGN section 4). When a conversation reaches people
//! (a bot's handover, or a visitor's first message with no bot), the rules pick a team (the
//! first that matches, else the default team) and the conversation goes to the least busy
//! online member with free capacity; with none it waits in the team's queue, which drains
//! when a member comes online or frees a slot. A team with a shared queue assigns nobody.
//!
//! Locks are taken in one order everywhere: the conversation's row, then the agent's row.
//! Under the agent's lock the open conversations are counted again, so concurrent handovers
//! never put an agent over capacity.

use super::{Actor, Context, ServiceError, conversations::publish_conversation};
use crate::{
    domain::conversation::{ConversationStatus, Handler},
    domain::{
        FieldError,
        flow::definition::Match,
        ids::{AccountId, UserId},
        role::Role,
        routing::{self, Facts, Rule, RuleCondition},
    },
    storage::{
        self,
        entities::{conversation, routing_rule, team},
    },
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    pub name: String,
    /// Conversations no rule sends elsewhere go here.
    pub is_default: bool,
    /// Agents pick conversations from the queue; nobody is assigned automatically.
    pub shared_queue: bool,
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub members: Vec<uuid::Uuid>,
    /// Conversations waiting for an agent.
    pub queued: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub shared_queue: bool,
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub members: Vec<uuid::Uuid>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RuleView {
    #[schema(value_type = uuid::Uuid)]
    pub id: uuid::Uuid,
    /// Rules are tried in this order, lowest first.
    pub position: i32,
    pub name: String,
    /// `all` or `any`.
    #[serde(rename = "match")]
    #[schema(value_type = String)]
    pub match_: Match,
    pub conditions: Vec<RuleCondition>,
    #[schema(value_type = uuid::Uuid)]
    pub team_id: uuid::Uuid,
    /// `{bot_id}`: new conversations matching the rule go to this external bot first; the
    /// team takes its handovers. None: the team takes them at once.
    pub target: Option<RuleTarget>,
}

/// An external bot a routing rule sends new conversations to.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTarget {
    #[schema(value_type = uuid::Uuid)]
    pub bot_id: uuid::Uuid,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    #[serde(default, rename = "match")]
    #[schema(value_type = String)]
    pub match_: Match,
    pub conditions: Vec<RuleCondition>,
    #[schema(value_type = uuid::Uuid)]
    pub team_id: uuid::Uuid,
    /// Where the rule goes in the order; the end when omitted.
    pub position: Option<i32>,
    /// `{bot_id}`: new conversations go to this bot first (see `RuleView::target`).
    #[serde(default)]
    pub target: Option<RuleTarget>,
}

fn match_code(match_: Match) -> &'static str {
    match match_ {
        Match::All => "all",
        Match::Any => "any",
    }
}

fn rule_view(row: routing_rule::Model) -> RuleView {
    RuleView {
        id: row.id,
        position: row.position,
        name: row.name,
        match_: if row.match_mode == "any" {
            Match::Any
        } else {
            Match::All
        },
        conditions: serde_json::from_str(&row.conditions).unwrap_or_default(),
        team_id: row.team_id,
        target: row.bot_id.map(|bot_id| RuleTarget { bot_id }),
    }
}

/// The account's teams with members and queue counts (every user sees the queues).
pub async fn teams(ctx: &Context, actor: &Actor) -> Result<Vec<TeamView>, ServiceError> {
    let account = actor.account_id.as_uuid();
    let members = storage::teams::members(&ctx.db, account).await?;
    let queues = storage::teams::queue_counts(&ctx.db, account).await?;
    Ok(storage::teams::list(&ctx.db, account)
        .await?
        .into_iter()
        .map(|team| TeamView {
            members: members
                .iter()
                .filter(|(t, _)| *t == team.id)
                .map(|(_, u)| *u)
                .collect(),
            queued: queues
                .iter()
                .find(|(t, _)| *t == team.id)
                .map_or(0, |(_, n)| *n),
            id: team.id,
            name: team.name,
            is_default: team.is_default,
            shared_queue: team.shared_queue,
        })
        .collect())
}

async fn check_team_input(
    txn: &DatabaseTransaction,
    actor: &Actor,
    input: &TeamInput,
    except: Option<uuid::Uuid>,
) -> Result<String, ServiceError> {
    let mut problems = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        problems.push(FieldError::new("name", "1 to 64 characters"));
    }
    let existing = storage::teams::list(txn, actor.account_id.as_uuid()).await?;
    if existing
        .iter()
        .any(|t| Some(t.id) != except && t.name.eq_ignore_ascii_case(&name))
    {
        problems.push(FieldError::new("name", "another team has this name"));
    }
    for (i, user) in input.members.iter().enumerate() {
        let found = storage::users::find_in_account(txn, actor.account_id.as_uuid(), *user)
            .await?
            .filter(|u| u.active);
        if found.is_none() {
            problems.push(FieldError::new(
                format!("members[{i}]"),
                "no active user of this account has this id",
            ));
        }
    }
    if problems.is_empty() {
        Ok(name)
    } else {
        Err(ServiceError::Invalid(problems))
    }
}

async fn begin(ctx: &Context) -> Result<DatabaseTransaction, ServiceError> {
    Ok(crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?)
}

fn dedup(users: &[uuid::Uuid]) -> Vec<uuid::Uuid> {
    let mut users = users.to_vec();
    users.sort();
    users.dedup();
    users
}

/// Creates a team (owner, admin); the account's first team is its default.
pub async fn create_team(
    ctx: &Context,
    actor: &Actor,
    input: TeamInput,
) -> Result<TeamView, ServiceError> {
    actor.require(Role::Admin)?;
    let txn = begin(ctx).await?;
    let name = check_team_input(&txn, actor, &input, None).await?;
    let first = storage::teams::list(&txn, actor.account_id.as_uuid())
        .await?
        .is_empty();
    let row = storage::teams::insert(
        &txn,
        team::Model {
            id: uuid::Uuid::now_v7(),
            account_id: actor.account_id.as_uuid(),
            name,
            is_default: false,
            shared_queue: input.shared_queue,
            created_at: ctx.clock.now(),
        },
    )
    .await?;
    if first || input.is_default {
        storage::teams::make_default(&txn, actor.account_id.as_uuid(), row.id).await?;
    }
    storage::teams::set_members(&txn, row.id, &dedup(&input.members)).await?;
    txn.commit().await.context("committing a team")?;
    find_team(ctx, actor, row.id).await
}

async fn find_team(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<TeamView, ServiceError> {
    teams(ctx, actor)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(ServiceError::NotFound)
}

/// Replaces a team's name, flags and members (owner, admin).
pub async fn update_team(
    ctx: &Context,
    actor: &Actor,
    id: uuid::Uuid,
    input: TeamInput,
) -> Result<TeamView, ServiceError> {
    actor.require(Role::Admin)?;
    let txn = begin(ctx).await?;
    let mut row = storage::teams::find(&txn, actor.account_id.as_uuid(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    row.name = check_team_input(&txn, actor, &input, Some(id)).await?;
    row.shared_queue = input.shared_queue;
    storage::teams::update(&txn, row.clone()).await?;
    if input.is_default && !row.is_default {
        storage::teams::make_default(&txn, actor.account_id.as_uuid(), id).await?;
    }
    storage::teams::set_members(&txn, id, &dedup(&input.members)).await?;
    txn.commit().await.context("committing a team")?;
    find_team(ctx, actor, id).await
}

/// Deletes a team and its rules; the oldest remaining team becomes the default when it was.
pub async fn delete_team(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    let account = actor.account_id.as_uuid();
    let txn = begin(ctx).await?;
    let row = storage::teams::find(&txn, account, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    storage::teams::delete(&txn, id).await?;
    if row.is_default
        && let Some(next) = storage::teams::list(&txn, account).await?.first()
    {
        storage::teams::make_default(&txn, account, next.id).await?;
    }
    txn.commit().await.context("committing a team deletion")?;
    Ok(())
}

pub async fn rules(ctx: &Context, actor: &Actor) -> Result<Vec<RuleView>, ServiceError> {
    actor.require(Role::Admin)?;
    Ok(storage::teams::rules(&ctx.db, actor.account_id.as_uuid())
        .await?
        .into_iter()
        .map(rule_view)
        .collect())
}

/// Creates (`id` none) or replaces a routing rule (owner, admin).
pub async fn save_rule(
    ctx: &Context,
    actor: &Actor,
    id: Option<uuid::Uuid>,
    input: RuleInput,
) -> Result<RuleView, ServiceError> {
    actor.require(Role::Admin)?;
    let account = actor.account_id.as_uuid();
    let mut problems = routing::validate(&input.conditions)
        .err()
        .unwrap_or_default();
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push(FieldError::new("name", "1 to 100 characters"));
    }
    let txn = begin(ctx).await?;
    if storage::teams::find(&txn, account, input.team_id)
        .await?
        .is_none()
    {
        problems.push(FieldError::new(
            "team_id",
            "no team of this account has this id",
        ));
    }
    if let Some(target) = &input.target
        && storage::bots::find(&txn, account, target.bot_id)
            .await?
            .is_none()
    {
        problems.push(FieldError::new(
            "target.bot_id",
            "no bot of this account has this id",
        ));
    }
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems));
    }
    let existing = storage::teams::rules(&txn, account).await?;
    let (rule_id, new) = match id {
        Some(id) => {
            storage::teams::find_rule(&txn, account, id)
                .await?
                .ok_or(ServiceError::NotFound)?;
            (id, false)
        }
        None => (uuid::Uuid::now_v7(), true),
    };
    let position = input.position.unwrap_or_else(|| {
        existing
            .iter()
            .filter(|r| r.id != rule_id)
            .map(|r| r.position)
            .max()
            .map_or(1, |p| p + 1)
    });
    let row = routing_rule::Model {
        id: rule_id,
        account_id: account,
        position,
        name,
        match_mode: match_code(input.match_).to_owned(),
        conditions: serde_json::to_string(&input.conditions).context("encoding conditions")?,
        team_id: input.team_id,
        bot_id: input.target.as_ref().map(|target| target.bot_id),
    };
    storage::teams::save_rule(&txn, row.clone(), new).await?;
    txn.commit().await.context("committing a routing rule")?;
    Ok(rule_view(row))
}

pub async fn delete_rule(ctx: &Context, actor: &Actor, id: uuid::Uuid) -> Result<(), ServiceError> {
    actor.require(Role::Admin)?;
    storage::teams::find_rule(&ctx.db, actor.account_id.as_uuid(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    storage::teams::delete_rule(&ctx.db, id).await?;
    Ok(())
}

/// What routing knows: the visitor's page, language, identify variables and group, then the
/// conversation's handover context (which wins).
pub(crate) async fn facts(
    txn: &DatabaseTransaction,
    conversation: &conversation::Model,
) -> Result<Facts, ServiceError> {
    let visitor =
        storage::visitors::find_in_account(txn, conversation.account_id, conversation.visitor_id)
            .await?;
    let mut context = BTreeMap::new();
    if let Some(visitor) = &visitor {
        let variables: BTreeMap<String, serde_json::Value> =
            super::stored_json("visitor variables", &visitor.variables)?;
        for (key, variable) in variables {
            if let Some(value) = variable.get("value").and_then(|v| v.as_str()) {
                context.insert(key, value.to_owned());
            }
        }
        if let Some(group) = &visitor.group_name {
            context.insert("group".to_owned(), group.clone());
        }
    }
    let handover: BTreeMap<String, String> =
        super::stored_json("conversation context", &conversation.context)?;
    context.extend(handover);
    Ok(Facts {
        url: visitor
            .as_ref()
            .and_then(|v| v.current_url.clone())
            .unwrap_or_default(),
        language: visitor
            .as_ref()
            .and_then(|v| v.language.clone())
            .unwrap_or_default(),
        context,
    })
}

/// The account's routing rules, in order, as the domain reads them.
pub(crate) async fn account_rules(
    txn: &DatabaseTransaction,
    account_id: uuid::Uuid,
) -> Result<Vec<Rule>, ServiceError> {
    Ok(storage::teams::rules(txn, account_id)
        .await?
        .into_iter()
        .map(|row| {
            let view = rule_view(row);
            Rule {
                match_: view.match_,
                conditions: view.conditions,
                team_id: view.team_id,
                bot_id: view.target.map(|target| target.bot_id),
            }
        })
        .collect())
}

/// Routes a conversation that has just reached people (inside the caller's transaction,
/// which holds the conversation's lock; `conversation` is the row as it is in `txn`): picks
/// its team and an agent, or queues it. Answers the conversation as stored when it changed.
/// Nothing happens without teams, for a conversation the bot still handles, or one that has
/// a team or an agent already.
pub(crate) async fn route_loaded(
    ctx: &Context,
    txn: &DatabaseTransaction,
    conversation: conversation::Model,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ServiceError> {
    let account_id = conversation.account_id;
    let conversation_id = conversation.id;
    if conversation.status != ConversationStatus::Open
        || conversation.handler == Handler::Bot
        || conversation.team_id.is_some()
        || conversation.assignee_id.is_some()
    {
        return Ok(None);
    }
    // Teams first: an account without teams (the default) routes nothing, and every message
    // of an unassigned conversation asks. Read once per writer batch (no message write
    // changes teams).
    let teams =
        super::writer::read_once_per_batch(account_id, || storage::teams::list(txn, account_id))
            .await?;
    if teams.is_empty() {
        return Ok(None);
    }
    // A routing rule just sent it to an external bot (in the same transaction).
    if storage::bots::active_session(txn, conversation_id)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let rules = account_rules(txn, account_id).await?;
    let facts = facts(txn, &conversation).await?;
    let team = routing::route(&rules, &facts)
        .and_then(|id| teams.iter().find(|t| t.id == id))
        .or_else(|| teams.iter().find(|t| t.is_default))
        .or_else(|| teams.first())
        .ok_or_else(|| ServiceError::Unexpected(anyhow::anyhow!("no team to route to")))?;
    let agent = if team.shared_queue {
        None
    } else {
        pick_agent(ctx, txn, account_id, team.id).await?
    };
    let queued = agent.is_none().then_some(now);
    tracing::info!(%conversation_id, team = %team.name, assigned = agent.is_some(), "conversation routed");
    Ok(storage::teams::place(txn, conversation.id, team.id, agent, queued).await?)
}

/// The least busy online member of the team with free capacity, checked under the members'
/// row locks (the caller holds the conversation's). The members are locked in id order, so
/// two handovers to the same team never wait on each other in a circle.
async fn pick_agent(
    ctx: &Context,
    txn: &DatabaseTransaction,
    account_id: uuid::Uuid,
    team_id: uuid::Uuid,
) -> Result<Option<uuid::Uuid>, ServiceError> {
    let mut members = online_members(ctx, txn, account_id, team_id).await?;
    members.sort();
    members.dedup();
    let mut candidates = Vec::new();
    for user in members {
        let Some(row) = storage::teams::lock_user(txn, user).await? else {
            continue;
        };
        let open = storage::teams::open_assigned(txn, user).await?;
        if row.active && open < u64::try_from(row.capacity).unwrap_or(0) {
            candidates.push((open, user));
        }
    }
    candidates.sort();
    Ok(candidates.first().map(|(_, user)| *user))
}

/// The team's members who are online (not away) with the inbox open on this node.
async fn online_members(
    ctx: &Context,
    conn: &impl sea_orm::ConnectionTrait,
    account_id: uuid::Uuid,
    team_id: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, ServiceError> {
    let online = ctx.hub.online_agents(AccountId::from_uuid(account_id));
    if online.is_empty() {
        return Ok(Vec::new());
    }
    Ok(storage::teams::members(conn, account_id)
        .await?
        .into_iter()
        .filter(|(team, user)| *team == team_id && online.contains(&UserId::from_uuid(*user)))
        .map(|(_, user)| user)
        .collect())
}

/// Whether a member of the team is online (not away) with the inbox open.
pub(crate) async fn team_online(
    ctx: &Context,
    account_id: uuid::Uuid,
    team_id: uuid::Uuid,
) -> Result<bool, ServiceError> {
    Ok(!online_members(ctx, &ctx.db, account_id, team_id)
        .await?
        .is_empty())
}

/// Hands queued conversations of the user's teams to the user while they are online and
/// have free capacity (after they come online or free a slot). Answers how many.
#[tracing::instrument(skip_all, fields(%account_id, %user_id))]
pub async fn drain(
    ctx: &Context,
    account_id: AccountId,
    user_id: UserId,
) -> Result<usize, ServiceError> {
    if !ctx.hub.online_agents(account_id).contains(&user_id) {
        return Ok(0);
    }
    let account = account_id.as_uuid();
    let user = user_id.as_uuid();
    let shared: Vec<uuid::Uuid> = storage::teams::list(&ctx.db, account)
        .await?
        .into_iter()
        .filter(|t| t.shared_queue)
        .map(|t| t.id)
        .collect();
    let teams: Vec<uuid::Uuid> = storage::teams::members(&ctx.db, account)
        .await?
        .into_iter()
        .filter(|(team, member)| *member == user && !shared.contains(team))
        .map(|(team, _)| team)
        .collect();
    let mut assigned = 0;
    // Bounded: at most a capacity's worth, and each round takes one conversation or stops.
    for _ in 0..100 {
        let Some(next) = storage::teams::oldest_queued(&ctx.db, account, &teams).await? else {
            break;
        };
        let txn = begin(ctx).await?;
        if !storage::teams::lock_queued(&txn, next.id).await? {
            txn.rollback()
                .await
                .context("rolling back a taken conversation")?;
            continue;
        }
        let Some(row) = storage::teams::lock_user(&txn, user).await? else {
            break;
        };
        let open = storage::teams::open_assigned(&txn, user).await?;
        if !row.active || open >= u64::try_from(row.capacity).unwrap_or(0) {
            txn.rollback().await.context("rolling back a full agent")?;
            break;
        }
        let team = next.team_id.unwrap_or_default();
        let placed = storage::teams::place(&txn, next.id, team, Some(user), None).await?;
        txn.commit()
            .await
            .context("committing a queue assignment")?;
        if let Some(placed) = placed {
            publish_conversation(ctx, &placed).await;
        }
        assigned += 1;
    }
    if assigned > 0 {
        tracing::info!(assigned, "queue drained");
    }
    Ok(assigned)
}

/// Runs `drain` and logs a failure: called after the fact (a resolve, a status change), it
/// must not fail what already happened.
pub async fn drain_quietly(ctx: &Context, account_id: AccountId, user_id: UserId) {
    if let Err(error) = drain(ctx, account_id, user_id).await {
        tracing::warn!(?error, "cannot drain the queue");
    }
}

/// Where an agent transfers a conversation.
#[derive(Clone, Copy, Debug)]
pub enum Transfer {
    Agent(UserId),
    Team(uuid::Uuid),
}

/// Transfers a conversation to an agent (who gets it whatever their load: a person decided)
/// or to a team (routed inside the team: its least busy online member with free capacity,
/// else its queue). Recorded as an internal system note; people handle it from then on.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id, %conversation_id))]
pub async fn transfer(
    ctx: &Context,
    actor: &Actor,
    conversation_id: crate::domain::ids::ConversationId,
    target: Transfer,
) -> Result<super::views::ConversationSummary, ServiceError> {
    let account = actor.account_id.as_uuid();
    let now = ctx.clock.now();
    let txn = begin(ctx).await?;
    // The conversation's lock first, then (when picking) the agent's.
    let conversation = storage::conversations::update(
        &txn,
        account,
        conversation_id.as_uuid(),
        storage::conversations::ConversationChanges {
            handler: Some("human"),
            ..Default::default()
        },
    )
    .await?
    .ok_or(ServiceError::NotFound)?;
    // A bot still running here stops: people have it now.
    super::chatbot::after_agent_reply(&txn, &conversation, now).await?;
    let (placed, note) = match target {
        Transfer::Agent(user_id) => {
            let user = storage::users::find_in_account(&txn, account, user_id.as_uuid())
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| {
                    ServiceError::invalid(FieldError::new(
                        "agent_id",
                        "no active user of this account has this id",
                    ))
                })?;
            let team = conversation.team_id.unwrap_or_default();
            let placed = if conversation.team_id.is_some() {
                storage::teams::place(&txn, conversation.id, team, Some(user.id), None).await?
            } else {
                storage::conversations::update(
                    &txn,
                    account,
                    conversation.id,
                    storage::conversations::ConversationChanges {
                        assignee_id: Some(Some(user.id)),
                        ..Default::default()
                    },
                )
                .await?
            };
            (
                placed,
                format!("Transferred to {} by {}", user.name, actor.name),
            )
        }
        Transfer::Team(team_id) => {
            let team = storage::teams::find(&txn, account, team_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::invalid(FieldError::new(
                        "team_id",
                        "no team of this account has this id",
                    ))
                })?;
            let agent = if team.shared_queue {
                None
            } else {
                pick_agent(ctx, &txn, account, team.id).await?
            };
            let placed = storage::teams::place(
                &txn,
                conversation.id,
                team.id,
                agent,
                agent.is_none().then_some(now),
            )
            .await?;
            (
                placed,
                format!("Transferred to the team {} by {}", team.name, actor.name),
            )
        }
    };
    let placed = placed.ok_or(ServiceError::NotFound)?;
    let appended = storage::messages::append(
        &txn,
        super::conversations::system_message(&placed, &note, true, None, now),
    )
    .await?;
    txn.commit().await.context("committing a transfer")?;
    if let storage::messages::Appended::New(message, _) = appended {
        super::conversations::publish_message(
            ctx,
            actor.account_id,
            crate::domain::ids::VisitorId::from_uuid(placed.visitor_id),
            &message.into(),
        );
    }
    let current = storage::conversations::find_in_account(&ctx.db, account, placed.id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let assignee = current.assignee_id;
    let summary = super::conversations::publish_and_summarize(ctx, current).await;
    if let Some(previous) = conversation.assignee_id.filter(|id| Some(*id) != assignee) {
        drain_quietly(ctx, actor.account_id, UserId::from_uuid(previous)).await;
    }
    summary
}
