//! Team reports as a pure function of reporting events: counts, medians of first response
//! and resolution times, average ratings (a conversation's latest rating in the range counts,
//! once), per agent and per team, and the bot versus human split of resolutions.

use std::collections::BTreeMap;
use uuid::Uuid;

/// What a reporting event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactKind {
    /// A visitor (or an agent) started the conversation.
    Started,
    /// A person answered for the first time; `seconds` waited.
    FirstResponse,
    /// Resolved; `seconds` from start, `handled_by` who resolved it.
    Resolved,
    /// The visitor rated; `previous_rating` when it replaces an earlier rating.
    Rated,
}

impl FactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Started => "started",
            FactKind::FirstResponse => "first_response",
            FactKind::Resolved => "resolved",
            FactKind::Rated => "rated",
        }
    }

    pub fn parse(raw: &str) -> Option<FactKind> {
        [
            FactKind::Started,
            FactKind::FirstResponse,
            FactKind::Resolved,
            FactKind::Rated,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
    }
}

/// Who handled a resolved conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandledBy {
    /// "Resolved by chatbot": no person wrote.
    Bot,
    /// A person replied.
    Human,
    /// Nobody answered (e.g. resolved for inactivity before a reply).
    Nobody,
}

impl HandledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HandledBy::Bot => "bot",
            HandledBy::Human => "human",
            HandledBy::Nobody => "none",
        }
    }

    pub fn parse(raw: &str) -> Option<HandledBy> {
        [HandledBy::Bot, HandledBy::Human, HandledBy::Nobody]
            .into_iter()
            .find(|kind| kind.as_str() == raw)
    }
}

/// One reporting event, as the report needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub kind: FactKind,
    pub conversation: Uuid,
    pub agent: Option<Uuid>,
    pub team: Option<Uuid>,
    pub seconds: Option<i64>,
    pub handled_by: Option<HandledBy>,
    pub rating: Option<i16>,
    pub previous_rating: Option<i16>,
    /// Of a first response: whether the wait began inside business hours (none: not known,
    /// counted as inside).
    pub inside_hours: Option<bool>,
}

/// The figures of a set of facts (the whole account, one agent or one team).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub conversations: u64,
    pub first_responses: u64,
    pub median_first_response_seconds: Option<i64>,
    /// First responses whose wait began inside business hours, and their median.
    pub first_responses_inside_hours: u64,
    pub median_first_response_inside_hours_seconds: Option<i64>,
    /// First responses whose wait began outside business hours, and their median.
    pub first_responses_outside_hours: u64,
    pub median_first_response_outside_hours_seconds: Option<i64>,
    pub resolved: u64,
    pub median_resolution_seconds: Option<i64>,
    pub ratings: u64,
    pub average_rating: Option<f64>,
    pub resolved_by_chatbot: u64,
    pub resolved_by_humans: u64,
    pub resolved_without_reply: u64,
}

/// The report: the whole account, then per agent and per team (ids with any figure).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub total: Figures,
    pub agents: BTreeMap<Uuid, Figures>,
    pub teams: BTreeMap<Uuid, Figures>,
}

#[derive(Default)]
struct Tally {
    conversations: u64,
    first_responses: Vec<i64>,
    /// The same split by business hours: `[inside, outside]`.
    first_responses_by_hours: [Vec<i64>; 2],
    resolutions: Vec<i64>,
    resolved: u64,
    rating_sum: i64,
    ratings: i64,
    by: [u64; 3],
}

impl Tally {
    fn add(&mut self, fact: &Fact) {
        match fact.kind {
            FactKind::Started => self.conversations += 1,
            FactKind::FirstResponse => {
                self.first_responses.extend(fact.seconds);
                let slot = usize::from(fact.inside_hours == Some(false));
                self.first_responses_by_hours[slot].extend(fact.seconds);
            }
            FactKind::Resolved => {
                self.resolved += 1;
                self.resolutions.extend(fact.seconds);
                let slot = match fact.handled_by.unwrap_or(HandledBy::Nobody) {
                    HandledBy::Bot => 0,
                    HandledBy::Human => 1,
                    HandledBy::Nobody => 2,
                };
                self.by[slot] += 1;
            }
            // Ratings are added per conversation by `report`.
            FactKind::Rated => {}
        }
    }

    fn rate(&mut self, rating: i16) {
        self.rating_sum += i64::from(rating);
        self.ratings += 1;
    }

    fn figures(mut self) -> Figures {
        let [mut inside, mut outside] = std::mem::take(&mut self.first_responses_by_hours);
        Figures {
            first_responses_inside_hours: inside.len() as u64,
            median_first_response_inside_hours_seconds: median(&mut inside),
            first_responses_outside_hours: outside.len() as u64,
            median_first_response_outside_hours_seconds: median(&mut outside),
            conversations: self.conversations,
            first_responses: self.first_responses.len() as u64,
            median_first_response_seconds: median(&mut self.first_responses),
            resolved: self.resolved,
            median_resolution_seconds: median(&mut self.resolutions),
            ratings: self.ratings.max(0) as u64,
            average_rating: (self.ratings > 0).then(|| {
                let average = self.rating_sum as f64 / self.ratings as f64;
                (average * 100.0).round() / 100.0
            }),
            resolved_by_chatbot: self.by[0],
            resolved_by_humans: self.by[1],
            resolved_without_reply: self.by[2],
        }
    }
}

/// The median (the mean of the two middle values, rounded down, for an even count).
pub fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]).div_euclid(2)
    })
}

/// Adds up the facts of a date range.
pub fn report(facts: &[Fact]) -> Report {
    let mut total = Tally::default();
    let mut agents: BTreeMap<Uuid, Tally> = BTreeMap::new();
    let mut teams: BTreeMap<Uuid, Tally> = BTreeMap::new();
    // A visitor may rate a conversation again: its latest rating in the range counts, once,
    // for the agent and team of that rating (facts come oldest first).
    let mut latest_ratings: BTreeMap<Uuid, &Fact> = BTreeMap::new();
    for fact in facts {
        total.add(fact);
        if let Some(agent) = fact.agent {
            agents.entry(agent).or_default().add(fact);
        }
        if let Some(team) = fact.team {
            teams.entry(team).or_default().add(fact);
        }
        if fact.kind == FactKind::Rated && fact.rating.is_some() {
            latest_ratings.insert(fact.conversation, fact);
        }
    }
    for fact in latest_ratings.values() {
        let Some(rating) = fact.rating else { continue };
        total.rate(rating);
        if let Some(agent) = fact.agent {
            agents.entry(agent).or_default().rate(rating);
        }
        if let Some(team) = fact.team {
            teams.entry(team).or_default().rate(rating);
        }
    }
    Report {
        total: total.figures(),
        agents: agents
            .into_iter()
            .map(|(id, t)| (id, t.figures()))
            .collect(),
        teams: teams.into_iter().map(|(id, t)| (id, t.figures())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(kind: FactKind, agent: Option<Uuid>) -> Fact {
        Fact {
            kind,
            conversation: Uuid::now_v7(),
            agent,
            team: None,
            seconds: None,
            handled_by: None,
            rating: None,
            previous_rating: None,
            inside_hours: None,
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [10, 1, 4, 30]), Some(7));
    }

    #[test]
    fn a_conversations_latest_rating_counts_once_for_its_agent() {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let rated = |conversation: Uuid, agent: Uuid, rating: i16, previous: Option<i16>| {
            let mut f = fact(FactKind::Rated, Some(agent));
            f.conversation = conversation;
            f.rating = Some(rating);
            f.previous_rating = previous;
            f
        };
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        // `first` rated 1 for Ann, then (after a transfer) 5 for Bob; `second` rated 4 by
        // a re-rating whose first rating fell before the range.
        let report = report(&[
            rated(first, ann, 1, None),
            rated(first, bob, 5, Some(1)),
            rated(second, ann, 4, Some(2)),
        ]);
        assert_eq!(report.total.ratings, 2);
        assert_eq!(report.total.average_rating, Some(4.5));
        assert_eq!(report.agents[&ann].ratings, 1);
        assert_eq!(report.agents[&ann].average_rating, Some(4.0));
        assert_eq!(report.agents[&bob].average_rating, Some(5.0));
    }

    #[test]
    fn figures_split_per_agent_and_by_who_resolved() {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut facts = Vec::new();
        for (agent, seconds) in [(ann, 60), (ann, 180), (bob, 30)] {
            let mut f = fact(FactKind::FirstResponse, Some(agent));
            f.seconds = Some(seconds);
            facts.push(f);
        }
        for (agent, by) in [
            (None, HandledBy::Bot),
            (Some(ann), HandledBy::Human),
            (None, HandledBy::Nobody),
        ] {
            let mut f = fact(FactKind::Resolved, agent);
            f.handled_by = Some(by);
            f.seconds = Some(600);
            facts.push(f);
        }
        let report = report(&facts);
        assert_eq!(report.total.first_responses, 3);
        assert_eq!(report.total.median_first_response_seconds, Some(60));
        assert_eq!(report.agents[&ann].median_first_response_seconds, Some(120));
        assert_eq!(report.agents[&bob].first_responses, 1);
        assert_eq!(
            (
                report.total.resolved_by_chatbot,
                report.total.resolved_by_humans,
                report.total.resolved_without_reply
            ),
            (1, 1, 1)
        );
        assert_eq!(report.agents[&ann].resolved, 1);
        assert!(report.teams.is_empty());
    }

    #[test]
    fn first_responses_split_by_business_hours_and_unknown_counts_as_inside() {
        let response = |seconds: i64, inside: Option<bool>| Fact {
            seconds: Some(seconds),
            inside_hours: inside,
            ..fact(FactKind::FirstResponse, None)
        };
        let report = report(&[
            response(60, Some(true)),
            response(120, None),
            response(3600, Some(false)),
            response(7200, Some(false)),
            response(30_000, Some(false)),
        ]);
        assert_eq!(report.total.first_responses, 5);
        assert_eq!(report.total.first_responses_inside_hours, 2);
        assert_eq!(
            report.total.median_first_response_inside_hours_seconds,
            Some(90)
        );
        assert_eq!(report.total.first_responses_outside_hours, 3);
        assert_eq!(
            report.total.median_first_response_outside_hours_seconds,
            Some(7200)
        );
    }
}
