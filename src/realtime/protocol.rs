//! The JSON frames of `/ws/widget` and `/ws/agent` (docs/protocol.md), as serde types.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A page as the widget reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct PageInfo {
    pub url: String,
    pub title: Option<String>,
    pub referrer: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Hello {
    pub visitor_token: Option<String>,
    pub conversation_id: Option<uuid::Uuid>,
    pub last_seq: Option<i64>,
    pub page: Option<PageInfo>,
    pub language: Option<String>,
    pub device: Option<String>,
    /// A signed identity of the site's signed-in user (docs/widget.md, "Verified identity").
    pub identity: Option<Identity>,
}

/// `{user_id, email?, name?, signature}`: signature = hex HMAC-SHA256(identity secret, user_id).
#[derive(Clone, Debug, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub signature: String,
}

/// A contact variable: a labelled value (`frontdesk('variables', {...})`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Variable {
    pub label: String,
    pub value: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Identify {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub variables: Option<BTreeMap<String, Variable>>,
    pub group: Option<String>,
    pub identity: Option<Identity>,
}

/// Frames from the widget.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WidgetFrame {
    Hello(Hello),
    Message {
        client_id: String,
        /// May be empty (`""`) when the message carries files.
        text: String,
        /// Ids of files uploaded with `POST /widget/attachments`.
        #[serde(default)]
        attachments: Vec<uuid::Uuid>,
    },
    Choose {
        client_id: String,
        button_id: String,
        step_id: Option<String>,
    },
    Typing {
        on: bool,
    },
    Page(PageInfo),
    Identify(Identify),
    Event {
        name: String,
    },
    Trigger {
        flow_id: String,
    },
    Open,
    Close,
    Rate {
        value: i64,
        comment: Option<String>,
        /// The conversation the widget shows (else the visitor's latest).
        conversation_id: Option<uuid::Uuid>,
    },
    OfflineMessage {
        client_id: String,
        name: Option<String>,
        email: String,
        text: String,
    },
    /// Email me the transcript of the conversation I see.
    TranscriptRequest {
        email: String,
        /// The conversation the widget shows (else the visitor's latest).
        conversation_id: Option<uuid::Uuid>,
        /// Echoed in the answer (`transcript_queued` or `error`) to pair them.
        client_id: Option<String>,
    },
}

const WIDGET_TYPES: [&str; 13] = [
    "hello",
    "message",
    "choose",
    "typing",
    "page",
    "identify",
    "event",
    "trigger",
    "open",
    "close",
    "rate",
    "offline_message",
    "transcript_request",
];

/// Frames from the inbox.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentFrame {
    Typing {
        conversation_id: uuid::Uuid,
        on: bool,
    },
}

const AGENT_TYPES: [&str; 1] = ["typing"];

/// Why an incoming text frame was not understood.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    Malformed,
    UnknownType(String),
    Invalid {
        client_id: Option<String>,
        reason: String,
    },
}

fn decode<T: serde::de::DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, DecodeError> {
    // A well-formed frame parses straight into its type (once, on every message); only a
    // faulty one is read again as JSON to say what is wrong with it.
    if let Ok(frame) = serde_json::from_str(text) {
        return Ok(frame);
    }
    let value: Value = serde_json::from_str(text).map_err(|_| DecodeError::Malformed)?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(DecodeError::Malformed)?;
    if !known.contains(&kind) {
        return Err(DecodeError::UnknownType(kind.to_owned()));
    }
    let client_id = value
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    serde_json::from_value(value).map_err(|error| DecodeError::Invalid {
        client_id,
        reason: error.to_string(),
    })
}

impl WidgetFrame {
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode(text, &WIDGET_TYPES)
    }
}

impl AgentFrame {
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode(text, &AGENT_TYPES)
    }
}

/// `{"type": "ack", client_id, id, seq, conversation_id}`: a message is stored.
#[derive(Clone, Debug, Serialize)]
pub struct AckFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub client_id: &'a str,
    pub id: uuid::Uuid,
    pub seq: i64,
    pub conversation_id: uuid::Uuid,
}

impl<'a> AckFrame<'a> {
    pub fn new(client_id: &'a str, id: uuid::Uuid, seq: i64, conversation_id: uuid::Uuid) -> Self {
        Self {
            kind: "ack",
            client_id,
            id,
            seq,
            conversation_id,
        }
    }
}

/// `{"type": "error", code, message, client_id?}`.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'a str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
}

impl<'a> ErrorFrame<'a> {
    pub fn new(code: &'a str, message: &'a str, client_id: Option<&'a str>) -> Self {
        Self {
            kind: "error",
            code,
            message,
            client_id,
        }
    }
}

impl DecodeError {
    /// The error frame's code and message.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Self::Malformed => (
                "malformed_frame",
                "frames are JSON objects with a \"type\"".to_owned(),
            ),
            Self::UnknownType(kind) => ("unknown_type", format!("unknown frame type {kind:?}")),
            Self::Invalid { reason, .. } => ("invalid_frame", reason.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_by_type() {
        let frame = WidgetFrame::decode(r#"{"type":"message","client_id":"c1","text":"hi"}"#)
            .expect("valid");
        assert!(matches!(frame, WidgetFrame::Message { ref client_id, .. } if client_id == "c1"));
        assert!(matches!(
            WidgetFrame::decode(r#"{"type":"open"}"#),
            Ok(WidgetFrame::Open)
        ));
        assert!(matches!(
            WidgetFrame::decode(r#"{"type":"hello","page":{"url":"https://x.com"}}"#),
            Ok(WidgetFrame::Hello(_))
        ));
    }

    #[test]
    fn bad_frames_are_told_apart() {
        assert_eq!(
            WidgetFrame::decode("not json").err(),
            Some(DecodeError::Malformed)
        );
        assert_eq!(
            WidgetFrame::decode("[1]").err(),
            Some(DecodeError::Malformed)
        );
        assert_eq!(
            WidgetFrame::decode(r#"{"type":"dance"}"#).err(),
            Some(DecodeError::UnknownType("dance".to_owned()))
        );
        match WidgetFrame::decode(r#"{"type":"message","client_id":"c9"}"#) {
            Err(DecodeError::Invalid { client_id, .. }) => {
                assert_eq!(client_id.as_deref(), Some("c9"))
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }
}
