//! The flow editor's form: the whole flow as the strings an admin typed (a draft), read from
//! and written to flat form fields (`step.0.button.1.label`), and turned into a
//! `FlowDefinition` with every problem found on the way, each with its flow path.

use crate::domain::{
    FieldError,
    flow::{
        FlowDefinition,
        definition::{
            Audience, Button, Condition, Frequency, Schedule, Step, Trigger, When, Where,
        },
        validate,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// Step types an admin can add, as the select offers them.
pub const STEP_KINDS: [&str; 5] = ["message", "collect", "tag", "handover", "end"];
/// Trigger types of the When tab.
pub const WHEN_TYPES: [(&str, &str); 6] = [
    ("delay", "After a delay"),
    ("scroll", "After scrolling"),
    ("exit_intent", "On exit intent"),
    ("returning_visit", "On a returning visit"),
    ("custom_event", "On a custom event"),
    ("chat_opened", "When the chat is opened"),
];
pub const PAGE_FIELDS: [(&str, &str); 3] = [
    ("url", "URL"),
    ("title", "Page title"),
    ("referrer", "Referrer"),
];
pub const OPERATORS: [(&str, &str); 6] = [
    ("equals", "equals"),
    ("not_equals", "does not equal"),
    ("contains", "contains"),
    ("not_contains", "does not contain"),
    ("starts_with", "starts with"),
    ("regex", "matches regex"),
];
pub const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ButtonDraft {
    pub id: String,
    pub label: String,
    /// A step id, or empty when the button opens `url`.
    pub next: String,
    pub url: String,
}

/// One step card. Every type's fields are kept, so switching nothing loses nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepDraft {
    pub id: String,
    pub kind: String,
    pub text: String,
    pub buttons: Vec<ButtonDraft>,
    /// `email`, `phone`, `name` or `custom`.
    pub field: String,
    pub custom_key: String,
    pub prompt: String,
    pub next: String,
    /// Comma separated.
    pub tags: String,
    pub message: String,
    /// `key=value` lines.
    pub context: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionDraft {
    pub field: String,
    pub op: String,
    pub value: String,
}

/// The whole editor form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowDraft {
    pub name: String,
    pub welcome: String,
    pub priority: String,
    pub enabled: bool,
    pub start: String,
    pub when_type: String,
    pub when_seconds: String,
    pub when_percent: String,
    pub when_name: String,
    pub where_match: String,
    pub conditions: Vec<ConditionDraft>,
    pub visitors: String,
    pub min_visits: String,
    /// Comma separated.
    pub languages: String,
    pub devices: Vec<String>,
    pub agents: String,
    pub business_hours: String,
    pub frequency: String,
    pub steps: Vec<StepDraft>,
}

/// The snake_case name serde gives an enum value (`"once_per_session"`).
fn name_of(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Parses a select's value into an enum by its serde name.
fn parse_named<T: DeserializeOwned>(
    raw: &str,
    path: &str,
    allowed: &str,
    problems: &mut Vec<FieldError>,
) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| problems.push(FieldError::new(path, format!("must be {allowed}"))))
        .ok()
}

fn parse_number<T: std::str::FromStr>(
    raw: &str,
    path: &str,
    problems: &mut Vec<FieldError>,
) -> Option<T> {
    raw.trim()
        .parse()
        .map_err(|_| problems.push(FieldError::new(path, "must be a whole number")))
        .ok()
}

fn optional(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        None
    } else {
        Some(text.to_owned())
    }
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

impl StepDraft {
    /// A new, empty step of `kind` (the admin fills it in before saving).
    pub fn new(id: &str, kind: &str) -> Self {
        let mut step = Self {
            id: id.to_owned(),
            kind: kind.to_owned(),
            field: "email".to_owned(),
            ..Self::default()
        };
        if kind == "message" {
            step.buttons.push(ButtonDraft::default());
        }
        step
    }

    fn from_step(id: &str, step: &Step) -> Self {
        let mut draft = Self::new(id, step.kind());
        draft.buttons.clear();
        match step {
            Step::Message { text, buttons } => {
                draft.text = text.clone();
                draft.buttons = buttons
                    .iter()
                    .map(|b| ButtonDraft {
                        id: b.id.clone(),
                        label: b.label.clone(),
                        next: b.next.clone().unwrap_or_default(),
                        url: b.url.clone().unwrap_or_default(),
                    })
                    .collect();
            }
            Step::Collect {
                field,
                prompt,
                next,
            } => {
                match field.strip_prefix("custom:") {
                    Some(key) => {
                        draft.field = "custom".to_owned();
                        draft.custom_key = key.to_owned();
                    }
                    None => draft.field = field.clone(),
                }
                draft.prompt = prompt.clone();
                draft.next = next.clone();
            }
            Step::Tag { tags, next } => {
                draft.tags = tags.join(", ");
                draft.next = next.clone();
            }
            Step::Handover { message, context } => {
                draft.message = message.clone().unwrap_or_default();
                draft.context = context
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            Step::End { message } => draft.message = message.clone().unwrap_or_default(),
        }
        draft
    }

    fn to_step(&self, problems: &mut Vec<FieldError>) -> Option<Step> {
        let at = format!("steps.{}", self.id);
        Some(match self.kind.as_str() {
            "message" => Step::Message {
                text: self.text.clone(),
                buttons: self
                    .buttons
                    .iter()
                    .map(|b| Button {
                        id: b.id.trim().to_owned(),
                        label: b.label.clone(),
                        next: optional(&b.next),
                        url: optional(b.url.trim()),
                    })
                    .collect(),
            },
            "collect" => Step::Collect {
                field: if self.field == "custom" {
                    format!("custom:{}", self.custom_key.trim())
                } else {
                    self.field.clone()
                },
                prompt: self.prompt.clone(),
                next: self.next.clone(),
            },
            "tag" => Step::Tag {
                tags: comma_list(&self.tags),
                next: self.next.clone(),
            },
            "handover" => {
                let mut context = BTreeMap::new();
                for (n, line) in self.context.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match line.split_once('=') {
                        Some((key, value)) => {
                            context.insert(key.trim().to_owned(), value.trim().to_owned());
                        }
                        None => problems.push(FieldError::new(
                            format!("{at}.context"),
                            format!("line {} {:?} is not key=value", n + 1, line.trim()),
                        )),
                    }
                }
                Step::Handover {
                    message: optional(&self.message),
                    context,
                }
            }
            "end" => Step::End {
                message: optional(&self.message),
            },
            _ => {
                problems.push(FieldError::new(
                    at,
                    "the type must be message, collect, tag, handover or end",
                ));
                return None;
            }
        })
    }
}

impl FlowDraft {
    /// The form for a stored flow, steps in `order` (the graph's order) first.
    pub fn from_definition(flow: &FlowDefinition, order: &[String]) -> Self {
        let trigger = &flow.trigger;
        let (when_seconds, when_percent, when_name) = match &trigger.when {
            When::Delay { seconds } => (seconds.to_string(), String::new(), String::new()),
            When::Scroll { percent } => (String::new(), percent.to_string(), String::new()),
            When::CustomEvent { name } => (String::new(), String::new(), name.clone()),
            _ => (String::new(), String::new(), String::new()),
        };
        let when_type = serde_json::to_value(&trigger.when)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let mut ids: Vec<&String> = order
            .iter()
            .filter(|id| flow.steps.contains_key(*id))
            .collect();
        ids.extend(flow.steps.keys().filter(|id| !order.contains(id)));
        Self {
            name: flow.name.clone(),
            welcome: flow.welcome.clone().unwrap_or_default(),
            priority: flow.priority.to_string(),
            enabled: flow.enabled,
            start: flow.start.clone(),
            when_type,
            when_seconds,
            when_percent,
            when_name,
            where_match: name_of(&trigger.where_.match_),
            conditions: trigger
                .where_
                .conditions
                .iter()
                .map(|c| ConditionDraft {
                    field: name_of(&c.field),
                    op: name_of(&c.op),
                    value: c.value.clone(),
                })
                .collect(),
            visitors: name_of(&trigger.audience.visitors),
            min_visits: trigger
                .audience
                .min_visits
                .map(|n| n.to_string())
                .unwrap_or_default(),
            languages: trigger.audience.languages.join(", "),
            devices: trigger.audience.devices.clone(),
            agents: name_of(&trigger.schedule.agents),
            business_hours: name_of(&trigger.schedule.business_hours),
            frequency: name_of(&trigger.frequency),
            steps: ids
                .into_iter()
                .filter_map(|id| flow.steps.get(id).map(|s| StepDraft::from_step(id, s)))
                .collect(),
        }
    }

    /// Reads the editor's fields; unknown fields (the CSRF token, the action) are ignored.
    pub fn from_fields(fields: &[(String, String)]) -> Self {
        let mut draft = Self::default();
        let mut steps: BTreeMap<usize, StepDraft> = BTreeMap::new();
        let mut buttons: BTreeMap<(usize, usize), ButtonDraft> = BTreeMap::new();
        let mut conditions: BTreeMap<usize, ConditionDraft> = BTreeMap::new();
        for (name, value) in fields {
            let value = value.clone();
            let parts: Vec<&str> = name.split('.').collect();
            match parts.as_slice() {
                ["name"] => draft.name = value,
                ["welcome"] => draft.welcome = value,
                ["priority"] => draft.priority = value,
                ["enabled"] => draft.enabled = value == "true",
                ["start"] => draft.start = value,
                ["when_type"] => draft.when_type = value,
                ["when_seconds"] => draft.when_seconds = value,
                ["when_percent"] => draft.when_percent = value,
                ["when_name"] => draft.when_name = value,
                ["where_match"] => draft.where_match = value,
                ["visitors"] => draft.visitors = value,
                ["min_visits"] => draft.min_visits = value,
                ["languages"] => draft.languages = value,
                ["device"] => draft.devices.push(value),
                ["agents"] => draft.agents = value,
                ["business_hours"] => draft.business_hours = value,
                ["frequency"] => draft.frequency = value,
                ["cond", k, key] => {
                    let Ok(k) = k.parse() else { continue };
                    let condition = conditions.entry(k).or_default();
                    match *key {
                        "field" => condition.field = value,
                        "op" => condition.op = value,
                        "value" => condition.value = value,
                        _ => {}
                    }
                }
                ["step", i, "button", j, key] => {
                    let (Ok(i), Ok(j)) = (i.parse(), j.parse()) else {
                        continue;
                    };
                    let button = buttons.entry((i, j)).or_default();
                    match *key {
                        "id" => button.id = value,
                        "label" => button.label = value,
                        "next" => button.next = value,
                        "url" => button.url = value,
                        _ => {}
                    }
                }
                ["step", i, key] => {
                    let Ok(i) = i.parse() else { continue };
                    let step = steps.entry(i).or_default();
                    match *key {
                        "id" => step.id = value,
                        "type" => step.kind = value,
                        "text" => step.text = value,
                        "field" => step.field = value,
                        "custom_key" => step.custom_key = value,
                        "prompt" => step.prompt = value,
                        "next" => step.next = value,
                        "tags" => step.tags = value,
                        "message" => step.message = value,
                        "context" => step.context = value,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        for ((i, _), button) in buttons {
            if let Some(step) = steps.get_mut(&i) {
                step.buttons.push(button);
            }
        }
        draft.steps = steps.into_values().collect();
        draft.conditions = conditions.into_values().collect();
        draft
    }

    /// The flow this form describes, or every problem: those of reading the fields (numbers,
    /// choices, `key=value` lines) and then those of validating the whole graph.
    pub fn to_definition(&self) -> Result<FlowDefinition, Vec<FieldError>> {
        let (flow, problems) = self.build();
        if problems.is_empty() {
            Ok(flow)
        } else {
            Err(problems)
        }
    }

    /// The flow as far as the form describes it (bad numbers and choices fall back to
    /// defaults, so the graph can still be drawn), with every problem found.
    pub fn build(&self) -> (FlowDefinition, Vec<FieldError>) {
        let mut problems = Vec::new();
        let priority = parse_number(&self.priority, "priority", &mut problems).unwrap_or(0);
        let when = match self.when_type.as_str() {
            "delay" => When::Delay {
                seconds: parse_number(&self.when_seconds, "trigger.when.seconds", &mut problems)
                    .unwrap_or(0),
            },
            "scroll" => When::Scroll {
                percent: parse_number(&self.when_percent, "trigger.when.percent", &mut problems)
                    .unwrap_or(50),
            },
            "custom_event" => When::CustomEvent {
                name: self.when_name.trim().to_owned(),
            },
            "exit_intent" => When::ExitIntent,
            "returning_visit" => When::ReturningVisit,
            "chat_opened" => When::ChatOpened,
            _ => {
                problems.push(FieldError::new(
                    "trigger.when.type",
                    "must be delay, scroll, exit_intent, returning_visit, custom_event or chat_opened",
                ));
                When::default()
            }
        };
        let mut conditions = Vec::new();
        for (i, c) in self.conditions.iter().enumerate() {
            let at = format!("trigger.where.conditions[{i}]");
            let field = parse_named(
                &c.field,
                &format!("{at}.field"),
                "url, title or referrer",
                &mut problems,
            );
            let op = parse_named(
                &c.op,
                &format!("{at}.op"),
                "equals, not_equals, contains, not_contains, starts_with or regex",
                &mut problems,
            );
            if let (Some(field), Some(op)) = (field, op) {
                conditions.push(Condition {
                    field,
                    op,
                    value: c.value.clone(),
                });
            }
        }
        let where_ = Where {
            match_: parse_named(
                &self.where_match,
                "trigger.where.match",
                "all or any",
                &mut problems,
            )
            .unwrap_or_default(),
            conditions,
        };
        let min_visits = if self.min_visits.trim().is_empty() {
            None
        } else {
            parse_number(
                &self.min_visits,
                "trigger.audience.min_visits",
                &mut problems,
            )
        };
        let audience = Audience {
            visitors: parse_named(
                &self.visitors,
                "trigger.audience.visitors",
                "all, new or returning",
                &mut problems,
            )
            .unwrap_or_default(),
            min_visits,
            languages: comma_list(&self.languages),
            devices: self.devices.clone(),
        };
        let schedule = Schedule {
            agents: parse_named(
                &self.agents,
                "trigger.schedule.agents",
                "any, online or offline",
                &mut problems,
            )
            .unwrap_or_default(),
            business_hours: parse_named(
                &self.business_hours,
                "trigger.schedule.business_hours",
                "any, inside or outside",
                &mut problems,
            )
            .unwrap_or_default(),
        };
        let frequency: Frequency = parse_named(
            &self.frequency,
            "trigger.frequency",
            "once_per_session, once_per_visitor or every_page",
            &mut problems,
        )
        .unwrap_or_default();
        let mut steps = BTreeMap::new();
        for draft in &self.steps {
            if steps.contains_key(&draft.id) {
                problems.push(FieldError::new(
                    format!("steps.{}", draft.id),
                    "two steps have this id",
                ));
                continue;
            }
            if let Some(step) = draft.to_step(&mut problems) {
                steps.insert(draft.id.clone(), step);
            }
        }
        let flow = FlowDefinition {
            name: self.name.trim().to_owned(),
            enabled: self.enabled,
            priority,
            welcome: optional(&self.welcome),
            trigger: Trigger {
                when,
                where_,
                audience,
                schedule,
                frequency,
            },
            start: self.start.clone(),
            steps,
        };
        if let Err(graph) = validate::validate(&flow) {
            problems.extend(graph);
        }
        (flow, problems)
    }

    /// Step ids for the "next step" selects.
    pub fn step_ids(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn support() -> FlowDefinition {
        validate::parse(&json!({
            "name": "Support", "priority": 10, "welcome": "Hi!",
            "trigger": {
                "when": {"type": "scroll", "percent": 40},
                "where": {"match": "any", "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}]},
                "audience": {"visitors": "returning", "min_visits": 2, "languages": ["en", "cs"], "devices": ["mobile"]},
                "schedule": {"agents": "online", "business_hours": "outside"},
                "frequency": "every_page"
            },
            "start": "menu",
            "steps": {
                "menu": {"type": "message", "text": "What do you need?", "buttons": [
                    {"id": "price", "label": "Pricing", "next": "email"},
                    {"id": "docs", "label": "Docs", "url": "https://example.com/docs"}]},
                "email": {"type": "collect", "field": "custom:order", "prompt": "Order number?", "next": "tagit"},
                "tagit": {"type": "tag", "tags": ["pricing", "vip"], "next": "handover"},
                "handover": {"type": "handover", "message": "Connecting.", "context": {"topic": "sales", "tier": "gold"}},
                "bye": {"type": "end"}
            }
        }))
        .expect("valid")
    }

    /// The fields a browser would post for a draft.
    fn fields(draft: &FlowDraft) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = vec![
            ("name".into(), draft.name.clone()),
            ("welcome".into(), draft.welcome.clone()),
            ("priority".into(), draft.priority.clone()),
            ("start".into(), draft.start.clone()),
            ("when_type".into(), draft.when_type.clone()),
            ("when_seconds".into(), draft.when_seconds.clone()),
            ("when_percent".into(), draft.when_percent.clone()),
            ("when_name".into(), draft.when_name.clone()),
            ("where_match".into(), draft.where_match.clone()),
            ("visitors".into(), draft.visitors.clone()),
            ("min_visits".into(), draft.min_visits.clone()),
            ("languages".into(), draft.languages.clone()),
            ("agents".into(), draft.agents.clone()),
            ("business_hours".into(), draft.business_hours.clone()),
            ("frequency".into(), draft.frequency.clone()),
        ];
        if draft.enabled {
            out.push(("enabled".into(), "true".into()));
        }
        out.extend(draft.devices.iter().map(|d| ("device".into(), d.clone())));
        for (k, c) in draft.conditions.iter().enumerate() {
            out.push((format!("cond.{k}.field"), c.field.clone()));
            out.push((format!("cond.{k}.op"), c.op.clone()));
            out.push((format!("cond.{k}.value"), c.value.clone()));
        }
        for (i, s) in draft.steps.iter().enumerate() {
            for (key, value) in [
                ("id", &s.id),
                ("type", &s.kind),
                ("text", &s.text),
                ("field", &s.field),
                ("custom_key", &s.custom_key),
                ("prompt", &s.prompt),
                ("next", &s.next),
                ("tags", &s.tags),
                ("message", &s.message),
                ("context", &s.context),
            ] {
                out.push((format!("step.{i}.{key}"), value.clone()));
            }
            for (j, b) in s.buttons.iter().enumerate() {
                for (key, value) in [
                    ("id", &b.id),
                    ("label", &b.label),
                    ("next", &b.next),
                    ("url", &b.url),
                ] {
                    out.push((format!("step.{i}.button.{j}.{key}"), value.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn a_flow_survives_the_form_unchanged() {
        let flow = support();
        let draft = FlowDraft::from_definition(&flow, &[]);
        let again = FlowDraft::from_fields(&fields(&draft));
        assert_eq!(draft, again);
        assert_eq!(again.to_definition().expect("valid"), flow);
    }

    #[test]
    fn field_problems_and_graph_problems_come_together() {
        let mut draft = FlowDraft::from_definition(&support(), &[]);
        draft.priority = "high".into();
        draft.min_visits = "two".into();
        let step = |draft: &mut FlowDraft, id: &str| -> usize {
            draft.steps.iter().position(|s| s.id == id).expect("step")
        };
        let menu = step(&mut draft, "menu");
        draft.steps[menu].buttons[0].next = "pricng".into();
        let handover = step(&mut draft, "handover");
        draft.steps[handover].context = "topic=sales\nno equals sign".into();
        let problems: Vec<String> = draft
            .to_definition()
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect();
        for expected in [
            "priority: must be a whole number",
            "trigger.audience.min_visits: must be a whole number",
            "steps.menu.buttons[0].next: no step \"pricng\"",
            "steps.handover.context: line 2 \"no equals sign\" is not key=value",
        ] {
            assert!(
                problems.iter().any(|p| p == expected),
                "{expected} in {problems:#?}"
            );
        }
    }

    #[test]
    fn steps_follow_the_given_order_then_the_rest() {
        let order = vec!["menu".to_owned(), "email".to_owned()];
        let draft = FlowDraft::from_definition(&support(), &order);
        assert_eq!(
            draft.step_ids(),
            ["menu", "email", "bye", "handover", "tagit"].map(String::from)
        );
    }
}
