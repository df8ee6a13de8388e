//! Validation of a whole flow: every problem at once, each with its path, e.g.
//! `steps.menu.buttons[1].next: no step "pricng"`.

use super::definition::{FlowDefinition, Operator, Step, When};
use crate::domain::{FieldError, conversation::Tag, visitor::parse_language};
use std::collections::{BTreeSet, HashSet};

/// Most steps in one flow; a bigger graph is unmaintainable in the editor anyway.
pub const MAX_STEPS: usize = 200;
/// Most buttons on one message (more do not fit the widget as quick replies).
pub const MAX_BUTTONS: usize = 10;
/// Most page conditions in a flow's `where`: the server checks every enabled flow's
/// conditions on each page view, so their number is bounded (Smartsupp and Intercom offer a
/// handful of targeting rules per message; 20 is far more than a real flow uses).
pub const MAX_CONDITIONS: usize = 20;
/// Longest bot text, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Largest compiled `regex` condition, so a pattern cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// Parses flow JSON and validates it.
pub fn parse(json: &serde_json::Value) -> Result<FlowDefinition, Vec<FieldError>> {
    let flow: FlowDefinition = serde_json::from_value(json.clone())
        .map_err(|error| vec![FieldError::new("flow", error.to_string())])?;
    validate(&flow)?;
    Ok(flow)
}

fn text_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        Some("must not be empty".to_owned())
    } else if text.chars().count() > MAX_TEXT_CHARS {
        Some(format!("must be at most {MAX_TEXT_CHARS} characters"))
    } else {
        None
    }
}

/// Step, button and context-key ids: 1 to 64 letters, digits, `_` or `-`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `collect` fields a flow may ask for.
pub fn valid_collect_field(field: &str) -> bool {
    matches!(field, "email" | "phone" | "name")
        || field.strip_prefix("custom:").is_some_and(valid_id)
}

/// Checks everything; answers every problem found.
pub fn validate(flow: &FlowDefinition) -> Result<(), Vec<FieldError>> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: String| problems.push(FieldError::new(path, message));

    if flow.name.trim().is_empty() || flow.name.chars().count() > 100 {
        problem("name".into(), "must be 1 to 100 characters".into());
    }
    if let Some(welcome) = &flow.welcome
        && let Some(why) = text_problem(welcome)
    {
        problem("welcome".into(), why);
    }
    if flow.steps.is_empty() {
        problem("steps".into(), "a flow needs at least one step".into());
    }
    if flow.steps.len() > MAX_STEPS {
        problem("steps".into(), format!("at most {MAX_STEPS} steps"));
    }
    if !flow.steps.contains_key(&flow.start) {
        problem("start".into(), format!("no step {:?}", flow.start));
    }

    match &flow.trigger.when {
        When::Delay { seconds } if *seconds > 3_600 => {
            problem("trigger.when.seconds".into(), "must be at most 3600".into());
        }
        When::Scroll { percent } if !(1..=100).contains(percent) => {
            problem(
                "trigger.when.percent".into(),
                "must be between 1 and 100".into(),
            );
        }
        When::CustomEvent { name } if name.trim().is_empty() || name.len() > 64 => {
            problem(
                "trigger.when.name".into(),
                "must be 1 to 64 characters".into(),
            );
        }
        _ => {}
    }
    if flow.trigger.where_.conditions.len() > MAX_CONDITIONS {
        problem(
            "trigger.where.conditions".into(),
            format!("at most {MAX_CONDITIONS} conditions"),
        );
    }
    for (i, condition) in flow.trigger.where_.conditions.iter().enumerate() {
        let path = format!("trigger.where.conditions[{i}].value");
        if condition.value.is_empty() || condition.value.len() > 2_000 {
            problem(path.clone(), "must be 1 to 2000 characters".into());
        }
        if condition.op == Operator::Regex
            && let Err(error) = regex::RegexBuilder::new(&condition.value)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
        {
            problem(path, format!("is not a valid regular expression: {error}"));
        }
    }
    for (i, language) in flow.trigger.audience.languages.iter().enumerate() {
        if parse_language(language).is_none() {
            problem(
                format!("trigger.audience.languages[{i}]"),
                format!("{language:?} is not a language code like en or cs"),
            );
        }
    }
    for (i, device) in flow.trigger.audience.devices.iter().enumerate() {
        if !matches!(device.as_str(), "desktop" | "mobile" | "tablet") {
            problem(
                format!("trigger.audience.devices[{i}]"),
                "must be desktop, mobile or tablet".into(),
            );
        }
    }

    for (id, step) in &flow.steps {
        let at = format!("steps.{id}");
        if !valid_id(id) {
            problem(
                at.clone(),
                "step ids are 1 to 64 letters, digits, _ or -".into(),
            );
        }
        match step {
            Step::Message { text, buttons } => {
                if let Some(why) = text_problem(text) {
                    problem(format!("{at}.text"), why);
                }
                if buttons.len() > MAX_BUTTONS {
                    problem(
                        format!("{at}.buttons"),
                        format!("at most {MAX_BUTTONS} buttons"),
                    );
                }
                let mut seen = HashSet::new();
                for (i, button) in buttons.iter().enumerate() {
                    let at = format!("{at}.buttons[{i}]");
                    if !valid_id(&button.id) {
                        problem(
                            format!("{at}.id"),
                            "button ids are 1 to 64 letters, digits, _ or -".into(),
                        );
                    } else if !seen.insert(button.id.as_str()) {
                        problem(
                            format!("{at}.id"),
                            format!("{:?} is used twice in this step", button.id),
                        );
                    }
                    if button.label.trim().is_empty() || button.label.chars().count() > 80 {
                        problem(format!("{at}.label"), "must be 1 to 80 characters".into());
                    }
                    match (&button.next, &button.url) {
                        (Some(_), Some(_)) | (None, None) => {
                            problem(at.clone(), "a button has either next or url".into());
                        }
                        (None, Some(url))
                            if !(url.starts_with("https://") || url.starts_with("http://")) =>
                        {
                            problem(format!("{at}.url"), "must be an http or https URL".into());
                        }
                        _ => {}
                    }
                }
            }
            Step::Collect { field, prompt, .. } => {
                if !valid_collect_field(field) {
                    problem(
                        format!("{at}.field"),
                        "must be email, phone, name or custom:<key>".into(),
                    );
                }
                if let Some(why) = text_problem(prompt) {
                    problem(format!("{at}.prompt"), why);
                }
            }
            Step::Tag { tags, .. } => {
                if tags.is_empty() {
                    problem(format!("{at}.tags"), "must name at least one tag".into());
                }
                for (i, tag) in tags.iter().enumerate() {
                    if let Err(error) = Tag::parse(&format!("{at}.tags[{i}]"), tag) {
                        problems_push(&mut problem, error);
                    }
                }
            }
            Step::Handover { message, context } => {
                if let Some(message) = message
                    && let Some(why) = text_problem(message)
                {
                    problem(format!("{at}.message"), why);
                }
                for key in context.keys() {
                    if !valid_id(key) {
                        problem(
                            format!("{at}.context.{key}"),
                            "keys are 1 to 64 letters, digits, _ or -".into(),
                        );
                    }
                }
            }
            Step::End { message } => {
                if let Some(message) = message
                    && let Some(why) = text_problem(message)
                {
                    problem(format!("{at}.message"), why);
                }
            }
        }
        for (path, next) in step.successors() {
            if !flow.steps.contains_key(next) {
                problem(format!("{at}.{path}"), format!("no step {next:?}"));
            }
        }
    }
    if let Some(cycle) = tag_cycle(flow) {
        problem(
            format!("steps.{cycle}"),
            "tag steps lead back to themselves without a message in between".into(),
        );
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn problems_push(problem: &mut impl FnMut(String, String), error: FieldError) {
    problem(error.field, error.message);
}

/// A step from which `tag` steps alone lead around in a circle (the bot would never stop).
fn tag_cycle(flow: &FlowDefinition) -> Option<String> {
    for start in flow.steps.keys() {
        let mut seen = HashSet::new();
        let mut current = start.as_str();
        while let Some(Step::Tag { next, .. }) = flow.steps.get(current) {
            if !seen.insert(current) {
                return Some(start.clone());
            }
            current = next;
        }
    }
    None
}

/// Steps the flow can reach from its start (the graph shows the others as unreachable).
pub fn reachable(flow: &FlowDefinition) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = vec![flow.start.clone()];
    while let Some(id) = queue.pop() {
        if !flow.steps.contains_key(&id) || !seen.insert(id.clone()) {
            continue;
        }
        if let Some(step) = flow.steps.get(&id) {
            queue.extend(
                step.successors()
                    .into_iter()
                    .map(|(_, next)| next.to_owned()),
            );
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn design_example() -> serde_json::Value {
        json!({
          "name": "Support", "enabled": true, "priority": 10,
          "welcome": "Hi! Can I help you find something?",
          "trigger": {
            "when": {"type": "delay", "seconds": 5},
            "where": {"match": "any", "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}]},
            "audience": {"visitors": "all", "languages": ["en"], "devices": ["desktop", "mobile"]},
            "schedule": {"agents": "any", "business_hours": "any"},
            "frequency": "once_per_session"
          },
          "start": "menu",
          "steps": {
            "menu": {"type": "message", "text": "What do you need?", "buttons": [
                {"id": "price", "label": "Pricing", "next": "pricing"},
                {"id": "human", "label": "Talk to a person", "next": "handover"}]},
            "pricing": {"type": "message", "text": "Plans start at ...", "buttons": [
                {"id": "back", "label": "Back", "next": "menu"},
                {"id": "done", "label": "That helped", "next": "bye"},
                {"id": "docs", "label": "Open docs", "url": "https://example.com/docs"}]},
            "email": {"type": "collect", "field": "email", "prompt": "Your email?", "next": "handover"},
            "tagit": {"type": "tag", "tags": ["pricing"], "next": "menu"},
            "handover": {"type": "handover", "message": "Connecting you to our team.", "context": {"topic": "sales"}},
            "bye": {"type": "end", "message": "Glad I could help!"}
          }
        })
    }

    #[test]
    fn the_design_example_is_valid_and_round_trips() {
        let flow = parse(&design_example()).expect("valid");
        let again: FlowDefinition =
            serde_json::from_value(serde_json::to_value(&flow).expect("json")).expect("parse");
        assert_eq!(flow, again);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut bad = design_example();
        bad["steps"]["pricing"]["buttons"][1]["next"] = json!("pricng");
        bad["steps"]["email"]["field"] = json!("shoe size");
        bad["steps"]["menu"]["buttons"][1]["id"] = json!("price");
        bad["start"] = json!("nowhere");
        bad["trigger"]["where"]["conditions"][0] =
            json!({"field": "url", "op": "regex", "value": "("});
        let errors = parse(&bad).expect_err("invalid");
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for expected in [
            "steps.pricing.buttons[1].next: no step \"pricng\"",
            "steps.email.field: must be email, phone, name or custom:<key>",
            "steps.menu.buttons[1].id: \"price\" is used twice in this step",
            "start: no step \"nowhere\"",
        ] {
            assert!(
                lines.iter().any(|line| line == expected),
                "{expected} in {lines:#?}"
            );
        }
        assert!(lines.iter().any(|line| {
            line.starts_with("trigger.where.conditions[0].value: is not a valid regular expression")
        }));
    }

    #[test]
    fn buttons_need_exactly_one_of_next_and_url() {
        let mut bad = design_example();
        bad["steps"]["menu"]["buttons"][0] =
            json!({"id": "x", "label": "X", "next": "bye", "url": "https://a.com"});
        bad["steps"]["menu"]["buttons"][1] = json!({"id": "y", "label": "Y"});
        let errors = parse(&bad).expect_err("invalid");
        assert_eq!(
            errors
                .iter()
                .filter(|e| e.message == "a button has either next or url")
                .count(),
            2
        );
    }

    #[test]
    fn a_circle_of_tag_steps_is_refused_but_a_back_button_is_fine() {
        let mut bad = design_example();
        bad["steps"]["t1"] = json!({"type": "tag", "tags": ["a"], "next": "t2"});
        bad["steps"]["t2"] = json!({"type": "tag", "tags": ["b"], "next": "t1"});
        let errors = parse(&bad).expect_err("invalid");
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("lead back to themselves"))
        );
        assert!(
            parse(&design_example()).is_ok(),
            "menu <-> pricing is a cycle through messages"
        );
    }

    #[test]
    fn unknown_fields_and_step_types_are_refused_by_shape() {
        let mut bad = design_example();
        bad["steps"]["menu"]["type"] = json!("dance");
        assert_eq!(parse(&bad).expect_err("invalid")[0].field, "flow");
    }

    #[test]
    fn reachability_marks_orphan_steps() {
        let flow = parse(&design_example()).expect("valid");
        let reachable = reachable(&flow);
        assert!(
            reachable.contains("menu")
                && reachable.contains("bye")
                && reachable.contains("handover")
        );
        assert!(
            !reachable.contains("email") && !reachable.contains("tagit"),
            "nothing leads there"
        );
    }
}
