//! The chatbot at run time (DESIGN sections 2, 3 and 5): which flows a visitor may see, a
//! flow triggered into a conversation, buttons clicked and questions answered, handover and
//! end, and the outcome of every run.
//!
//! The server has the last word: eligibility is checked again on `trigger`, and every change
//! happens in one transaction under the visitor's and the conversation's row locks, so a
//! double click, two tabs or an agent writing at the same instant see one consistent run.
//! Fan-out happens after commit.
//!
//! Counting (rules 2 and 3): the first interaction of a conversation records it once in
//! `chatbot_conversations` (primary key: the conversation) and labels it "Joined by chatbot",
//! in the same transaction as the click. (Billing makes the same step consume the limit.)
//!
//! By job: `eligibility` (who may get which flow now), `runs` (starting and ending flow runs,
//! counting, outcomes), `steps` (carrying out a step: buttons, collected answers, handover).
//! This module keeps what they share and the public API.

mod eligibility;
mod runs;
mod steps;

pub use eligibility::{TriggerView, triggers};
pub(crate) use runs::{after_agent_reply, after_resolved, end_conversation, start_flow_in};
pub use runs::{record_interaction, transfer_to_flow, trigger};
pub use steps::choose;
pub(crate) use steps::{after_visitor_text, hand_to_people};

use super::{
    Context, ServiceError,
    conversations::{publish_conversation, publish_message},
    views::MessageView,
    visitors::publish_visitor,
};
use crate::{
    domain::{
        flow::FlowDefinition,
        ids::{AccountId, FlowId, VisitorId},
    },
    storage::{
        self,
        entities::{conversation, visitor},
    },
};

/// The agents' note when a first click found no chatbot conversation left (rule 8).
pub const LIMIT_REACHED_NOTE: &str = "Chatbot limit reached";
/// What the visitor reads then: no error, just the handover.
pub(crate) const LIMIT_REACHED_VISITOR_TEXT: &str = "Connecting you to our team.";

fn refused(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.to_owned(),
    }
}

struct StoredFlow {
    id: FlowId,
    definition: FlowDefinition,
}

fn parse_flow(row: storage::entities::flow::Model) -> Option<StoredFlow> {
    match serde_json::from_str(&row.definition) {
        Ok(definition) => Some(StoredFlow {
            id: FlowId::from_uuid(row.id),
            definition,
        }),
        Err(error) => {
            tracing::warn!(%error, flow_id = %row.id, "a stored flow does not parse; skipped");
            None
        }
    }
}

/// What a bot step changed; published after commit.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) messages: Vec<MessageView>,
    pub(crate) visitor: Option<visitor::Model>,
    pub(crate) conversation: Option<conversation::Model>,
    /// A chatbot conversation was counted (for the metrics, once committed).
    pub(crate) counted: bool,
    /// External bots' events to send and typing to show, once committed.
    pub(crate) bots: super::bots::runtime::AfterCommit,
}

impl Effects {
    /// Sends the committed changes to the visitor's widgets and the account's agents.
    pub(crate) async fn publish(self, ctx: &Context, account_id: AccountId, visitor_id: VisitorId) {
        if self.counted {
            ctx.metrics.chatbot_conversation_counted();
        }
        self.bots.publish(ctx);
        for message in &self.messages {
            publish_message(ctx, account_id, visitor_id, message);
        }
        if let Some(row) = &self.visitor {
            publish_visitor(ctx, row, true);
        }
        // Boxed: most messages have no bot effects, and inline this step's future would sit
        // in every message's state.
        if let Some(row) = &self.conversation {
            Box::pin(publish_conversation(ctx, row)).await;
        }
    }

    pub(crate) fn changed(&mut self, row: conversation::Model) {
        self.conversation = Some(row);
    }
}
