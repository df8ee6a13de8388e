//! A flow's problems in words for the editor form: "Step “menu”, button 2, next step: no
//! step "pricng"" in the summary, and the message beside the field it is about. The REST
//! API and the JSON import keep the paths (`steps.menu.buttons[1].next`).

use crate::domain::FieldError;
use std::collections::BTreeMap;

/// The problems of one step card: by field (`text`, `next`, `button.1.id`, …) to show beside
/// that field, and the rest for the top of the card.
#[derive(Clone, Debug, Default)]
pub struct StepProblems {
    pub general: Vec<String>,
    fields: BTreeMap<String, String>,
}

impl StepProblems {
    pub fn is_empty(&self) -> bool {
        self.general.is_empty() && self.fields.is_empty()
    }

    /// The problem of one of the step's own fields (`text`, `prompt`, `next`, `tags`, …).
    pub fn at(&self, field: &str) -> Option<&String> {
        self.fields.get(field)
    }

    /// The problem of a field of the step's button number `index` (from 0).
    pub fn button(&self, index: &usize, field: &str) -> Option<&String> {
        self.fields.get(&format!("button.{index}.{field}"))
    }
}

/// The problems of step `id`, each placed at its field when the form has one.
pub fn for_step(id: &str, problems: &[FieldError]) -> StepProblems {
    let prefix = format!("steps.{id}");
    let mut found = StepProblems::default();
    for problem in problems {
        let Some(rest) = problem.field.strip_prefix(&prefix) else {
            continue;
        };
        let key = match rest {
            "" => None,
            _ => rest.strip_prefix('.').and_then(field_key),
        };
        match key {
            Some(key) => {
                found
                    .fields
                    .entry(key)
                    .and_modify(|text| {
                        text.push_str("; ");
                        text.push_str(&problem.message);
                    })
                    .or_insert_with(|| sentence(&problem.message));
            }
            None if rest.is_empty() || rest.starts_with('.') => {
                found.general.push(describe(problem));
            }
            None => {}
        }
    }
    found
}

/// `text` -> `text`, `buttons[1].next` -> `button.1.next`; none for anything else.
fn field_key(rest: &str) -> Option<String> {
    if let Some(button) = rest.strip_prefix("buttons[") {
        let (index, field) = button.split_once("].")?;
        let index: usize = index.parse().ok()?;
        return matches!(field, "id" | "label" | "next" | "url")
            .then(|| format!("button.{index}.{field}"));
    }
    matches!(
        rest,
        "text" | "prompt" | "next" | "tags" | "message" | "context" | "field" | "custom_key"
    )
    .then(|| rest.to_owned())
}

/// A problem as a sentence that names the field in the editor's words.
pub fn describe(problem: &FieldError) -> String {
    format!("{}: {}", place(&problem.field), problem.message)
}

fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Where a path points, in the editor's words.
fn place(path: &str) -> String {
    if let Some(step) = path.strip_prefix("steps.") {
        let (id, rest) = step.split_once('.').unwrap_or((step, ""));
        let mut out = format!("Step “{id}”");
        if let Some(button) = rest.strip_prefix("buttons[") {
            let (index, field) = button.split_once(']').unwrap_or((button, ""));
            if let Ok(index) = index.parse::<usize>() {
                out.push_str(&format!(", button {}", index + 1));
            }
            if let Some(field) = field.strip_prefix('.') {
                out.push_str(", ");
                out.push_str(button_field(field));
            }
        } else if !rest.is_empty() {
            out.push_str(", ");
            out.push_str(step_field(rest));
        }
        return out;
    }
    if let Some(condition) = path.strip_prefix("trigger.where.conditions[") {
        let (index, field) = condition.split_once(']').unwrap_or((condition, ""));
        let number = index.parse::<usize>().map(|i| i + 1).unwrap_or(0);
        let field = field.trim_start_matches('.');
        return format!(
            "Page condition {number}{}{field}",
            if field.is_empty() { "" } else { ", " }
        );
    }
    let words = match path {
        "name" => "Name",
        "welcome" => "Welcome message",
        "priority" => "Priority",
        "start" => "Start step",
        "steps" => "Steps",
        "trigger.when.type" => "Trigger",
        "trigger.when.seconds" => "Trigger delay (seconds)",
        "trigger.when.percent" => "Trigger scroll (percent)",
        "trigger.when.name" => "Trigger event name",
        "trigger.audience.min_visits" => "Minimum visits",
        "trigger.audience.visitors" => "Visitors",
        "trigger.audience.devices" => "Devices",
        "trigger.schedule.agents" => "Agents",
        "trigger.schedule.business_hours" => "Business hours",
        "trigger.frequency" => "Frequency",
        _ if path.starts_with("trigger.audience.languages") => "Languages",
        _ => return path.to_owned(),
    };
    words.to_owned()
}

fn step_field(field: &str) -> &str {
    match field {
        "text" => "text",
        "prompt" => "prompt",
        "next" => "then",
        "tags" => "tags",
        "message" => "message",
        "context" => "context",
        "field" => "ask for",
        "custom_key" => "custom key",
        "buttons" => "buttons",
        other => other,
    }
}

fn button_field(field: &str) -> &str {
    match field {
        "id" => "id",
        "label" => "label",
        "next" => "next step",
        "url" => "URL",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_words_and_land_on_their_fields() {
        let problems = vec![
            FieldError::new("steps.menu.buttons[1].next", "no step \"pricng\""),
            FieldError::new("steps.menu.buttons[1].id", "is used by another button"),
            FieldError::new("steps.menu.text", "must not be empty"),
            FieldError::new("steps.menu", "is not reachable"),
            FieldError::new("steps.other.text", "must not be empty"),
            FieldError::new("trigger.when.percent", "must be between 1 and 100"),
        ];
        assert_eq!(
            describe(&problems[0]),
            "Step “menu”, button 2, next step: no step \"pricng\""
        );
        assert_eq!(
            describe(&problems[5]),
            "Trigger scroll (percent): must be between 1 and 100"
        );
        let menu = for_step("menu", &problems);
        assert_eq!(
            menu.button(&1, "next").map(String::as_str),
            Some("No step \"pricng\"")
        );
        assert_eq!(
            menu.button(&1, "id").map(String::as_str),
            Some("Is used by another button")
        );
        assert_eq!(
            menu.at("text").map(String::as_str),
            Some("Must not be empty")
        );
        assert_eq!(
            menu.general,
            vec!["Step “menu”: is not reachable".to_owned()]
        );
        assert!(
            for_step("men", &problems).is_empty(),
            "ids are matched whole"
        );
    }
}
