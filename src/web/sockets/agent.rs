//! One inbox socket: pushes the account's committed events to a signed-in user and relays the
//! agent's typing to the visitor. Same shape as the widget socket.

use super::widget::{
    CLIENT_TIMEOUT, HEARTBEAT_INTERVAL, MAX_FRAME_BYTES, SEND_TIMEOUT, frame_limiter, shutting_down,
};
use crate::realtime::{
    hub::{Frame, encode},
    protocol::{AgentFrame, Author},
};
use crate::{
    domain::ids::ConversationId,
    services::{self, Actor, Context, views::ServerFrame},
};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use std::{sync::Arc, time::Instant};
use tokio::sync::broadcast::{self, error::RecvError};

/// How often an open inbox socket re-checks that its user still exists and is active, so a
/// deactivated user stops receiving the account's conversations within this time.
const REAUTHORISE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Who the socket is for: an agent's inbox (present, online or away), or a supervisor's
/// page watching the account's events (`?watch=1`: no presence, no conversations routed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Online,
    Away,
    Watching,
}

/// Serves one inbox socket until it closes.
pub async fn run(
    ctx: Arc<Context>,
    actor: Actor,
    presence: Presence,
    mut session: Session,
    stream: actix_ws::MessageStream,
) {
    let _open = ctx.metrics.agent_socket();
    let mut stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let mut events = match presence {
        Presence::Watching => ctx.hub.watch_agents(actor.account_id),
        Presence::Online | Presence::Away => join(&ctx, &actor, presence == Presence::Online).await,
    };
    let limiter = frame_limiter();
    let mut last_heard = Instant::now();
    let mut last_checked = Instant::now();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let reason: Option<CloseReason> = loop {
        tokio::select! {
            incoming = stream.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        let reply = if limiter.check().is_err() {
                            Some(("rate_limited", "too many frames".to_owned()))
                        } else {
                            handle(&ctx, &actor, &text).await
                        };
                        if let Some((code, message)) = reply
                            && let Some(frame) = encode(&ServerFrame::Error { code, message: &message, client_id: None })
                            && session.text(frame.text()).await.is_err()
                        {
                            break None;
                        }
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() { break None; }
                    }
                    Some(Ok(AggregatedMessage::Pong(_) | AggregatedMessage::Binary(_))) => {}
                    Some(Ok(AggregatedMessage::Close(reason))) => break reason,
                    Some(Err(error)) => break Some(super::frame_limit::close_reason(&error)),
                    None => break None,
                }
            }
            event = events.recv() => match event {
                Ok(frame) => {
                    if send(&mut session, frame).await.is_err() { break None; }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "agent socket lagged; asking it to reload");
                    break Some(CloseReason { code: CloseCode::Again, description: Some("lagged; reconnect".to_owned()) });
                }
                // The hub replaced its channels (Redis came back): reload from the database.
                Err(RecvError::Closed) => break Some(CloseReason { code: CloseCode::Restart, description: Some("reconnect".to_owned()) }),
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    break Some(CloseReason { code: CloseCode::Away, description: Some("heartbeat timeout".to_owned()) });
                }
                if last_checked.elapsed() > REAUTHORISE_EVERY {
                    last_checked = Instant::now();
                    if !matches!(services::users::session_actor(&ctx, actor.user_id).await, Ok(Some(_))) {
                        break Some(CloseReason { code: CloseCode::Policy, description: Some("signed out".to_owned()) });
                    }
                }
                if session.ping(b"").await.is_err() { break None; }
            }
            () = ctx.hub.closing() => break Some(shutting_down()),
        }
    };
    if presence != Presence::Watching {
        leave(&ctx, &actor);
    }
    let _ = session.close(reason).await;
}

/// The agent's inbox opened: present (online or away) for routing and colleagues.
async fn join(ctx: &Context, actor: &Actor, online: bool) -> broadcast::Receiver<Frame> {
    let (events, changed) = ctx.hub.join_agent(actor.account_id, actor.user_id, online);
    if changed {
        ctx.hub.announce_online(actor.account_id);
    }
    ctx.hub.announce_agent(
        actor.account_id,
        actor.user_id,
        if online { "online" } else { "away" },
    );
    if online {
        // Conversations waiting in the agent's teams' queues come to them now.
        crate::services::routing::drain_quietly(ctx, actor.account_id, actor.user_id).await;
    }
    events
}

/// The agent's inbox socket closed: offline once their last one has.
fn leave(ctx: &Context, actor: &Actor) {
    if ctx.hub.leave_agent(actor.account_id, actor.user_id) {
        ctx.hub.announce_online(actor.account_id);
    }
    if !ctx.hub.is_agent_connected(actor.account_id, actor.user_id) {
        ctx.hub
            .announce_agent(actor.account_id, actor.user_id, "offline");
    }
}

/// Sends a frame; an inbox that takes nothing for `SEND_TIMEOUT` counts as gone.
async fn send(session: &mut Session, frame: Frame) -> Result<(), actix_ws::Closed> {
    match tokio::time::timeout(SEND_TIMEOUT, session.text(frame.text())).await {
        Ok(result) => result,
        Err(_) => Err(actix_ws::Closed),
    }
}

/// Handles one frame from the inbox; returns an error frame's code and message, if any.
async fn handle(ctx: &Context, actor: &Actor, text: &str) -> Option<(&'static str, String)> {
    let frame = match AgentFrame::decode(text) {
        Ok(frame) => frame,
        Err(error) => {
            let (code, message) = error.describe();
            return Some((code, message));
        }
    };
    match frame {
        AgentFrame::Typing {
            conversation_id,
            on,
        } => {
            match services::conversations::get(
                ctx,
                actor,
                ConversationId::from_uuid(conversation_id),
            )
            .await
            {
                Ok(conversation) => {
                    let typing = ServerFrame::Typing {
                        author: Author::agent(&actor.name),
                        on,
                    };
                    if let Some(frame) = encode(&typing) {
                        ctx.hub.to_visitor(conversation.visitor.id, frame);
                    }
                    None
                }
                Err(_) => Some(("not_found", "no such conversation".to_owned())),
            }
        }
    }
}
