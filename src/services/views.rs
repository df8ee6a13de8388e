//! What conversations and messages look like to the widget, the inbox and the REST API.

use crate::{
    domain::conversation::{AuthorKind, ConversationStatus, Handler},
    domain::ids::{ConversationId, MessageId, UserId, VisitorId},
    storage::entities::{conversation, message, visitor},
};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Author {
    /// `visitor`, `agent`, `bot` or `system`.
    #[schema(value_type = String)]
    pub kind: AuthorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An external bot's image (its `avatar` when it wrote), shown beside its messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Button {
    pub id: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A message, as the `message` frame and the REST API carry it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    #[schema(value_type = uuid::Uuid)]
    pub id: MessageId,
    #[schema(value_type = uuid::Uuid)]
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub client_id: String,
    pub author: Author,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<Button>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    /// A flow's welcome: the widget shows it as the bubble above the launcher.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub welcome: bool,
    /// An agents-only note; never sent to the visitor.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// The files the message carries, in the order sent (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::attachments::AttachmentView>,
    pub at: DateTime<Utc>,
}

impl From<message::Model> for MessageView {
    fn from(row: message::Model) -> Self {
        Self {
            id: MessageId::from_uuid(row.id),
            conversation_id: ConversationId::from_uuid(row.conversation_id),
            seq: row.seq,
            client_id: row.client_id,
            author: Author {
                kind: row.author_kind,
                name: row.author_name,
                avatar: row.author_avatar,
            },
            text: row.text,
            buttons: row
                .buttons
                .and_then(|json| serde_json::from_str(&json).ok()),
            flow_id: row.flow_id,
            step_id: row.step_id,
            choice: row.choice,
            welcome: row.welcome,
            internal: row.internal,
            attachments: super::attachments::of_message(row.attachments.as_deref()),
            at: row.created_at,
        }
    }
}

/// A conversation as the widget sees it.
#[derive(Clone, Debug, Serialize)]
pub struct WidgetConversation {
    pub id: ConversationId,
    pub status: ConversationStatus,
    pub handler: Handler,
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<i16>,
    /// Waiting in a team's queue for an agent (no agent with free capacity was online).
    pub waiting: bool,
    /// While waiting: whether an agent of the team is online (the team will answer soon)
    /// or none is (the widget offers to leave an email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_online: Option<bool>,
    /// The email the visitor already gave (offline form, a bot's `collect` step, `identify`),
    /// so the widget never asks for it again. Only ever sent to that visitor's own widget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitor_email: Option<String>,
}

/// What the server knows of the visitor, for their own widget (the `welcome` frame's
/// `visitor`): the widget prefills and hides what is known.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WidgetVisitor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl From<&conversation::Model> for WidgetConversation {
    fn from(row: &conversation::Model) -> Self {
        Self {
            id: ConversationId::from_uuid(row.id),
            status: row.status,
            handler: row.handler,
            labels: labels(row),
            rating: row.rating,
            waiting: row.status == ConversationStatus::Open
                && row.handler != Handler::Bot
                && row.assignee_id.is_none()
                && row.queued_at.is_some(),
            team_online: None,
            visitor_email: None,
        }
    }
}

/// The conversation's labels, e.g. `joined_by_chatbot`.
pub fn labels(row: &conversation::Model) -> Vec<String> {
    if row.joined_by_chatbot {
        vec![JOINED_BY_CHATBOT.to_owned()]
    } else {
        Vec::new()
    }
}

/// The stable code of a chatbot outcome, or none for anything else.
pub fn outcome_code(raw: &str) -> Option<&'static str> {
    [
        crate::storage::flow_runs::RESOLVED_BY_CHATBOT,
        crate::storage::flow_runs::ESCALATED_TO_HUMAN,
    ]
    .into_iter()
    .find(|code| *code == raw)
}

/// How the inbox names an outcome.
pub fn outcome_label(code: &str) -> &'static str {
    match code {
        crate::storage::flow_runs::RESOLVED_BY_CHATBOT => "Resolved by chatbot",
        crate::storage::flow_runs::ESCALATED_TO_HUMAN => "Escalated to human",
        _ => "No interaction",
    }
}

/// The label of a conversation in which the visitor interacted with a bot.
pub const JOINED_BY_CHATBOT: &str = "joined_by_chatbot";

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitorRef {
    #[schema(value_type = uuid::Uuid)]
    pub id: VisitorId,
    pub name: Option<String>,
    pub email: Option<String>,
    /// How people see the visitor: the name, else the email, else a readable name generated
    /// from the id ("Amber Otter"; the same everywhere for the same visitor).
    pub display_name: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UserRef {
    #[schema(value_type = uuid::Uuid)]
    pub id: UserId,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LastMessage {
    pub preview: String,
    pub at: DateTime<Utc>,
}

/// A conversation as the inbox and the REST API list it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    #[schema(value_type = uuid::Uuid)]
    pub id: ConversationId,
    /// `open` or `resolved`.
    #[schema(value_type = String)]
    pub status: ConversationStatus,
    /// `bot`, `human` or `none`.
    #[schema(value_type = String)]
    pub handler: Handler,
    pub visitor: VisitorRef,
    pub assignee: Option<UserRef>,
    /// E.g. `joined_by_chatbot`.
    pub labels: Vec<String>,
    pub tags: Vec<String>,
    /// `resolved_by_chatbot`, `escalated_to_human` or null.
    pub outcome: Option<String>,
    /// Whether this conversation used one of the period's chatbot conversations.
    pub chatbot_counted: bool,
    /// Context variables a bot's `handover` step set, e.g. `{"topic": "sales"}`.
    pub context: std::collections::BTreeMap<String, String>,
    /// The team routing chose.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub team_id: Option<uuid::Uuid>,
    /// Waiting in the team's queue since (no agent with free capacity was online).
    pub queued_at: Option<DateTime<Utc>>,
    /// Left through the offline form.
    pub offline: bool,
    /// Visitor messages since an agent last replied.
    pub unread: i32,
    pub last_message: Option<LastMessage>,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl ConversationSummary {
    pub fn new(
        row: conversation::Model,
        visitor: Option<&visitor::Model>,
        assignee: Option<UserRef>,
        tags: Vec<String>,
    ) -> Self {
        let labels = labels(&row);
        Self {
            id: ConversationId::from_uuid(row.id),
            status: row.status,
            handler: row.handler,
            visitor: {
                let name = visitor.and_then(|v| v.name.clone());
                let email = visitor.and_then(|v| v.email.clone());
                VisitorRef {
                    id: VisitorId::from_uuid(row.visitor_id),
                    display_name: display_name(row.visitor_id, name.as_deref(), email.as_deref()),
                    name,
                    email,
                }
            },
            assignee,
            labels,
            tags,
            outcome: row.outcome,
            // Counted and labelled happen in one step until billing can refuse the count.
            chatbot_counted: row.joined_by_chatbot,
            context: serde_json::from_str(&row.context).unwrap_or_default(),
            team_id: row.team_id,
            queued_at: row.queued_at,
            offline: row.offline,
            unread: row.unread_count,
            last_message: match (row.last_message_preview, row.last_message_at) {
                (Some(preview), Some(at)) => Some(LastMessage { preview, at }),
                _ => None,
            },
            rating: row.rating,
            rating_comment: row.rating_comment,
            last_activity_at: row.last_activity_at,
            created_at: row.created_at,
            resolved_at: row.resolved_at,
        }
    }

    /// How the inbox names the visitor.
    pub fn visitor_label(&self) -> String {
        self.visitor.display_name.clone()
    }
}

/// How people see a visitor: the name they gave, else their email, else a readable name
/// generated from their id.
pub fn display_name(id: uuid::Uuid, name: Option<&str>, email: Option<&str>) -> String {
    name.or(email)
        .map(str::to_owned)
        .unwrap_or_else(|| crate::domain::visitor::generated_name(id))
}

/// The services' views as the payloads of `ServerFrame` (the protocol lives in `realtime`,
/// which imports no service).
#[derive(Debug)]
pub enum Wire {}

impl crate::realtime::protocol::Views for Wire {
    type Message = MessageView;
    type WidgetConversation = WidgetConversation;
    type ConversationSummary = ConversationSummary;
    type Trigger = super::chatbot::TriggerView;
    type WidgetVisitor = WidgetVisitor;
    type BusinessHours = super::accounts::HoursNow;

    fn message_conversation(message: &MessageView) -> ConversationId {
        message.conversation_id
    }
}

/// Every frame the server sends, with the services' views (see `realtime::protocol`).
pub type ServerFrame<'a> = crate::realtime::protocol::ServerFrame<'a, Wire>;
