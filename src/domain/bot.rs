//! External bot rules (DESIGN section 11): a bot's settings, the events it receives and the
//! actions it may answer with, each validated with every problem at once.

use super::{FieldError, webhook::EndpointUrl};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The bot takes a conversation (with the transcript so far).
pub const ASSIGNED: &str = "conversation.assigned";
/// The visitor wrote while the bot had the conversation.
pub const MESSAGE_CREATED: &str = "message.created";
/// The visitor clicked one of the bot's buttons.
pub const BUTTON_CLICKED: &str = "button.clicked";
/// People took the conversation over (the bot's handover, an agent, a failure).
pub const HANDED_OVER: &str = "conversation.handed_over";
/// The conversation was resolved.
pub const RESOLVED: &str = "conversation.resolved";

/// The default time a bot has to answer an event.
pub const DEFAULT_TIMEOUT_MS: i32 = 5_000;
/// Bounds of `timeout_ms`: long enough for a real network hop, short enough that a visitor
/// is not left waiting (a webhook's limit is 10 s).
pub const MIN_TIMEOUT_MS: i32 = 100;
pub const MAX_TIMEOUT_MS: i32 = 30_000;
/// Longest bot or label name.
pub const MAX_NAME_CHARS: usize = 100;
/// Most actions in one answer, and buttons in one message.
pub const MAX_ACTIONS: usize = 20;
pub const MAX_BUTTONS: usize = 10;
/// Longest button id and label.
const MAX_BUTTON_ID_CHARS: usize = 64;
const MAX_BUTTON_LABEL_CHARS: usize = 100;
/// Longest handover summary.
const MAX_SUMMARY_CHARS: usize = 2_000;
/// Most context variables in one handover.
const MAX_CONTEXT_KEYS: usize = 50;

/// A bot's name (also the label visitors see when no label is set): 1 to 100 characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A bot's URL: the same rules as a webhook endpoint's.
pub fn parse_url(field: &str, raw: &str) -> Result<String, FieldError> {
    EndpointUrl::parse(field, raw).map(|url| url.as_str().to_owned())
}

pub fn parse_timeout(field: &str, raw: i64) -> Result<i32, FieldError> {
    i32::try_from(raw)
        .ok()
        .filter(|ms| (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(ms))
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("must be {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS} milliseconds"),
            )
        })
}

/// An avatar: an absolute http(s) URL of an image.
pub fn parse_avatar(field: &str, raw: &str) -> Result<String, FieldError> {
    EndpointUrl::parse(field, raw).map(|url| url.as_str().to_owned())
}

/// A button of a bot message, as the widget renders flow buttons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotButton {
    pub id: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Where a bot sends the conversation on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    Bot(uuid::Uuid),
    Flow(uuid::Uuid),
}

/// One thing a bot does in a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotAction {
    Message {
        text: String,
        buttons: Vec<BotButton>,
    },
    Typing,
    Handover {
        context: BTreeMap<String, String>,
        summary: Option<String>,
    },
    End,
    Transfer(TransferTarget),
}

/// An action as a bot sends it, before validation.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawAction {
    Message {
        text: String,
        #[serde(default)]
        buttons: Option<Vec<BotButton>>,
    },
    Typing {},
    Handover {
        #[serde(default)]
        context: Option<BTreeMap<String, serde_json::Value>>,
        #[serde(default)]
        summary: Option<String>,
    },
    End {},
    Transfer {
        #[serde(default)]
        bot_id: Option<uuid::Uuid>,
        #[serde(default)]
        flow_id: Option<uuid::Uuid>,
    },
}

/// A bot's answer: `{"actions": [...]}`.
#[derive(Clone, Debug, Deserialize)]
struct RawAnswer {
    #[serde(default)]
    actions: Vec<serde_json::Value>,
}

/// Reads an answer body (`{"actions": [...]}`); an empty body is no actions. Every problem at
/// once, each with its path (`actions[1].text: is required`).
pub fn parse_answer(body: &[u8], max_text_chars: usize) -> Result<Vec<BotAction>, Vec<FieldError>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let answer: RawAnswer = serde_json::from_slice(body).map_err(|error| {
        vec![FieldError::new(
            "actions",
            format!("the answer is not {{\"actions\": [...]}}: {error}"),
        )]
    })?;
    parse_actions(&answer.actions, max_text_chars)
}

/// Validates a list of actions (the answer's, or `bot-actions`'s body).
pub fn parse_actions(
    raw: &[serde_json::Value],
    max_text_chars: usize,
) -> Result<Vec<BotAction>, Vec<FieldError>> {
    let mut problems = Vec::new();
    if raw.len() > MAX_ACTIONS {
        problems.push(FieldError::new(
            "actions",
            format!("at most {MAX_ACTIONS} actions"),
        ));
    }
    let mut actions = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let path = format!("actions[{i}]");
        match serde_json::from_value::<RawAction>(value.clone()) {
            Ok(action) => match check(&path, action, max_text_chars) {
                Ok(action) => actions.push(action),
                Err(mut more) => problems.append(&mut more),
            },
            Err(error) => problems.push(FieldError::new(
                path,
                format!("not an action (message, typing, handover, end, transfer): {error}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(actions)
    } else {
        Err(problems)
    }
}

fn check(
    path: &str,
    action: RawAction,
    max_text_chars: usize,
) -> Result<BotAction, Vec<FieldError>> {
    let mut problems = Vec::new();
    let action = match action {
        RawAction::Message { text, buttons } => {
            let trimmed = text.trim();
            if trimmed.is_empty() || trimmed.chars().count() > max_text_chars {
                problems.push(FieldError::new(
                    format!("{path}.text"),
                    format!("must be 1 to {max_text_chars} characters"),
                ));
            }
            let buttons = buttons.unwrap_or_default();
            if buttons.len() > MAX_BUTTONS {
                problems.push(FieldError::new(
                    format!("{path}.buttons"),
                    format!("at most {MAX_BUTTONS} buttons"),
                ));
            }
            for (j, button) in buttons.iter().enumerate() {
                let at = format!("{path}.buttons[{j}]");
                if button.id.trim().is_empty() || button.id.chars().count() > MAX_BUTTON_ID_CHARS {
                    problems.push(FieldError::new(
                        format!("{at}.id"),
                        format!("must be 1 to {MAX_BUTTON_ID_CHARS} characters"),
                    ));
                }
                if buttons[..j].iter().any(|earlier| earlier.id == button.id) {
                    problems.push(FieldError::new(format!("{at}.id"), "is used twice"));
                }
                let label = button.label.trim();
                if label.is_empty() || label.chars().count() > MAX_BUTTON_LABEL_CHARS {
                    problems.push(FieldError::new(
                        format!("{at}.label"),
                        format!("must be 1 to {MAX_BUTTON_LABEL_CHARS} characters"),
                    ));
                }
                if let Some(url) = &button.url
                    && let Err(error) = EndpointUrl::parse(&format!("{at}.url"), url)
                {
                    problems.push(error);
                }
            }
            BotAction::Message {
                text: trimmed.to_owned(),
                buttons,
            }
        }
        RawAction::Typing {} => BotAction::Typing,
        RawAction::Handover { context, summary } => {
            let context = context.unwrap_or_default();
            if context.len() > MAX_CONTEXT_KEYS {
                problems.push(FieldError::new(
                    format!("{path}.context"),
                    format!("at most {MAX_CONTEXT_KEYS} variables"),
                ));
            }
            let context = context
                .into_iter()
                .map(|(key, value)| {
                    let value = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    (key, value)
                })
                .collect();
            let summary = summary
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            if summary
                .as_ref()
                .is_some_and(|s| s.chars().count() > MAX_SUMMARY_CHARS)
            {
                problems.push(FieldError::new(
                    format!("{path}.summary"),
                    format!("at most {MAX_SUMMARY_CHARS} characters"),
                ));
            }
            BotAction::Handover { context, summary }
        }
        RawAction::End {} => BotAction::End,
        RawAction::Transfer { bot_id, flow_id } => match (bot_id, flow_id) {
            (Some(bot), None) => BotAction::Transfer(TransferTarget::Bot(bot)),
            (None, Some(flow)) => BotAction::Transfer(TransferTarget::Flow(flow)),
            _ => {
                problems.push(FieldError::new(
                    path,
                    "a transfer names exactly one of bot_id and flow_id",
                ));
                BotAction::Typing
            }
        },
    };
    if problems.is_empty() {
        Ok(action)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_with_every_action_parses() {
        let body = json!({"actions": [
            {"type": "typing"},
            {"type": "message", "text": "Hi", "buttons": [{"id": "a", "label": "A"},
                {"id": "docs", "label": "Docs", "url": "https://example.com"}]},
            {"type": "handover", "context": {"topic": "billing", "vip": true}, "summary": "Wants a refund"},
            {"type": "transfer", "bot_id": "0190a3e4-0000-7000-8000-000000000001"},
            {"type": "end"}
        ]})
        .to_string();
        let actions = parse_answer(body.as_bytes(), 100).expect("valid");
        assert_eq!(actions.len(), 5);
        assert_eq!(
            actions[2],
            BotAction::Handover {
                context: BTreeMap::from([
                    ("topic".to_owned(), "billing".to_owned()),
                    ("vip".to_owned(), "true".to_owned())
                ]),
                summary: Some("Wants a refund".to_owned())
            }
        );
    }

    #[test]
    fn an_empty_body_is_no_actions_and_garbage_is_refused() {
        assert_eq!(parse_answer(b"  ", 100), Ok(Vec::new()));
        assert!(parse_answer(b"<html>", 100).is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let body = json!({"actions": [
            {"type": "message", "text": "", "buttons": [{"id": "x", "label": ""}, {"id": "x", "label": "B"}]},
            {"type": "transfer"},
            {"type": "dance"}
        ]})
        .to_string();
        let problems = parse_answer(body.as_bytes(), 100).expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "actions[0].text",
                "actions[0].buttons[0].label",
                "actions[0].buttons[1].id",
                "actions[1]",
                "actions[2]"
            ]
        );
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(parse_timeout("timeout_ms", 5000), Ok(5000));
        assert!(parse_timeout("timeout_ms", 10).is_err());
        assert!(parse_timeout("timeout_ms", 60_000).is_err());
    }
}
