//! Chatbot insights (DESIGN section 2, rule 5 and section 4): per flow and in total, for a
//! range of days, how many runs triggered, how many the visitor interacted with (and were
//! counted), their outcomes and rates, the average time to each outcome, the funnel of steps
//! and the clicks per button, and the figures per day.
//!
//! Rates are shares of triggered runs. A run counts on the day it triggered (UTC).

use super::{Actor, Context, ServiceError};
use crate::{
    domain::{
        FieldError,
        flow::{FlowDefinition, definition::Step},
        role::Role,
    },
    storage::{
        self,
        entities::{bot_session, flow_run},
        flow_runs::{ESCALATED_TO_HUMAN, RESOLVED_BY_CHATBOT},
    },
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The longest range one request may ask for.
pub const MAX_DAYS: u64 = 366;
/// The range when none is given: the last 30 days, today included.
pub const DEFAULT_DAYS: u64 = 30;

/// Days from `from` to `to`, both included (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    /// Parses `from` and `to` (`YYYY-MM-DD`); missing ones default to the last 30 days.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Range, ServiceError> {
        let mut problems = Vec::new();
        let mut date = |field: &str, raw: Option<&str>| {
            raw.filter(|raw| !raw.trim().is_empty()).and_then(|raw| {
                NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                    .map_err(|_| {
                        problems.push(FieldError::new(field, "must be a date like 2026-11-01"))
                    })
                    .ok()
            })
        };
        let to_date = date("to", to);
        let from_date = date("from", from);
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let to = to_date.unwrap_or(today);
        let from = from_date.unwrap_or_else(|| {
            to.checked_sub_days(Days::new(DEFAULT_DAYS - 1))
                .unwrap_or(to)
        });
        if from > to {
            return Err(ServiceError::invalid(FieldError::new(
                "from",
                "must not be after `to`",
            )));
        }
        if (to - from).num_days() >= MAX_DAYS as i64 {
            return Err(ServiceError::invalid(FieldError::new(
                "to",
                format!("the range is at most {MAX_DAYS} days"),
            )));
        }
        Ok(Range { from, to })
    }

    pub(crate) fn start(&self) -> DateTime<Utc> {
        self.from.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// The first instant after the range.
    pub(crate) fn end(&self) -> DateTime<Utc> {
        self.to
            .checked_add_days(Days::new(1))
            .unwrap_or(self.to)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |day| *day <= to)
    }
}

/// The figures of a set of runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Runs triggered (the welcome or first step shown).
    pub triggered: u64,
    /// Runs in which the visitor clicked a button or answered a question.
    pub interacted: u64,
    /// Chatbot conversations counted against the limit (first interaction in the range).
    pub counted: u64,
    pub resolved_by_chatbot: u64,
    pub escalated_to_human: u64,
    /// Triggered runs that ended without an interaction and without an escalation.
    pub no_interaction: u64,
    /// Runs the visitor interacted with whose conversation is still going on.
    pub in_progress: u64,
    /// `resolved_by_chatbot / triggered` (0 when nothing triggered).
    pub resolution_rate: f64,
    /// `escalated_to_human / triggered`.
    pub escalation_rate: f64,
    /// `interacted / triggered`.
    pub interaction_rate: f64,
    /// Mean seconds from trigger to "Resolved by chatbot"; null when none.
    pub avg_seconds_to_resolution: Option<f64>,
    /// Mean seconds from trigger to "Escalated to human"; null when none.
    pub avg_seconds_to_escalation: Option<f64>,
}

#[derive(Default)]
struct Tally {
    figures: Figures,
    to_resolution: Vec<f64>,
    to_escalation: Vec<f64>,
}

impl Tally {
    fn add(&mut self, run: &flow_run::Model) {
        self.add_one(
            run.interacted,
            run.outcome.as_deref(),
            run.triggered_at,
            run.outcome_at,
        );
    }

    /// An external bot's session: "triggered" is the bot being given the conversation.
    fn add_session(&mut self, session: &bot_session::Model) {
        let decided = session.outcome.as_ref().and(session.ended_at);
        self.add_one(
            session.interacted,
            session.outcome.as_deref(),
            session.started_at,
            decided,
        );
    }

    fn add_one(
        &mut self,
        interacted: bool,
        outcome: Option<&str>,
        started: DateTime<Utc>,
        decided: Option<DateTime<Utc>>,
    ) {
        let f = &mut self.figures;
        f.triggered += 1;
        if interacted {
            f.interacted += 1;
        }
        let took = decided.map(|at| (at - started).num_milliseconds() as f64 / 1000.0);
        match outcome {
            Some(RESOLVED_BY_CHATBOT) => {
                f.resolved_by_chatbot += 1;
                self.to_resolution.extend(took);
            }
            Some(ESCALATED_TO_HUMAN) => {
                f.escalated_to_human += 1;
                self.to_escalation.extend(took);
            }
            _ if interacted => f.in_progress += 1,
            _ => f.no_interaction += 1,
        }
    }

    fn finish(mut self, counted: u64) -> Figures {
        let f = &mut self.figures;
        f.counted = counted;
        let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        f.resolution_rate = share(f.resolved_by_chatbot, f.triggered);
        f.escalation_rate = share(f.escalated_to_human, f.triggered);
        f.interaction_rate = share(f.interacted, f.triggered);
        let mean = |values: &[f64]| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        f.avg_seconds_to_resolution = mean(&self.to_resolution);
        f.avg_seconds_to_escalation = mean(&self.to_escalation);
        self.figures
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ButtonClicks {
    pub button_id: String,
    /// The button's label in the flow as it is now (the id when the button is gone).
    pub label: String,
    pub clicks: u64,
}

/// One step of the funnel: how many runs entered it, and what was clicked there.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StepFunnel {
    pub step_id: String,
    /// `message`, `collect`, `tag`, `handover`, `end`, or `deleted`.
    pub kind: String,
    /// Runs that entered the step at least once.
    pub entered: u64,
    pub buttons: Vec<ButtonClicks>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlowInsights {
    #[schema(value_type = uuid::Uuid)]
    pub flow_id: uuid::Uuid,
    pub name: String,
    /// False when the flow was deleted (its runs still count).
    pub exists: bool,
    pub figures: Figures,
    /// Steps in the order a visitor meets them (the flow's graph, breadth first).
    pub steps: Vec<StepFunnel>,
}

/// An external bot's figures: `triggered` is the conversations it was given, `counted` the
/// conversations in which the visitor interacted with it (each counted once overall, so the
/// bots' and flows' numbers may add up to more than the total).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BotInsights {
    #[schema(value_type = uuid::Uuid)]
    pub bot_id: uuid::Uuid,
    pub name: String,
    pub figures: Figures,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Day {
    #[schema(value_type = String, example = "2026-11-22")]
    pub date: NaiveDate,
    pub triggered: u64,
    pub interacted: u64,
    pub resolved_by_chatbot: u64,
    pub escalated_to_human: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Insights {
    #[schema(value_type = String, example = "2026-10-24")]
    pub from: NaiveDate,
    #[schema(value_type = String, example = "2026-11-22")]
    pub to: NaiveDate,
    pub total: Figures,
    pub flows: Vec<FlowInsights>,
    /// External bots, beside the flows (not in `total`, which is the flows').
    pub bots: Vec<BotInsights>,
    pub days: Vec<Day>,
}

/// Step ids breadth first from `start`, then the unreachable ones.
fn step_order(flow: &FlowDefinition) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut queue = std::collections::VecDeque::from([flow.start.clone()]);
    while let Some(id) = queue.pop_front() {
        if order.contains(&id) {
            continue;
        }
        if let Some(step) = flow.steps.get(&id) {
            order.push(id);
            for (_, next) in step.successors() {
                queue.push_back(next.to_owned());
            }
        }
    }
    for id in flow.steps.keys() {
        if !order.contains(id) {
            order.push(id.clone());
        }
    }
    order
}

fn button_label(flow: Option<&FlowDefinition>, step_id: &str, button_id: &str) -> String {
    flow.and_then(|flow| match flow.steps.get(step_id) {
        Some(Step::Message { buttons, .. }) => buttons
            .iter()
            .find(|b| b.id == button_id)
            .map(|b| b.label.clone()),
        _ => None,
    })
    .unwrap_or_else(|| button_id.to_owned())
}

/// The chatbot insights of the actor's account for `range` (owner, admin).
pub async fn insights(
    ctx: &Context,
    actor: &Actor,
    range: Range,
) -> Result<Insights, ServiceError> {
    actor.require(Role::Admin)?;
    let account = actor.account_id.as_uuid();
    let (start, end) = (range.start(), range.end());
    let runs = storage::flow_runs::triggered_between(&ctx.db, account, start, end).await?;
    let events = storage::flow_runs::events_between(&ctx.db, account, start, end).await?;
    let counted = storage::chatbot::counted_between(&ctx.db, account, start, end).await?;
    let flows: Vec<(uuid::Uuid, Option<FlowDefinition>, String)> =
        storage::flows::list(&ctx.db, account)
            .await?
            .into_iter()
            .map(|row| {
                let definition = serde_json::from_str::<FlowDefinition>(&row.definition).ok();
                (row.id, definition, row.name)
            })
            .collect();

    let mut total = Tally::default();
    let mut per_flow: BTreeMap<uuid::Uuid, (Tally, String)> = BTreeMap::new();
    let mut days: BTreeMap<NaiveDate, Day> = range
        .days()
        .map(|date| {
            (
                date,
                Day {
                    date,
                    triggered: 0,
                    interacted: 0,
                    resolved_by_chatbot: 0,
                    escalated_to_human: 0,
                },
            )
        })
        .collect();
    for run in &runs {
        total.add(run);
        per_flow
            .entry(run.flow_id)
            .or_insert_with(|| (Tally::default(), run.flow_name.clone()))
            .0
            .add(run);
        if let Some(day) = days.get_mut(&run.triggered_at.date_naive()) {
            day.triggered += 1;
            day.interacted += u64::from(run.interacted);
            match run.outcome.as_deref() {
                Some(RESOLVED_BY_CHATBOT) => day.resolved_by_chatbot += 1,
                Some(ESCALATED_TO_HUMAN) => day.escalated_to_human += 1,
                _ => {}
            }
        }
    }
    // Funnel: distinct runs per step, clicks per button.
    let mut entered: BTreeMap<(uuid::Uuid, String), std::collections::BTreeSet<uuid::Uuid>> =
        BTreeMap::new();
    let mut clicks: BTreeMap<(uuid::Uuid, String, String), u64> = BTreeMap::new();
    for event in &events {
        match &event.button_id {
            None => {
                entered
                    .entry((event.flow_id, event.step_id.clone()))
                    .or_default()
                    .insert(event.run_id);
            }
            Some(button) => {
                *clicks
                    .entry((event.flow_id, event.step_id.clone(), button.clone()))
                    .or_default() += 1;
            }
        }
    }
    let counted_of = |flow: Option<uuid::Uuid>| {
        counted
            .iter()
            .filter(|(id, _)| flow.is_none() || *id == flow)
            .count() as u64
    };

    let mut ids: Vec<(uuid::Uuid, Option<&FlowDefinition>, String, bool)> = flows
        .iter()
        .map(|(id, definition, name)| (*id, definition.as_ref(), name.clone(), true))
        .collect();
    for (id, (_, name)) in &per_flow {
        if !ids.iter().any(|(known, ..)| known == id) {
            ids.push((*id, None, name.clone(), false));
        }
    }
    let mut out = Vec::new();
    for (flow_id, definition, name, exists) in ids {
        let tally = per_flow
            .remove(&flow_id)
            .map(|(tally, _)| tally)
            .unwrap_or_default();
        let mut step_ids: Vec<String> = definition.map(step_order).unwrap_or_default();
        for (flow, step) in entered.keys() {
            if *flow == flow_id && !step_ids.contains(step) {
                step_ids.push(step.clone());
            }
        }
        let steps = step_ids
            .into_iter()
            .map(|step_id| {
                let kind = definition
                    .and_then(|flow| flow.steps.get(&step_id))
                    .map_or("deleted", Step::kind)
                    .to_owned();
                let buttons = clicks
                    .iter()
                    .filter(|((flow, step, _), _)| *flow == flow_id && *step == step_id)
                    .map(|((_, _, button), n)| ButtonClicks {
                        button_id: button.clone(),
                        label: button_label(definition, &step_id, button),
                        clicks: *n,
                    })
                    .collect();
                StepFunnel {
                    entered: entered
                        .get(&(flow_id, step_id.clone()))
                        .map_or(0, |runs| runs.len() as u64),
                    step_id,
                    kind,
                    buttons,
                }
            })
            .collect();
        out.push(FlowInsights {
            flow_id,
            name,
            exists,
            figures: tally.finish(counted_of(Some(flow_id))),
            steps,
        });
    }
    let bots = bot_insights(ctx, account, start, end).await?;
    Ok(Insights {
        from: range.from,
        to: range.to,
        total: total.finish(counted_of(None)),
        flows: out,
        bots,
        days: days.into_values().collect(),
    })
}

/// Every bot of the account with its sessions started in the range.
async fn bot_insights(
    ctx: &Context,
    account: uuid::Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<BotInsights>, ServiceError> {
    let sessions = storage::bots::sessions_between(&ctx.db, account, start, end).await?;
    let mut out = Vec::new();
    for bot in storage::bots::list(&ctx.db, account).await? {
        let mut tally = Tally::default();
        let mut interacted = std::collections::BTreeSet::new();
        for session in sessions.iter().filter(|session| session.bot_id == bot.id) {
            tally.add_session(session);
            if session.interacted {
                interacted.insert(session.conversation_id);
            }
        }
        out.push(BotInsights {
            bot_id: bot.id,
            name: bot.name,
            figures: tally.finish(interacted.len() as u64),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn ranges_default_to_the_last_30_days_and_refuse_bad_input() {
        let today = day("2026-11-22");
        assert_eq!(
            Range::parse(None, None, today).expect("default"),
            Range {
                from: day("2026-10-24"),
                to: today
            }
        );
        assert_eq!(
            Range::parse(Some("2026-11-01"), Some("2026-11-01"), today)
                .expect("one day")
                .days()
                .count(),
            1
        );
        for (from, to) in [
            ("2026-11-02", "2026-11-01"),
            ("yesterday", "2026-11-01"),
            ("2025-01-01", "2026-11-01"),
        ] {
            assert!(matches!(
                Range::parse(Some(from), Some(to), today),
                Err(ServiceError::Invalid(_))
            ));
        }
    }
}
