//! The JSON frames of `/ws/widget` and `/ws/agent` (docs/protocol.md), as serde types.

use super::hub::FrameKind;
use crate::domain::ids::{ConversationId, UserId, VisitorId};
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

/// The payloads whose shape the services own (views of stored rows: a message, a conversation,
/// a flow the visitor may trigger...). `realtime` stays a leaf that imports no service: the
/// services name their view types once (`services::views::Wire`), and every frame is still
/// one `ServerFrame`.
pub trait Views {
    /// A `message` frame's body (`services::views::MessageView`).
    type Message: Serialize;
    /// The `conversation` a widget gets.
    type WidgetConversation: Serialize;
    /// The `conversation` the inbox gets (as `GET /api/v1/conversations/{id}`).
    type ConversationSummary: Serialize;
    /// One entry of `triggers`.
    type Trigger: Serialize;
    /// What `welcome` says the server knows of the visitor.
    type WidgetVisitor: Serialize;
    /// `welcome`'s `business_hours` when the account has business hours.
    type BusinessHours: Serialize;

    /// The conversation a message belongs to (a widget follows the one it last got).
    fn message_conversation(message: &Self::Message) -> ConversationId;
}

/// No view at all: the frames built inside `realtime` (`status`, `agent_status`).
#[derive(Debug)]
pub enum NoViews {}

impl Serialize for NoViews {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        match *self {}
    }
}

impl Views for NoViews {
    type Message = NoViews;
    type WidgetConversation = NoViews;
    type ConversationSummary = NoViews;
    type Trigger = NoViews;
    type WidgetVisitor = NoViews;
    type BusinessHours = NoViews;

    fn message_conversation(message: &NoViews) -> ConversationId {
        match *message {}
    }
}

/// Who is typing: `{kind, name?}`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Author<'a> {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
}

impl<'a> Author<'a> {
    pub fn visitor() -> Self {
        Self {
            kind: "visitor",
            name: None,
        }
    }

    pub fn agent(name: &'a str) -> Self {
        Self {
            kind: "agent",
            name: Some(name),
        }
    }

    pub fn bot(name: &'a str) -> Self {
        Self {
            kind: "bot",
            name: Some(name),
        }
    }
}

/// Every frame the server sends, to widgets (`/ws/widget`) and to inboxes (`/ws/agent`), as
/// docs/protocol.md lists them. Built from what the services return after their commit,
/// serialised once (`hub::encode`), and told apart by its variant (`kind`), never by its text.
/// Variants borrow: a frame is serialised at once, so nothing is cloned for it.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", bound(serialize = ""))]
pub enum ServerFrame<'a, V: Views> {
    /// The answer to `hello`.
    Welcome {
        visitor_token: &'a str,
        conversation: Option<&'a V::WidgetConversation>,
        messages: &'a [V::Message],
        reset: bool,
        visitor: &'a V::WidgetVisitor,
        verified: bool,
        business_hours: Option<&'a V::BusinessHours>,
        online: bool,
        triggers: &'a [V::Trigger],
        widget: &'a Value,
    },
    /// A message as the widget gets it.
    Message(&'a V::Message),
    /// A message as the inbox gets it: `{conversation_id, message}`.
    #[serde(rename = "message")]
    AgentMessage {
        conversation_id: ConversationId,
        message: &'a V::Message,
    },
    /// A message is stored (sent only after its commit).
    Ack {
        client_id: &'a str,
        id: uuid::Uuid,
        seq: i64,
        conversation_id: uuid::Uuid,
    },
    /// An agent or a bot is typing, to the widget.
    Typing { author: Author<'a>, on: bool },
    /// The visitor is typing, to the inbox.
    #[serde(rename = "typing")]
    VisitorTyping {
        conversation_id: Option<ConversationId>,
        visitor_id: VisitorId,
        author: Author<'a>,
        on: bool,
    },
    /// A conversation's new state, as its widget sees it.
    Conversation(&'a V::WidgetConversation),
    /// A conversation's new state, as the inbox sees it.
    #[serde(rename = "conversation")]
    ConversationSummary(&'a V::ConversationSummary),
    /// The flows the visitor may trigger now (after every `page`).
    Triggers { triggers: &'a [V::Trigger] },
    /// Whether an agent is online.
    Status { online: bool },
    /// The answer to an `identify` with a valid identity (`verified` is always true).
    Identity {
        verified: bool,
        visitor_token: &'a str,
        reconnect: bool,
    },
    /// A transcript is queued for `email`.
    TranscriptQueued {
        email: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// Something went wrong; the socket stays open.
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// An `error` after which the widget socket closes with 1008 `blocked` (`blocked`,
    /// `visitor_erased`).
    #[serde(rename = "error")]
    Closing { code: &'a str, message: &'a str },
    /// A visitor arrived, moved, identified or left (to the inbox).
    Visitor {
        id: uuid::Uuid,
        name: Option<&'a str>,
        email: Option<&'a str>,
        verified: bool,
        online: bool,
        url: Option<&'a str>,
        title: Option<&'a str>,
    },
    /// A colleague's status changed (`online`, `away`, `offline`), to the inbox.
    AgentStatus { user_id: UserId, status: &'a str },
}

impl<V: Views> ServerFrame<'_, V> {
    /// What the sockets forwarding this frame need to know of it.
    pub fn kind(&self) -> FrameKind {
        match self {
            Self::Message(message) => FrameKind::Message(V::message_conversation(message)),
            Self::AgentMessage {
                conversation_id, ..
            } => FrameKind::Message(*conversation_id),
            Self::Closing { .. } => FrameKind::Blocked,
            _ => FrameKind::Other,
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

    /// Views as plain JSON, to check the frames' own shape.
    #[derive(Debug)]
    enum JsonViews {}

    impl Views for JsonViews {
        type Message = Value;
        type WidgetConversation = Value;
        type ConversationSummary = Value;
        type Trigger = Value;
        type WidgetVisitor = Value;
        type BusinessHours = Value;

        fn message_conversation(message: &Value) -> ConversationId {
            message["conversation_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| ConversationId::from_uuid(uuid::Uuid::nil()))
        }
    }

    type Frame<'a> = ServerFrame<'a, JsonViews>;

    fn wire(frame: &Frame<'_>) -> Value {
        serde_json::to_value(frame).expect("serialisable")
    }

    #[test]
    fn server_frames_have_their_documented_shape() {
        let id = uuid::Uuid::from_u128(7);
        let conversation = ConversationId::from_uuid(uuid::Uuid::from_u128(9));
        let visitor = VisitorId::from_uuid(uuid::Uuid::from_u128(3));
        let message = serde_json::json!({"id": id, "conversation_id": conversation, "seq": 4,
            "author": {"kind": "agent", "name": "Ann"}, "text": "hi", "at": "2026-12-08T10:00:00Z"});
        assert_eq!(
            serde_json::to_string(&Frame::Ack {
                client_id: "c1",
                id,
                seq: 4,
                conversation_id: conversation.as_uuid(),
            })
            .expect("serialisable"),
            format!(
                r#"{{"type":"ack","client_id":"c1","id":"{id}","seq":4,"conversation_id":"{conversation}"}}"#
            ),
            "ack: type first, then the documented fields in order"
        );
        let mut widget_message = message.clone();
        widget_message["type"] = "message".into();
        assert_eq!(wire(&Frame::Message(&message)), widget_message);
        assert_eq!(
            wire(&Frame::AgentMessage {
                conversation_id: conversation,
                message: &message,
            }),
            serde_json::json!({"type": "message", "conversation_id": conversation, "message": message})
        );
        assert_eq!(
            wire(&Frame::Error {
                code: "empty_text",
                message: "the message is empty",
                client_id: None,
            }),
            serde_json::json!({"type": "error", "code": "empty_text", "message": "the message is empty"}),
            "no client_id key without one"
        );
        assert_eq!(
            wire(&Frame::Closing {
                code: "blocked",
                message: "Chat is not available.",
            }),
            serde_json::json!({"type": "error", "code": "blocked", "message": "Chat is not available."})
        );
        assert_eq!(
            wire(&Frame::Typing {
                author: Author::bot("Helper"),
                on: true,
            }),
            serde_json::json!({"type": "typing", "author": {"kind": "bot", "name": "Helper"}, "on": true})
        );
        assert_eq!(
            wire(&Frame::VisitorTyping {
                conversation_id: None,
                visitor_id: visitor,
                author: Author::visitor(),
                on: false,
            }),
            serde_json::json!({"type": "typing", "conversation_id": null, "visitor_id": visitor,
                "author": {"kind": "visitor"}, "on": false}),
            "the inbox's typing names the conversation, null before there is one"
        );
        assert_eq!(
            wire(&Frame::Visitor {
                id,
                name: None,
                email: Some("a@b.co"),
                verified: false,
                online: true,
                url: Some("https://shop.example.com/"),
                title: None,
            }),
            serde_json::json!({"type": "visitor", "id": id, "name": null, "email": "a@b.co",
                "verified": false, "online": true, "url": "https://shop.example.com/", "title": null}),
            "a visitor frame always carries every field"
        );
        assert_eq!(
            wire(&Frame::TranscriptQueued {
                email: "a@b.co",
                client_id: Some("t1"),
            }),
            serde_json::json!({"type": "transcript_queued", "email": "a@b.co", "client_id": "t1"})
        );
        let user = UserId::from_uuid(id);
        assert_eq!(
            wire(&Frame::AgentStatus {
                user_id: user,
                status: "away",
            }),
            serde_json::json!({"type": "agent_status", "user_id": user, "status": "away"})
        );
        assert_eq!(
            wire(&Frame::Status { online: true }),
            serde_json::json!({"type": "status", "online": true})
        );
        assert_eq!(
            wire(&Frame::Identity {
                verified: true,
                visitor_token: "vt",
                reconnect: false,
            }),
            serde_json::json!({"type": "identity", "verified": true, "visitor_token": "vt", "reconnect": false})
        );
        let conversation_view = serde_json::json!({"id": conversation, "status": "open"});
        assert_eq!(
            wire(&Frame::ConversationSummary(&conversation_view)),
            serde_json::json!({"type": "conversation", "id": conversation, "status": "open"})
        );
        let trigger = serde_json::json!({"flow_id": id, "when": {"delay": 5}});
        let look = serde_json::json!({"color": "#123456"});
        let visitor_view = serde_json::json!({});
        assert_eq!(
            wire(&Frame::Welcome {
                visitor_token: "vt",
                conversation: None,
                messages: std::slice::from_ref(&message),
                reset: false,
                visitor: &visitor_view,
                verified: false,
                business_hours: None,
                online: true,
                triggers: std::slice::from_ref(&trigger),
                widget: &look,
            }),
            serde_json::json!({"type": "welcome", "visitor_token": "vt", "conversation": null,
                "messages": [message], "reset": false, "visitor": {}, "verified": false,
                "business_hours": null, "online": true, "triggers": [trigger], "widget": look}),
            "welcome carries null conversation and business hours rather than leaving them out"
        );
    }

    #[test]
    fn a_frame_says_what_it_is_by_its_variant() {
        let conversation = ConversationId::from_uuid(uuid::Uuid::from_u128(9));
        let message = serde_json::json!({"conversation_id": conversation});
        assert_eq!(
            Frame::Message(&message).kind(),
            FrameKind::Message(conversation)
        );
        assert_eq!(
            Frame::AgentMessage {
                conversation_id: conversation,
                message: &message,
            }
            .kind(),
            FrameKind::Message(conversation)
        );
        let closing = Frame::Closing {
            code: "visitor_erased",
            message: "This chat was erased.",
        };
        assert_eq!(closing.kind(), FrameKind::Blocked);
        let error = Frame::Error {
            code: "blocked",
            message: "Chat is not available.",
            client_id: None,
        };
        assert_eq!(
            error.kind(),
            FrameKind::Other,
            "an error frame does not close the socket, whatever its code"
        );
        assert_eq!(Frame::Status { online: false }.kind(), FrameKind::Other);
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
