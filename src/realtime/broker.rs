//! The broker: with `FRONTDESK_REDIS_URL`, the nodes of one installation share one Redis pub/sub
//! channel. Every frame the hub sends is delivered here at once and published, tagged with this
//! node's id; every node delivers what the others publish to its own sockets and ignores its
//! own echo. Presence travels the same way: each change as it happens, and each node's whole
//! presence every `HEARTBEAT`, so a node that crashed is forgotten after
//! `hub::REMOTE_PRESENCE_TTL`. When Redis goes away, the subscriber reconnects with backoff,
//! and once subscribed again every socket here replays what it missed from the database by
//! `seq` (`Hub::resync`); publishing never fails a request (the message is committed already).
//! Without Redis none of this runs and the hub stays in-process.

use super::hub::{Frame, FrameKind, Hub, PresenceEffects};
use crate::domain::ids::{AccountId, UserId, VisitorId};
use anyhow::Context as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::mpsc::{self, error::TrySendError},
    time::{Instant, timeout},
};
use uuid::Uuid;

/// A running `frontdesk serve` process.
pub type NodeId = Uuid;

/// What the node does when one of its agents comes online from another node's request (an
/// agent switched to online there while their socket is here): hand them their teams'
/// queued conversations. Given by the wiring, so the broker knows nothing of services.
pub type AgentOnlineHere = Arc<dyn Fn(AccountId, UserId) + Send + Sync>;

/// What the broker's tasks deliver to.
struct Wiring {
    hub: Arc<Hub>,
    agent_online_here: AgentOnlineHere,
}

/// The one channel every node publishes to and listens on.
const CHANNEL: &str = "frontdesk:events";
/// How often a node publishes its whole presence (and checks the others' are fresh).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A subscription that hears nothing for this long, not even this node's own heartbeat, is
/// dead even if its TCP connection looks open (a silent network failure): reconnect.
const SILENCE_LIMIT: Duration = Duration::from_secs(15);
/// Frames waiting for Redis. A busy node publishes a few thousand a second; a longer stall
/// drops frames (logged) and every node replays from the database instead.
const OUTBOX_CAPACITY: usize = 65_536;
/// Frames published in one round trip.
const BATCH: usize = 256;
/// Connecting to Redis, and one round trip, give up after this long.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnect backoff: fast after a blip, at most this slow while Redis stays away.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Which agents and visitors have a socket on one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    /// Account, user, and whether the user is online (not away).
    pub agents: Vec<(AccountId, UserId, bool)>,
    pub visitors: Vec<(AccountId, VisitorId)>,
}

/// What nodes tell each other besides frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// The sender's whole presence (every heartbeat, and when a node asks with `Hello`).
    Presence(Presence),
    /// An agent's sockets on the sender: online or away, or none left (`None`).
    Agent {
        account: AccountId,
        user: UserId,
        online: Option<bool>,
    },
    /// A visitor's first socket opened, or last one closed, on the sender.
    Visitor {
        account: AccountId,
        visitor: VisitorId,
        present: bool,
    },
    /// An agent switched online/away (their sockets may be on any node).
    SetAgentOnline {
        account: AccountId,
        user: UserId,
        online: bool,
    },
    /// The sender (re)subscribed: every node publishes its presence now.
    Hello,
    /// The sender could not publish everything: every node's sockets replay from the database.
    Resync,
}

/// What the hub hands the broker.
#[derive(Debug)]
pub enum Outgoing {
    ToVisitor(VisitorId, Frame),
    ToAgents(AccountId, Frame),
    Control(Control),
}

/// The hub's side of the broker: a bounded queue that never blocks a request.
pub struct Outbox {
    node: NodeId,
    sender: mpsc::Sender<Outgoing>,
    /// Something was not published: the next publish first tells every node to replay.
    lost: AtomicBool,
    /// Whether this node is subscribed to Redis right now.
    subscribed: AtomicBool,
}

impl Outbox {
    pub fn push(&self, message: Outgoing) {
        match self.sender.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if !self.lost.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the Redis outbox is full; dropping frames (the nodes will replay from the database)"
                    );
                }
            }
            Err(TrySendError::Closed(_)) => {
                self.lost.store(true, Ordering::Relaxed);
            }
        }
    }

    pub fn connected(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }
}

/// Starts the publisher, the subscriber and the heartbeat. Redis need not be up yet: the node
/// serves its own sockets meanwhile and `/readyz` says Redis is disconnected.
pub fn start(
    hub: Arc<Hub>,
    redis_url: &str,
    agent_online_here: AgentOnlineHere,
) -> anyhow::Result<()> {
    let ctx = Arc::new(Wiring {
        hub,
        agent_online_here,
    });
    let client = redis::Client::open(redis_url).context("reading redis_url")?;
    let node = Uuid::new_v4();
    let (sender, receiver) = mpsc::channel(OUTBOX_CAPACITY);
    let outbox = Arc::new(Outbox {
        node,
        sender,
        lost: AtomicBool::new(false),
        subscribed: AtomicBool::new(false),
    });
    ctx.hub.attach(outbox.clone());
    tokio::spawn(publish(client.clone(), outbox.clone(), receiver));
    tokio::spawn(subscribe(ctx.clone(), client, outbox));
    tokio::spawn(heartbeat(ctx));
    tracing::info!(%node, "fanning out to the other nodes through Redis");
    Ok(())
}

/// A frame's kind on the target line: `m=<conversation id>`, `b` (blocked) or `o`.
fn kind_token(kind: FrameKind) -> String {
    match kind {
        FrameKind::Message(conversation) => format!("m={conversation}"),
        FrameKind::Blocked => "b".to_owned(),
        FrameKind::Other => "o".to_owned(),
    }
}

fn parse_kind(token: Option<&str>) -> Result<FrameKind, &'static str> {
    match token {
        Some("b") => Ok(FrameKind::Blocked),
        Some("o") | None => Ok(FrameKind::Other),
        Some(token) => match token.strip_prefix("m=") {
            Some(id) => Ok(FrameKind::Message(
                id.parse().map_err(|_| "bad conversation id")?,
            )),
            None => Err("unknown frame kind"),
        },
    }
}

/// The wire form: the sender's id, a target line (with the frame's kind), then the payload (a
/// frame as it goes to the sockets, or a `Control` as JSON). Frames are compact JSON, so they
/// hold no raw newline.
fn encode(node: NodeId, message: &Outgoing) -> Option<String> {
    let node = node.simple();
    match message {
        Outgoing::ToVisitor(visitor, frame) => Some(format!(
            "{node}\nv {visitor} {}\n{}",
            kind_token(frame.kind()),
            frame.as_str()
        )),
        Outgoing::ToAgents(account, frame) => Some(format!(
            "{node}\na {account} {}\n{}",
            kind_token(frame.kind()),
            frame.as_str()
        )),
        Outgoing::Control(control) => match serde_json::to_string(control) {
            Ok(json) => Some(format!("{node}\nc\n{json}")),
            Err(error) => {
                tracing::error!(%error, "cannot serialise a broker message");
                None
            }
        },
    }
}

fn decode(text: &str) -> Result<(NodeId, Outgoing), &'static str> {
    let mut parts = text.splitn(3, '\n');
    let (Some(node), Some(target), Some(payload)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("fewer than three lines");
    };
    let node = node.parse().map_err(|_| "bad node id")?;
    let frame = |kind| parse_kind(kind).map(|kind| Frame::from_parts(payload.to_owned(), kind));
    let mut words = target.split(' ');
    let message = match (words.next(), words.next(), words.next()) {
        (Some("v"), Some(id), kind) => {
            Outgoing::ToVisitor(id.parse().map_err(|_| "bad visitor id")?, frame(kind)?)
        }
        (Some("a"), Some(id), kind) => {
            Outgoing::ToAgents(id.parse().map_err(|_| "bad account id")?, frame(kind)?)
        }
        (Some("c"), None, None) => {
            Outgoing::Control(serde_json::from_str(payload).map_err(|_| "bad control message")?)
        }
        _ => return Err("unknown target"),
    };
    Ok((node, message))
}

/// The next wait of a backoff that doubles up to `BACKOFF_MAX`, with full jitter so that
/// nodes do not reconnect in step.
fn next_backoff(backoff: &mut Duration) -> Duration {
    let wait = backoff.mul_f64(rand::random::<f64>()).max(BACKOFF_MIN);
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    wait
}

/// Publishes the outbox in batches. While Redis is away, frames are dropped (and counted as
/// lost, so that every node replays once this node can publish again).
async fn publish(
    client: redis::Client,
    outbox: Arc<Outbox>,
    mut receiver: mpsc::Receiver<Outgoing>,
) {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT));
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut backoff = BACKOFF_MIN;
    let mut down = false;
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        if connection.is_none() && Instant::now() >= retry_at {
            match client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(opened) => {
                    connection = Some(opened);
                    backoff = BACKOFF_MIN;
                    if down {
                        tracing::info!("publishing to Redis again");
                    }
                    down = false;
                }
                Err(error) => {
                    retry_at = Instant::now() + next_backoff(&mut backoff);
                    if !down {
                        tracing::warn!(%error, "cannot publish to Redis; the other nodes will replay from the database");
                    }
                    down = true;
                }
            }
        }
        let Some(open) = connection.as_mut() else {
            outbox.lost.store(true, Ordering::Relaxed);
            batch.clear();
            continue;
        };
        let mut pipe = redis::pipe();
        if outbox.lost.swap(false, Ordering::Relaxed)
            && let Some(text) = encode(outbox.node, &Outgoing::Control(Control::Resync))
        {
            pipe.cmd("PUBLISH").arg(CHANNEL).arg(text).ignore();
        }
        for message in batch.drain(..) {
            if let Some(text) = encode(outbox.node, &message) {
                pipe.cmd("PUBLISH").arg(CHANNEL).arg(text).ignore();
            }
        }
        if let Err(error) = pipe.query_async::<()>(open).await {
            tracing::warn!(%error, "cannot publish to Redis; the other nodes will replay from the database");
            outbox.lost.store(true, Ordering::Relaxed);
            connection = None;
            down = true;
            retry_at = Instant::now() + next_backoff(&mut backoff);
        }
    }
}

/// Listens on the channel for as long as the node runs, reconnecting with backoff.
async fn subscribe(ctx: Arc<Wiring>, client: redis::Client, outbox: Arc<Outbox>) {
    let mut backoff = BACKOFF_MIN;
    let mut down_logged = false;
    loop {
        let opened = timeout(REDIS_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match opened {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => {
                if !down_logged {
                    tracing::warn!(%error, "cannot subscribe to Redis; retrying with backoff");
                    down_logged = true;
                }
                tokio::time::sleep(next_backoff(&mut backoff)).await;
                continue;
            }
            Err(_) => {
                if !down_logged {
                    tracing::warn!("subscribing to Redis timed out; retrying with backoff");
                    down_logged = true;
                }
                tokio::time::sleep(next_backoff(&mut backoff)).await;
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        down_logged = false;
        outbox.subscribed.store(true, Ordering::Relaxed);
        // What the other nodes published while this node was not listening is only in the
        // database now: every socket here replays it. Then learn who is online elsewhere.
        tracing::info!(
            "subscribed to Redis; the sockets of this node replay what they may have missed"
        );
        ctx.hub.resync();
        outbox.push(Outgoing::Control(Control::Hello));
        let mut messages = pubsub.into_on_message();
        loop {
            match timeout(SILENCE_LIMIT, messages.next()).await {
                Ok(Some(message)) => receive(&ctx, outbox.node, message.get_payload_bytes()),
                Ok(None) => {
                    tracing::warn!("lost the Redis subscription; reconnecting");
                    break;
                }
                Err(_) => {
                    tracing::warn!("heard nothing from Redis for {SILENCE_LIMIT:?}; reconnecting");
                    break;
                }
            }
        }
        outbox.subscribed.store(false, Ordering::Relaxed);
    }
}

/// Handles one message another node published (this node's own echo is ignored).
fn receive(ctx: &Arc<Wiring>, this_node: NodeId, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        tracing::warn!("ignoring a broker message that is not UTF-8");
        return;
    };
    let (node, message) = match decode(text) {
        Ok(decoded) => decoded,
        Err(reason) => {
            tracing::warn!(reason, "ignoring a malformed broker message");
            return;
        }
    };
    if node == this_node {
        return;
    }
    match message {
        Outgoing::ToVisitor(visitor, frame) => ctx.hub.deliver_to_visitor(visitor, frame),
        Outgoing::ToAgents(account, frame) => ctx.hub.deliver_to_agents(account, frame),
        Outgoing::Control(Control::Hello) => ctx.hub.publish_presence(),
        Outgoing::Control(Control::Resync) => {
            tracing::info!(%node, "another node could not publish everything; the sockets of this node replay");
            ctx.hub.resync();
        }
        Outgoing::Control(Control::SetAgentOnline {
            account,
            user,
            online,
        }) => {
            let (changed, here) = ctx.hub.set_local_agent_online(account, user, online);
            if changed {
                ctx.hub.announce_online(account);
            }
            if here && online {
                // The agent's socket is on this node: hand them their teams' queued work.
                (ctx.agent_online_here)(account, user);
            }
        }
        Outgoing::Control(control) => {
            let effects = ctx.hub.apply_remote(node, &control);
            // A delta's node announces its own agents; a whole presence may correct a lost one.
            let whole = matches!(control, Control::Presence(_));
            announce(ctx, effects, whole);
        }
    }
}

/// Tells this node's sockets what a change of the other nodes' presence means.
fn announce(ctx: &Wiring, effects: PresenceEffects, gone_too: bool) {
    for account in effects.accounts {
        ctx.hub.announce_online(account);
    }
    if gone_too {
        for (account, user) in effects.gone {
            if let Some(frame) = super::hub::agent_status_frame(user, "offline") {
                ctx.hub.deliver_to_agents(account, frame);
            }
        }
    }
}

/// Publishes this node's presence every `HEARTBEAT` and forgets nodes gone silent.
async fn heartbeat(ctx: Arc<Wiring>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        ctx.hub.publish_presence();
        let effects = ctx.hub.expire_remote();
        announce(&ctx, effects, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_control_messages_survive_the_wire() {
        let node = Uuid::new_v4();
        let visitor = VisitorId::generate();
        for kind in [
            FrameKind::Message(crate::domain::ids::ConversationId::generate()),
            FrameKind::Blocked,
            FrameKind::Other,
        ] {
            let frame = Frame::from_parts(r#"{"type":"message","text":"two\nlines"}"#, kind);
            let text = encode(node, &Outgoing::ToVisitor(visitor, frame.clone())).expect("encoded");
            match decode(&text) {
                Ok((from, Outgoing::ToVisitor(to, got))) => {
                    assert_eq!((from, to, got), (node, visitor, frame));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let control = Control::Agent {
            account: AccountId::generate(),
            user: UserId::generate(),
            online: None,
        };
        let text = encode(node, &Outgoing::Control(control.clone())).expect("encoded");
        match decode(&text) {
            Ok((_, Outgoing::Control(got))) => assert_eq!(got, control),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for text in [
            "",
            "x",
            "nonode\nc\n{}",
            &format!("{}\nz 1\n{{}}", Uuid::new_v4()),
        ] {
            assert!(decode(text).is_err(), "{text:?}");
        }
    }
}
