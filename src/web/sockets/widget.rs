//! One widget socket: a task that selects over the visitor's frames, the hub's frames for this
//! visitor and a heartbeat. A failed send means the visitor left; nothing here panics.
//!
//! Most widgets sit idle for minutes, so the task keeps little between frames (bench S1): the
//! hub's frames come through one `Mailbox`, and whatever runs only now and then (a service
//! call, a send, the hello deadline) is boxed, so it takes memory only while it runs.

use crate::realtime::{
    hub::{Frame, FrameKind, Mailbox, encode},
    protocol::{Author, DecodeError, WidgetFrame},
};
use crate::{
    domain::{
        blocking::address_text,
        conversation::{MessageText, TextProblem},
        ids::{AccountId, ConversationId, FlowId, VisitorId},
        visitor::Page,
    },
    services::{
        self, Context, ServiceError,
        conversations::Posted,
        identity::Identified,
        views::ServerFrame,
        visitors::{HelloInput, IdentifyInput},
    },
};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::{
    net::IpAddr,
    num::NonZeroU32,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{sync::broadcast::error::RecvError, time::Sleep};

/// Largest message accepted (one frame, or a fragmented message in all); a chat message of
/// 5,000 characters is far below it. A header declaring more closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// How often the server pings.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A socket silent this long (no frame, no pong) is dropped: three missed heartbeats.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// A peer that has not taken a frame in this long stopped reading: drop it, so a stuck socket
/// cannot keep a visitor (or an agent) counted as present.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The first frame must be `hello` within this time.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// While connected, the visitor counts as present; refresh "last seen" this often so the
/// inactivity job (30 minutes by default) never resolves a conversation of a visitor still here.
const PRESENCE_REFRESH: Duration = Duration::from_secs(300);
/// Frames per second a widget may send on average, and the burst it may send at once. A person
/// types far slower; a reconnecting outbox may flush a burst.
const FRAMES_PER_SECOND: u32 = 20;
const FRAME_BURST: u32 = 40;

/// How a socket closes when its node shuts down: 1012 (service restart), so the client
/// reconnects at once, to another node behind the load balancer.
pub fn shutting_down() -> CloseReason {
    CloseReason {
        code: CloseCode::Restart,
        description: Some("server restarting".to_owned()),
    }
}

/// The per-connection frame budget.
pub fn frame_limiter() -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(FRAMES_PER_SECOND).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(FRAME_BURST).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

/// A deadline that may be gone (after `hello`): pending forever then.
async fn until(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(deadline) => deadline.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The socket's own frames once it joined (after `hello`): pending forever before.
async fn recv_mailbox(mailbox: Option<&Mailbox>) -> Result<Frame, RecvError> {
    match mailbox {
        Some(mailbox) => mailbox.recv().await,
        None => std::future::pending().await,
    }
}

/// After `hello`: who this socket belongs to.
struct Joined {
    visitor_id: VisitorId,
    conversation_id: Option<ConversationId>,
}

struct Connection {
    ctx: Arc<Context>,
    account_id: AccountId,
    /// The widget's look, until the welcome carries it (then `Null`).
    widget: serde_json::Value,
    /// The peer address (never a forwarded header: docs/decisions.md), for blocking by IP.
    ip: Option<IpAddr>,
    session: Session,
    joined: Option<Joined>,
    /// Frames for this visitor and for every widget of the account (after `hello`).
    own: Option<Arc<Mailbox>>,
}

/// What the loop does after handling a frame.
enum Next {
    Continue,
    Close(Option<CloseReason>),
}

fn closing(code: CloseCode, description: &str) -> Next {
    Next::Close(Some(CloseReason {
        code,
        description: Some(description.to_owned()),
    }))
}

/// Serves one widget socket until it closes.
pub async fn run(
    ctx: Arc<Context>,
    account_id: AccountId,
    widget: serde_json::Value,
    ip: Option<IpAddr>,
    session: Session,
    stream: actix_ws::MessageStream,
) {
    let _open = ctx.metrics.widget_socket();
    let mut stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let mut connection = Connection {
        ctx,
        account_id,
        widget,
        ip,
        session,
        joined: None,
        own: None,
    };
    let limiter = frame_limiter();
    let started = Instant::now();
    let mut last_heard = Instant::now();
    let mut last_presence = Instant::now();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    // Boxed, and dropped once the widget said hello.
    let mut hello_deadline = Some(Box::pin(tokio::time::sleep(HELLO_TIMEOUT)));
    let ctx = connection.ctx.clone();

    let reason = loop {
        let next = tokio::select! {
            incoming = stream.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        // Boxed: the services' futures are large, and inline they would
                        // make every idle socket's task as large as the largest of them
                        // (bench S1 measures the memory of idle widgets).
                        if limiter.check().is_err() {
                            Box::pin(connection.rate_limited(&text)).await
                        } else {
                            Box::pin(connection.handle_text(&text)).await
                        }
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        Box::pin(connection.error("malformed_frame", "frames are JSON text", None)).await
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if Box::pin(connection.session.pong(&bytes)).await.is_err() { Next::Close(None) } else { Next::Continue }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => Next::Continue,
                    Some(Ok(AggregatedMessage::Close(reason))) => Next::Close(reason),
                    Some(Err(error)) => Next::Close(Some(super::frame_limit::close_reason(&error))),
                    None => Next::Close(None),
                }
            }
            frame = recv_mailbox(connection.own.as_deref()) => {
                Box::pin(connection.forward(frame)).await
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    closing(CloseCode::Away, "heartbeat timeout")
                } else if Box::pin(connection.session.ping(b"")).await.is_err() {
                    Next::Close(None)
                } else {
                    if last_presence.elapsed() > PRESENCE_REFRESH
                        && let Some(joined) = &connection.joined
                    {
                        last_presence = Instant::now();
                        if let Err(error) = Box::pin(services::visitors::seen(&connection.ctx, joined.visitor_id)).await {
                            tracing::warn!(?error, "cannot refresh visitor presence");
                        }
                    }
                    Next::Continue
                }
            }
            () = until(&mut hello_deadline) => closing(CloseCode::Policy, "no hello"),
            () = ctx.hub.closing() => Next::Close(Some(shutting_down())),
        };
        if let Next::Close(reason) = next {
            break reason;
        }
        if connection.joined.is_some() {
            hello_deadline = None;
        }
    };
    Box::pin(connection.leave()).await;
    tracing::debug!(elapsed = ?started.elapsed(), ?reason, "widget socket closed");
    let _ = Box::pin(connection.session.close(reason)).await;
}

impl Connection {
    async fn send(&mut self, frame: &ServerFrame<'_>) -> Next {
        match encode(frame) {
            Some(text) => self.send_text(text).await,
            None => Next::Continue,
        }
    }

    async fn send_text(&mut self, frame: Frame) -> Next {
        match tokio::time::timeout(SEND_TIMEOUT, self.session.text(frame.text())).await {
            Ok(Ok(())) => Next::Continue,
            Ok(Err(_)) => Next::Close(None),
            Err(_) => closing(CloseCode::Away, "not reading"),
        }
    }

    async fn error(&mut self, code: &str, message: &str, client_id: Option<&str>) -> Next {
        self.send(&ServerFrame::Error {
            code,
            message,
            client_id,
        })
        .await
    }

    async fn rate_limited(&mut self, text: &str) -> Next {
        let client_id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| {
                v.get("client_id")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            });
        self.error(
            "rate_limited",
            "too many frames; slow down and resend",
            client_id.as_deref(),
        )
        .await
    }

    /// Forwards a hub frame; a lagging socket is closed so the widget resumes from the database.
    async fn forward(&mut self, frame: Result<Frame, RecvError>) -> Next {
        match frame {
            Ok(frame) => match frame.kind() {
                FrameKind::Blocked => self.blocked(frame).await,
                FrameKind::Message(conversation_id) => {
                    // A new conversation may have started: this socket now follows it.
                    if let Some(joined) = self.joined.as_mut() {
                        joined.conversation_id = Some(conversation_id);
                    }
                    self.send_text(frame).await
                }
                FrameKind::Other => self.send_text(frame).await,
            },
            Err(RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "widget socket lagged; asking it to resume");
                closing(CloseCode::Again, "lagged; reconnect and resume")
            }
            Err(RecvError::Closed) => closing(CloseCode::Restart, "reconnect"),
        }
    }

    /// A blocked visitor: say so, then close (the widget stops reconnecting).
    async fn blocked(&mut self, frame: Frame) -> Next {
        match self.send_text(frame).await {
            Next::Continue => closing(CloseCode::Policy, "blocked"),
            closed => closed,
        }
    }

    async fn leave(&mut self) {
        if let Some(joined) = self.joined.take()
            && let Some(own) = self.own.take()
            && self
                .ctx
                .hub
                .leave_visitor(self.account_id, joined.visitor_id, &own)
            && let Err(error) =
                services::visitors::left(&self.ctx, self.account_id, joined.visitor_id).await
        {
            tracing::warn!(?error, "cannot record that a visitor left");
        }
    }

    /// Each service's future is boxed: inline, every one of them would sit in this future's
    /// state (over 20 KB), which is itself boxed and moved for every frame a socket reads.
    async fn handle_text(&mut self, text: &str) -> Next {
        let frame = match WidgetFrame::decode(text) {
            Ok(frame) => frame,
            Err(error) => {
                let (code, message) = error.describe();
                let client_id = match &error {
                    DecodeError::Invalid { client_id, .. } => client_id.clone(),
                    _ => None,
                };
                return self.error(code, &message, client_id.as_deref()).await;
            }
        };
        let Some(joined) = &self.joined else {
            return match frame {
                WidgetFrame::Hello(hello) => Box::pin(self.hello(hello)).await,
                _ => self.error("hello_required", "send hello first", None).await,
            };
        };
        let visitor_id = joined.visitor_id;
        let conversation_id = joined.conversation_id;
        let ctx = self.ctx.clone();
        match frame {
            WidgetFrame::Hello(_) => {
                self.error("invalid_frame", "hello was already sent", None)
                    .await
            }
            WidgetFrame::Message {
                client_id,
                text,
                attachments,
            } => {
                let max = ctx.settings.max_message_chars;
                let parsed = if attachments.is_empty() {
                    MessageText::parse(&text, max)
                } else {
                    MessageText::parse_beside_files(&text, max)
                };
                match parsed {
                    Err(TextProblem::Empty) => {
                        self.error("empty_text", "the message is empty", Some(&client_id))
                            .await
                    }
                    Err(TextProblem::TooLong) => {
                        let message = format!("messages are at most {max} characters");
                        self.error("text_too_long", &message, Some(&client_id))
                            .await
                    }
                    Ok(_) => {
                        let result = Box::pin(crate::metrics::from_visitor_frame(
                            services::conversations::post_visitor_message(
                                &ctx,
                                self.account_id,
                                visitor_id,
                                &client_id,
                                &text,
                                &attachments,
                            ),
                        ))
                        .await;
                        self.acknowledge(&client_id, result).await
                    }
                }
            }
            WidgetFrame::Choose {
                client_id,
                button_id,
                step_id,
            } => {
                let result = Box::pin(services::chatbot::choose(
                    &ctx,
                    self.account_id,
                    visitor_id,
                    &client_id,
                    &button_id,
                    step_id.as_deref(),
                ))
                .await;
                self.acknowledge(&client_id, result).await
            }
            WidgetFrame::Typing { on } => {
                if let Some(frame) = encode(&ServerFrame::VisitorTyping {
                    conversation_id,
                    visitor_id,
                    author: Author::visitor(),
                    on,
                }) {
                    ctx.hub.to_agents(self.account_id, frame);
                }
                Next::Continue
            }
            WidgetFrame::Page(page) => {
                match Page::parse(&page.url, page.title.as_deref(), page.referrer.as_deref()) {
                    Ok(page) => {
                        let result = Box::pin(services::visitors::page(
                            &ctx,
                            self.account_id,
                            visitor_id,
                            page,
                        ))
                        .await;
                        if let Next::Close(reason) = self.after(result, None).await {
                            return Next::Close(reason);
                        }
                        // A new page may make other flows eligible (or none).
                        let triggers = Box::pin(self.triggers(visitor_id)).await;
                        self.send(&ServerFrame::Triggers {
                            triggers: &triggers,
                        })
                        .await
                    }
                    Err(error) => self.error("invalid_frame", &error.to_string(), None).await,
                }
            }
            WidgetFrame::Identify(identify) => {
                let result = Box::pin(services::identity::identify(
                    &ctx,
                    self.account_id,
                    visitor_id,
                    IdentifyInput {
                        name: identify.name,
                        email: identify.email,
                        phone: identify.phone,
                        variables: identify.variables,
                        group: identify.group,
                    },
                    identify.identity,
                ))
                .await;
                match result {
                    Ok(Identified::Verified {
                        visitor_token,
                        reconnect,
                    }) => {
                        let frame = ServerFrame::Identity {
                            verified: true,
                            visitor_token: &visitor_token,
                            reconnect,
                        };
                        self.send(&frame).await
                    }
                    Ok(Identified::Done) => Next::Continue,
                    Err(error) => self.after(Err(error), None).await,
                }
            }
            WidgetFrame::Event { .. } => Next::Continue,
            WidgetFrame::Trigger { flow_id } => match flow_id.parse::<FlowId>() {
                Ok(flow_id) => {
                    let result = Box::pin(services::chatbot::trigger(
                        &ctx,
                        self.account_id,
                        visitor_id,
                        flow_id,
                    ))
                    .await;
                    self.after(result, None).await
                }
                Err(_) => {
                    self.error("not_eligible", "flow_id is not a flow's id", None)
                        .await
                }
            },
            WidgetFrame::Open | WidgetFrame::Close => {
                let result = Box::pin(services::visitors::seen(&ctx, visitor_id)).await;
                self.after(result, None).await
            }
            WidgetFrame::Rate {
                value,
                comment,
                conversation_id,
            } => {
                let named = conversation_id.map(ConversationId::from_uuid);
                let result = Box::pin(services::visitors::rate(
                    &ctx,
                    self.account_id,
                    visitor_id,
                    named,
                    value,
                    comment,
                ))
                .await;
                match result {
                    Err(ServiceError::NotFound) => {
                        self.error("no_conversation", "there is no conversation to rate", None)
                            .await
                    }
                    Err(ServiceError::Invalid(_)) => {
                        self.error(
                            "invalid_rating",
                            "a rating is a whole number from 1 to 5",
                            None,
                        )
                        .await
                    }
                    other => self.after(other, None).await,
                }
            }
            WidgetFrame::OfflineMessage {
                client_id,
                name,
                email,
                text,
            } => {
                let result = Box::pin(services::visitors::offline_message(
                    &ctx,
                    self.account_id,
                    visitor_id,
                    &client_id,
                    name.as_deref(),
                    &email,
                    &text,
                ))
                .await;
                self.acknowledge(&client_id, result).await
            }
            WidgetFrame::TranscriptRequest {
                email,
                client_id,
                conversation_id,
            } => {
                let client_id = client_id.as_deref();
                let named = conversation_id.map(ConversationId::from_uuid);
                let result = Box::pin(services::email::request_transcript(
                    &ctx,
                    self.account_id,
                    visitor_id,
                    named,
                    &email,
                ))
                .await;
                match result {
                    Ok(()) => {
                        self.send(&ServerFrame::TranscriptQueued {
                            email: email.trim(),
                            client_id,
                        })
                        .await
                    }
                    Err(ServiceError::NotFound) => {
                        self.error(
                            "no_conversation",
                            "there is no conversation to send",
                            client_id,
                        )
                        .await
                    }
                    other => self.after(other, client_id).await,
                }
            }
        }
    }

    async fn hello(&mut self, hello: crate::realtime::protocol::Hello) -> Next {
        let resume_seq = hello.last_seq.unwrap_or(0);
        let page = hello.page.as_ref().and_then(|page| {
            Page::parse(&page.url, page.title.as_deref(), page.referrer.as_deref()).ok()
        });
        let result = services::visitors::hello(
            &self.ctx,
            self.account_id,
            HelloInput {
                visitor_token: hello.visitor_token,
                conversation_id: hello.conversation_id.map(ConversationId::from_uuid),
                last_seq: hello.last_seq,
                page,
                language: hello.language,
                device: hello.device,
                ip: self.ip.map(address_text),
                identity: hello.identity,
            },
        )
        .await;
        let welcome = match result {
            Ok(welcome) => welcome,
            Err(ServiceError::Refused {
                code: services::blocking::BLOCKED_CODE,
                ..
            }) => match services::blocking::blocked_frame() {
                Some(frame) => return self.blocked(frame).await,
                None => return closing(CloseCode::Policy, "blocked"),
            },
            Err(error) => return self.after(Err(error), None).await,
        };
        let (own, _) = self
            .ctx
            .hub
            .join_visitor(self.account_id, welcome.visitor_id);
        self.joined = Some(Joined {
            visitor_id: welcome.visitor_id,
            conversation_id: welcome.conversation.as_ref().map(|c| c.id),
        });
        self.own = Some(own);
        let held = welcome.conversation.as_ref().map(|c| c.id);
        let last_seq = welcome.messages.last().map(|m| m.seq).unwrap_or(resume_seq);
        let online = self.ctx.hub.agents_online(self.account_id);
        // The look goes out once, in the welcome: an idle socket keeps none of it.
        let look = std::mem::take(&mut self.widget);
        let triggers = self.triggers(welcome.visitor_id).await;
        let frame = ServerFrame::Welcome {
            visitor_token: &welcome.visitor_token,
            conversation: welcome.conversation.as_ref(),
            messages: &welcome.messages,
            reset: welcome.reset,
            visitor: &welcome.visitor,
            verified: welcome.verified,
            business_hours: welcome.business_hours.as_ref(),
            online,
            triggers: &triggers,
            widget: &look,
        };
        if let Next::Close(reason) = self.send(&frame).await {
            return Next::Close(reason);
        }
        if let Some(refused) = welcome.identity_refused
            && let Next::Close(reason) = self.after(Err(refused), None).await
        {
            return Next::Close(reason);
        }
        // The welcome holds one page. The rest of what the widget missed follows as `message`
        // frames, page after page, however many there are; the last read also covers a
        // message committed between reading the backlog and subscribing (the widget drops
        // ids it already has).
        let (mut held, mut last_seq) = (held, last_seq);
        loop {
            let page = services::visitors::catch_up(
                &self.ctx,
                self.account_id,
                welcome.visitor_id,
                held,
                last_seq,
            )
            .await;
            let (conversation, missed) = match page {
                Ok(page) => page,
                Err(error) => return self.after(Err(error), None).await,
            };
            let full = missed.len() as u64 >= services::conversations::MAX_MESSAGES_PAGE;
            for message in &missed {
                if let Some(text) = encode(&ServerFrame::Message(message))
                    && let Next::Close(reason) = self.send_text(text).await
                {
                    return Next::Close(reason);
                }
            }
            if conversation != held {
                // A newer conversation started meanwhile: its messages from the start.
                held = conversation;
                last_seq = missed.last().map(|m| m.seq).unwrap_or(0);
                continue;
            }
            match missed.last() {
                Some(last) if full => last_seq = last.seq,
                _ => return Next::Continue,
            }
        }
    }

    /// The flows this visitor may fire now; none when that cannot be worked out (logged).
    async fn triggers(&self, visitor_id: VisitorId) -> Vec<services::chatbot::TriggerView> {
        services::chatbot::triggers(&self.ctx, self.account_id, visitor_id)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(?error, "cannot work out the eligible flows");
                Vec::new()
            })
    }

    /// Answers a stored message with `ack` (only now is it durable), or an error frame.
    async fn acknowledge(&mut self, client_id: &str, result: Result<Posted, ServiceError>) -> Next {
        match result {
            Ok(posted) => {
                if let Some(joined) = self.joined.as_mut() {
                    joined.conversation_id = Some(posted.message.conversation_id);
                }
                let message = &posted.message;
                self.send(&ServerFrame::Ack {
                    client_id,
                    id: message.id.as_uuid(),
                    seq: message.seq,
                    conversation_id: message.conversation_id.as_uuid(),
                })
                .await
            }
            Err(error) => self.after(Err(error), Some(client_id)).await,
        }
    }

    /// Turns a service failure into an error frame; the socket stays open.
    async fn after(&mut self, result: Result<(), ServiceError>, client_id: Option<&str>) -> Next {
        match result {
            Ok(()) => Next::Continue,
            Err(ServiceError::Invalid(fields)) => {
                let code = if fields.iter().any(|f| f.field == "email") {
                    "invalid_email"
                } else if fields.iter().any(|f| f.field == "attachments") {
                    "invalid_attachment"
                } else {
                    "invalid_frame"
                };
                let message = fields
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                self.error(code, &message, client_id).await
            }
            Err(ServiceError::Refused { code, message }) => {
                self.error(code, &message, client_id).await
            }
            Err(ServiceError::Busy | ServiceError::Conflict(_)) => {
                self.error("internal", "busy; resend shortly", client_id)
                    .await
            }
            Err(ServiceError::Unexpected(cause)) => {
                crate::error::log_unexpected(&cause);
                self.error(
                    "internal",
                    "something went wrong on our side; resend shortly",
                    client_id,
                )
                .await
            }
            Err(other) => {
                tracing::warn!(?other, "widget request refused");
                self.error("invalid_frame", "this request was refused", client_id)
                    .await
            }
        }
    }
}
