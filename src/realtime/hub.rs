//! The hub: a mailbox per widget socket and a broadcast channel per account's inboxes, carrying
//! frames that are serialised once, plus who is connected (agents with their status, visitors).
//! Services publish to it after their transaction commits. With Redis (`broker`), every frame
//! and presence change also goes to the other nodes, and presence answers for all of them.

use super::broker::{Control, NodeId, Outbox, Outgoing, Presence};
use super::protocol::{NoViews, ServerFrame, Views};
use crate::domain::ids::{AccountId, ConversationId, UserId, VisitorId};
use bytestring::ByteString;
use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Frames a slow agent socket may fall behind on its account's channel before it is told it
/// lagged (and replays from the database): all of an account's traffic goes there.
const CHANNEL_CAPACITY: usize = 256;
/// The same for one widget socket's own frames (its visitor's): usually a few a second (a
/// bot's step is three or four at once), but a visitor with several tabs writing at once, and
/// an agent answering, sends every tab every message while a tab may be waiting for the
/// writer. Every connected widget has a `Mailbox`, which holds nothing while idle and grows
/// only while frames wait, so the bound can be generous (a broadcast channel allocated every
/// slot up front: 32 slots of about 48 bytes were 1.5 KB per idle widget, bench S1). The account's frames
/// for every widget (`status`) go to the same mailboxes.
const VISITOR_QUEUE: usize = 256;

/// What a frame is, for the sockets that forward it: set where it is built, never read back
/// from its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A `message` frame of this conversation (a widget follows the conversation it names).
    Message(ConversationId),
    /// The `error` frame a blocked widget gets before its socket closes.
    Blocked,
    Other,
}

/// A frame serialised once and shared by every socket it goes to (cloning shares the text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    text: ByteString,
    kind: FrameKind,
}

impl Frame {
    /// A frame whose text was serialised elsewhere (another node's, from the broker).
    pub fn from_parts(text: impl Into<ByteString>, kind: FrameKind) -> Self {
        Self {
            text: text.into(),
            kind,
        }
    }

    /// The text as the sockets send it (shared, not copied).
    pub fn text(&self) -> ByteString {
        self.text.clone()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> FrameKind {
        self.kind
    }
}

/// One widget socket's frames for its visitor: a queue that allocates only while frames wait,
/// and says `Lagged` when the socket fell `VISITOR_QUEUE` frames behind (it then resumes from
/// the database) or `Closed` when the hub dropped it (Redis came back: replay).
#[derive(Debug, Default)]
pub struct Mailbox {
    queue: Mutex<MailboxState>,
    ready: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct MailboxState {
    frames: std::collections::VecDeque<Frame>,
    lagged: u64,
    closed: bool,
}

impl Mailbox {
    fn state(&self) -> MutexGuard<'_, MailboxState> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, frame: Frame) {
        {
            let mut state = self.state();
            if state.closed {
                // The socket is about to reconnect and replay: nothing more for it.
                return;
            }
            if state.frames.len() >= VISITOR_QUEUE {
                state.lagged += state.frames.len() as u64 + 1;
                state.frames = std::collections::VecDeque::new();
            } else {
                state.frames.push_back(frame);
            }
        }
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state().closed = true;
        self.ready.notify_one();
    }

    /// The next frame, in order.
    pub async fn recv(&self) -> Result<Frame, broadcast::error::RecvError> {
        loop {
            {
                let mut state = self.state();
                if state.lagged > 0 {
                    return Err(broadcast::error::RecvError::Lagged(state.lagged));
                }
                if state.closed {
                    return Err(broadcast::error::RecvError::Closed);
                }
                if let Some(frame) = state.frames.pop_front() {
                    if state.frames.is_empty() {
                        // An idle socket keeps no buffer from its last burst.
                        state.frames = std::collections::VecDeque::new();
                    }
                    return Ok(frame);
                }
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the check
            // above and this wait is not missed.
            self.ready.notified().await;
        }
    }
}

/// Another node's presence is forgotten when nothing came from it for this long: four of its
/// heartbeats (`broker::HEARTBEAT`), so a crashed node's agents go offline within 20 seconds
/// while a short Redis outage does not flap everyone offline.
pub const REMOTE_PRESENCE_TTL: Duration = Duration::from_secs(20);

/// Presence of one agent on this node.
#[derive(Clone, Copy, Debug)]
struct AgentPresence {
    sockets: usize,
    online: bool,
}

/// The widget sockets of one visitor on this node: their mailboxes (most visitors have one
/// tab, kept without a second allocation).
struct VisitorSockets {
    first: Arc<Mailbox>,
    more: Vec<Arc<Mailbox>>,
}

impl VisitorSockets {
    fn mailboxes(&self) -> impl Iterator<Item = &Arc<Mailbox>> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// Forgets one socket's mailbox; true when none is left.
    fn remove(&mut self, own: &Arc<Mailbox>) -> bool {
        if Arc::ptr_eq(&self.first, own) {
            match self.more.pop() {
                Some(next) => self.first = next,
                None => return true,
            }
        } else {
            self.more.retain(|mailbox| !Arc::ptr_eq(mailbox, own));
        }
        false
    }
}

#[derive(Default)]
struct State {
    /// Every widget socket on this node, by its visitor.
    visitor_channels: HashMap<VisitorId, VisitorSockets>,
    /// To every agent socket of an account.
    agent_channels: HashMap<AccountId, broadcast::Sender<Frame>>,
    agents: HashMap<AccountId, HashMap<UserId, AgentPresence>>,
    /// The visitors with a widget socket on this node, by account.
    visitors: HashMap<AccountId, HashSet<VisitorId>>,
    /// Who is connected to the other nodes, as they last told us.
    remote: HashMap<NodeId, RemoteNode>,
}

/// Presence on another node: its agents (online or away) and visitors.
struct RemoteNode {
    seen: Instant,
    agents: HashMap<AccountId, HashMap<UserId, bool>>,
    visitors: HashMap<AccountId, HashSet<VisitorId>>,
}

impl RemoteNode {
    fn fresh(&self) -> bool {
        self.seen.elapsed() < REMOTE_PRESENCE_TTL
    }
}

/// What a change of another node's presence means for this node's sockets.
#[derive(Debug, Default, PartialEq)]
pub struct PresenceEffects {
    /// Accounts whose "an agent is online" state flipped: tell their widgets here.
    pub accounts: Vec<AccountId>,
    /// Agents no longer connected to any node: tell the inboxes here.
    pub gone: Vec<(AccountId, UserId)>,
}

#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    /// With Redis: where frames and presence changes go to reach the other nodes.
    outbox: OnceLock<Arc<Outbox>>,
    /// Cancelled when this node shuts down: every socket on it closes at once with 1012.
    shutdown: CancellationToken,
}

fn channel<K: Eq + Hash + Copy>(
    map: &mut HashMap<K, broadcast::Sender<Frame>>,
    key: K,
    capacity: usize,
) -> broadcast::Receiver<Frame> {
    map.entry(key)
        .or_insert_with(|| broadcast::channel(capacity).0)
        .subscribe()
}

fn send<K: Eq + Hash>(map: &mut HashMap<K, broadcast::Sender<Frame>>, key: &K, frame: Frame) {
    if let Some(sender) = map.get(key)
        && sender.send(frame).is_err()
    {
        // Nobody listens any more: forget the channel.
        map.remove(key);
    }
}

/// The frames the hub builds itself carry no service view.
type OwnFrame<'a> = ServerFrame<'a, NoViews>;

/// The inbox frame saying a colleague's status changed (`online`, `away`, `offline`).
pub fn agent_status_frame(user_id: UserId, status: &str) -> Option<Frame> {
    encode(&OwnFrame::AgentStatus { user_id, status })
}

/// Serialises a frame once, with its kind; a frame that cannot be serialised is a bug, logged
/// and dropped.
pub fn encode<V: Views>(frame: &ServerFrame<'_, V>) -> Option<Frame> {
    match serde_json::to_string(frame) {
        Ok(text) => Some(Frame::from_parts(text, frame.kind())),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a frame");
            None
        }
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere cannot corrupt it.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Connects the hub to the other nodes (once, at start, when Redis is configured).
    pub(crate) fn attach(&self, outbox: Arc<Outbox>) {
        if self.outbox.set(outbox).is_err() {
            tracing::error!("the hub already has a broker");
        }
    }

    /// Tells every socket of this node, and every socket opened from now on, to close with
    /// 1012 (service restart) so that its client reconnects to another node (SIGTERM).
    pub fn close_all_sockets(&self) {
        self.shutdown.cancel();
    }

    /// Completes once `close_all_sockets` was called; a socket selects on it.
    pub fn closing(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.shutdown.cancelled()
    }

    /// Whether this node fans out through Redis, and whether it is subscribed right now.
    pub fn broker_connected(&self) -> Option<bool> {
        self.outbox.get().map(|outbox| outbox.connected())
    }

    /// Hands a frame or presence change to the broker, if there is one (never waits).
    fn publish(&self, message: Outgoing) {
        if let Some(outbox) = self.outbox.get() {
            outbox.push(message);
        }
    }

    /// Subscribes a widget socket to its visitor's frames and its account's widget frames;
    /// true when it is the visitor's first socket on this node.
    pub fn join_visitor(
        &self,
        account_id: AccountId,
        visitor_id: VisitorId,
    ) -> (Arc<Mailbox>, bool) {
        let own = Arc::new(Mailbox::default());
        let mut state = self.lock();
        let first = match state.visitor_channels.entry(visitor_id) {
            std::collections::hash_map::Entry::Occupied(mut sockets) => {
                sockets.get_mut().more.push(own.clone());
                false
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(VisitorSockets {
                    first: own.clone(),
                    more: Vec::new(),
                });
                true
            }
        };
        if first {
            state
                .visitors
                .entry(account_id)
                .or_default()
                .insert(visitor_id);
            self.publish(Outgoing::Control(Control::Visitor {
                account: account_id,
                visitor: visitor_id,
                present: true,
            }));
        }
        (own, first)
    }

    /// A widget socket closed (`own` is the mailbox it joined with); true when it was the
    /// visitor's last one on any node.
    pub fn leave_visitor(
        &self,
        account_id: AccountId,
        visitor_id: VisitorId,
        own: &Arc<Mailbox>,
    ) -> bool {
        let mut state = self.lock();
        let Some(sockets) = state.visitor_channels.get_mut(&visitor_id) else {
            return false;
        };
        if !sockets.remove(own) {
            return false;
        }
        state.visitor_channels.remove(&visitor_id);
        if let Some(visitors) = state.visitors.get_mut(&account_id) {
            visitors.remove(&visitor_id);
            if visitors.is_empty() {
                state.visitors.remove(&account_id);
            }
        }
        self.publish(Outgoing::Control(Control::Visitor {
            account: account_id,
            visitor: visitor_id,
            present: false,
        }));
        !Self::remote_visitor(&state, account_id, visitor_id)
    }

    /// Visitors with a widget connected to any node.
    pub fn visitors_online(&self, account_id: AccountId) -> Vec<VisitorId> {
        let state = self.lock();
        let mut online: Vec<VisitorId> = state
            .visitors
            .get(&account_id)
            .map(|visitors| visitors.iter().copied().collect())
            .unwrap_or_default();
        for node in state.remote.values().filter(|node| node.fresh()) {
            online.extend(node.visitors.get(&account_id).into_iter().flatten());
        }
        online.sort_unstable();
        online.dedup();
        online
    }

    pub fn is_visitor_online(&self, account_id: AccountId, visitor_id: VisitorId) -> bool {
        let state = self.lock();
        state
            .visitors
            .get(&account_id)
            .is_some_and(|visitors| visitors.contains(&visitor_id))
            || Self::remote_visitor(&state, account_id, visitor_id)
    }

    fn remote_visitor(state: &State, account_id: AccountId, visitor_id: VisitorId) -> bool {
        state.remote.values().any(|node| {
            node.fresh()
                && node
                    .visitors
                    .get(&account_id)
                    .is_some_and(|visitors| visitors.contains(&visitor_id))
        })
    }

    /// Subscribes an agent socket; returns the channel and whether the account's online state changed.
    pub fn join_agent(
        &self,
        account_id: AccountId,
        user_id: UserId,
        online: bool,
    ) -> (broadcast::Receiver<Frame>, bool) {
        let mut state = self.lock();
        let before = Self::online_in(&state, account_id);
        let presence = state
            .agents
            .entry(account_id)
            .or_default()
            .entry(user_id)
            .or_insert(AgentPresence { sockets: 0, online });
        presence.sockets += 1;
        presence.online = online;
        self.publish(Outgoing::Control(Control::Agent {
            account: account_id,
            user: user_id,
            online: Some(online),
        }));
        let after = Self::online_in(&state, account_id);
        (
            channel(&mut state.agent_channels, account_id, CHANNEL_CAPACITY),
            before != after,
        )
    }

    /// A supervisor's socket (`/ws/agent?watch=1`): the account's inbox frames, with no
    /// presence, so watching never makes the user available for conversations.
    pub fn watch_agents(&self, account_id: AccountId) -> broadcast::Receiver<Frame> {
        channel(
            &mut self.lock().agent_channels,
            account_id,
            CHANNEL_CAPACITY,
        )
    }

    /// An agent socket closed; returns whether the account's online state changed.
    pub fn leave_agent(&self, account_id: AccountId, user_id: UserId) -> bool {
        let mut state = self.lock();
        let before = Self::online_in(&state, account_id);
        if let Some(agents) = state.agents.get_mut(&account_id) {
            if let Some(presence) = agents.get_mut(&user_id) {
                presence.sockets = presence.sockets.saturating_sub(1);
                if presence.sockets == 0 {
                    agents.remove(&user_id);
                    self.publish(Outgoing::Control(Control::Agent {
                        account: account_id,
                        user: user_id,
                        online: None,
                    }));
                }
            }
            if agents.is_empty() {
                state.agents.remove(&account_id);
            }
        }
        before != Self::online_in(&state, account_id)
    }

    /// An agent switched online/away; returns whether the account's online state changed.
    /// The other nodes are told too: the agent's sockets may be there.
    pub fn set_agent_online(&self, account_id: AccountId, user_id: UserId, online: bool) -> bool {
        self.publish(Outgoing::Control(Control::SetAgentOnline {
            account: account_id,
            user: user_id,
            online,
        }));
        self.set_local_agent_online(account_id, user_id, online).0
    }

    /// Applies an agent's online/away switch to this node's sockets; answers whether the
    /// account's online state changed, and whether the agent has a socket on this node.
    pub(crate) fn set_local_agent_online(
        &self,
        account_id: AccountId,
        user_id: UserId,
        online: bool,
    ) -> (bool, bool) {
        let mut state = self.lock();
        let before = Self::online_in(&state, account_id);
        let mut here = false;
        if let Some(presence) = state
            .agents
            .get_mut(&account_id)
            .and_then(|agents| agents.get_mut(&user_id))
        {
            here = true;
            if presence.online != online {
                presence.online = online;
                self.publish(Outgoing::Control(Control::Agent {
                    account: account_id,
                    user: user_id,
                    online: Some(online),
                }));
            }
        }
        (before != Self::online_in(&state, account_id), here)
    }

    fn online_in(state: &State, account_id: AccountId) -> bool {
        state.agents.get(&account_id).is_some_and(|agents| {
            agents
                .values()
                .any(|presence| presence.online && presence.sockets > 0)
        }) || state.remote.values().any(|node| {
            node.fresh()
                && node
                    .agents
                    .get(&account_id)
                    .is_some_and(|agents| agents.values().any(|online| *online))
        })
    }

    /// The users with an inbox socket open on any node, online or away.
    fn connected_in(state: &State, account_id: AccountId) -> HashSet<UserId> {
        let mut users: HashSet<UserId> = state
            .agents
            .get(&account_id)
            .map(|agents| agents.keys().copied().collect())
            .unwrap_or_default();
        for node in state.remote.values().filter(|node| node.fresh()) {
            users.extend(
                node.agents
                    .get(&account_id)
                    .into_iter()
                    .flat_map(|a| a.keys()),
            );
        }
        users
    }

    /// Whether this user has an inbox socket open on any node.
    pub fn is_agent_connected(&self, account_id: AccountId, user_id: UserId) -> bool {
        Self::connected_in(&self.lock(), account_id).contains(&user_id)
    }

    /// The users who are online (not away) with the inbox open, on any node.
    pub fn online_agents(&self, account_id: AccountId) -> Vec<UserId> {
        let state = self.lock();
        let mut online: Vec<UserId> = state
            .agents
            .get(&account_id)
            .map(|agents| {
                agents
                    .iter()
                    .filter(|(_, presence)| presence.online && presence.sockets > 0)
                    .map(|(user, _)| *user)
                    .collect()
            })
            .unwrap_or_default();
        for node in state.remote.values().filter(|node| node.fresh()) {
            if let Some(agents) = node.agents.get(&account_id) {
                online.extend(agents.iter().filter(|(_, on)| **on).map(|(user, _)| *user));
            }
        }
        online.sort_unstable();
        online.dedup();
        online
    }

    /// Whether an agent who is online (not away) has the inbox open.
    pub fn agents_online(&self, account_id: AccountId) -> bool {
        Self::online_in(&self.lock(), account_id)
    }

    /// Tells every widget of the account on this node whether someone is online now (on any
    /// node); each node tells its own widgets when its view of the account changes.
    pub fn announce_online(&self, account_id: AccountId) {
        let online = self.agents_online(account_id);
        if let Some(frame) = encode(&OwnFrame::Status { online }) {
            self.to_local_widgets(account_id, frame);
        }
    }

    /// Tells the account's inboxes that a colleague's status changed (`online`, `away`,
    /// `offline`).
    pub fn announce_agent(&self, account_id: AccountId, user_id: UserId, status: &str) {
        if let Some(frame) = agent_status_frame(user_id, status) {
            self.to_agents(account_id, frame);
        }
    }

    /// To the visitor's widgets on every node.
    pub fn to_visitor(&self, visitor_id: VisitorId, frame: Frame) {
        self.publish(Outgoing::ToVisitor(visitor_id, frame.clone()));
        self.deliver_to_visitor(visitor_id, frame);
    }

    /// To every widget of the account on this node only: each node tells its own widgets
    /// whether an agent is online, from the presence it sees (see `broker`).
    pub fn to_local_widgets(&self, account_id: AccountId, frame: Frame) {
        let state = self.lock();
        let visitors = state.visitors.get(&account_id).into_iter().flatten();
        for sockets in visitors.filter_map(|visitor| state.visitor_channels.get(visitor)) {
            for mailbox in sockets.mailboxes() {
                mailbox.push(frame.clone());
            }
        }
    }

    /// To the account's inboxes on every node.
    pub fn to_agents(&self, account_id: AccountId, frame: Frame) {
        self.publish(Outgoing::ToAgents(account_id, frame.clone()));
        self.deliver_to_agents(account_id, frame);
    }

    /// To the visitor's widgets on this node (a frame another node published).
    pub(crate) fn deliver_to_visitor(&self, visitor_id: VisitorId, frame: Frame) {
        if let Some(sockets) = self.lock().visitor_channels.get(&visitor_id) {
            for mailbox in sockets.mailboxes() {
                mailbox.push(frame.clone());
            }
        }
    }

    /// To the account's inboxes on this node (a frame another node published).
    pub(crate) fn deliver_to_agents(&self, account_id: AccountId, frame: Frame) {
        send(&mut self.lock().agent_channels, &account_id, frame);
    }

    /// Frames may have been missed (Redis was away): every socket on this node is told its
    /// channel closed, the same as a lagging socket, so it reconnects and replays from the
    /// database by `seq` (the widget with `last_seq`, the inbox by reloading).
    pub(crate) fn resync(&self) {
        let mut state = self.lock();
        // The widget sockets stay joined until they leave (their presence is still true).
        for mailbox in state
            .visitor_channels
            .values()
            .flat_map(VisitorSockets::mailboxes)
        {
            mailbox.close();
        }
        state.agent_channels.clear();
    }

    /// This node's presence, handed to the broker in order with the changes (every heartbeat).
    pub(crate) fn publish_presence(&self) {
        let state = self.lock();
        let presence = Presence {
            agents: state
                .agents
                .iter()
                .flat_map(|(account, agents)| {
                    agents
                        .iter()
                        .map(|(user, presence)| (*account, *user, presence.online))
                })
                .collect(),
            visitors: state
                .visitors
                .iter()
                .flat_map(|(account, visitors)| visitors.iter().map(|v| (*account, *v)))
                .collect(),
        };
        self.publish(Outgoing::Control(Control::Presence(presence)));
    }

    /// Applies what another node said about its presence.
    pub(crate) fn apply_remote(&self, node: NodeId, control: &Control) -> PresenceEffects {
        let mut state = self.lock();
        let entry = state.remote.entry(node).or_insert_with(|| RemoteNode {
            seen: Instant::now(),
            agents: HashMap::new(),
            visitors: HashMap::new(),
        });
        entry.seen = Instant::now();
        let accounts: Vec<AccountId> = match control {
            Control::Agent { account, .. } => vec![*account],
            Control::Presence(presence) => {
                let mut accounts: Vec<AccountId> = entry.agents.keys().copied().collect();
                accounts.extend(presence.agents.iter().map(|(account, _, _)| *account));
                accounts
            }
            _ => Vec::new(),
        };
        let before = Self::observe(&state, &accounts);
        let Some(remote) = state.remote.get_mut(&node) else {
            return PresenceEffects::default();
        };
        match control {
            Control::Agent {
                account,
                user,
                online,
            } => {
                let agents = remote.agents.entry(*account).or_default();
                match online {
                    Some(online) => {
                        agents.insert(*user, *online);
                    }
                    None => {
                        agents.remove(user);
                    }
                }
                if agents.is_empty() {
                    remote.agents.remove(account);
                }
            }
            Control::Visitor {
                account,
                visitor,
                present,
            } => {
                let visitors = remote.visitors.entry(*account).or_default();
                if *present {
                    visitors.insert(*visitor);
                } else {
                    visitors.remove(visitor);
                }
                if visitors.is_empty() {
                    remote.visitors.remove(account);
                }
            }
            Control::Presence(presence) => {
                remote.agents.clear();
                for (account, user, online) in &presence.agents {
                    remote
                        .agents
                        .entry(*account)
                        .or_default()
                        .insert(*user, *online);
                }
                remote.visitors.clear();
                for (account, visitor) in &presence.visitors {
                    remote
                        .visitors
                        .entry(*account)
                        .or_default()
                        .insert(*visitor);
                }
            }
            _ => {}
        }
        Self::effects(&state, before)
    }

    /// Forgets nodes that have been silent for `REMOTE_PRESENCE_TTL` (crashed, or cut off).
    pub(crate) fn expire_remote(&self) -> PresenceEffects {
        let mut state = self.lock();
        // Queries already ignore stale nodes; measure the effect against the last answers.
        let stale: Vec<NodeId> = state
            .remote
            .iter()
            .filter(|(_, node)| !node.fresh())
            .map(|(id, _)| *id)
            .collect();
        if stale.is_empty() {
            return PresenceEffects::default();
        }
        let accounts: Vec<AccountId> = stale
            .iter()
            .filter_map(|id| state.remote.get(id))
            .flat_map(|node| node.agents.keys().copied())
            .collect();
        // Count the stale nodes in for "before": they were fresh the last time anyone asked.
        for id in &stale {
            if let Some(node) = state.remote.get_mut(id) {
                node.seen = Instant::now();
            }
        }
        let before = Self::observe(&state, &accounts);
        for id in &stale {
            state.remote.remove(id);
            tracing::warn!(node = %id, "another node went silent; forgetting its presence");
        }
        Self::effects(&state, before)
    }

    /// Per account: whether an agent is online, and who is connected.
    fn observe(state: &State, accounts: &[AccountId]) -> Vec<(AccountId, bool, HashSet<UserId>)> {
        let mut accounts = accounts.to_vec();
        accounts.sort_unstable();
        accounts.dedup();
        accounts
            .into_iter()
            .map(|account| {
                (
                    account,
                    Self::online_in(state, account),
                    Self::connected_in(state, account),
                )
            })
            .collect()
    }

    fn effects(state: &State, before: Vec<(AccountId, bool, HashSet<UserId>)>) -> PresenceEffects {
        let mut effects = PresenceEffects::default();
        for (account, online, connected) in before {
            if Self::online_in(state, account) != online {
                effects.accounts.push(account);
            }
            let now = Self::connected_in(state, account);
            effects
                .gone
                .extend(connected.difference(&now).map(|user| (account, *user)));
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_online_only_while_an_online_agent_is_connected() {
        let hub = Hub::default();
        let account = AccountId::generate();
        let (alice, bob) = (UserId::generate(), UserId::generate());
        assert!(!hub.agents_online(account));
        let (_rx, changed) = hub.join_agent(account, alice, false);
        assert!(
            !changed && !hub.agents_online(account),
            "away agents do not count"
        );
        let (_rx2, changed) = hub.join_agent(account, bob, true);
        assert!(changed && hub.agents_online(account));
        assert!(hub.set_agent_online(account, bob, false));
        assert!(!hub.agents_online(account));
        assert!(hub.set_agent_online(account, alice, true));
        assert!(hub.leave_agent(account, alice));
        assert!(!hub.agents_online(account));
    }

    #[tokio::test]
    async fn frames_reach_only_their_visitor() {
        let hub = Hub::default();
        let account = AccountId::generate();
        let (a, b) = (VisitorId::generate(), VisitorId::generate());
        let (rx_a, first) = hub.join_visitor(account, a);
        assert!(first);
        let (rx_b, _) = hub.join_visitor(account, b);
        hub.to_visitor(a, Frame::from_parts("for a", FrameKind::Other));
        assert_eq!(
            rx_a.recv().await.ok().map(|frame| frame.text()),
            Some("for a".into())
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(20), rx_b.recv())
                .await
                .is_err()
        );
        assert!(hub.leave_visitor(account, a, &rx_a));
        assert_eq!(hub.visitors_online(account), vec![b]);
    }

    #[tokio::test]
    async fn account_frames_reach_every_widget_of_the_account_once_per_socket() {
        let hub = Hub::default();
        let (account, other) = (AccountId::generate(), AccountId::generate());
        let visitor = VisitorId::generate();
        let (first_tab, _) = hub.join_visitor(account, visitor);
        let (second_tab, first) = hub.join_visitor(account, visitor);
        assert!(!first, "a second tab is not a second visitor");
        let (elsewhere, _) = hub.join_visitor(other, VisitorId::generate());
        hub.to_local_widgets(account, Frame::from_parts("status", FrameKind::Other));
        for tab in [&first_tab, &second_tab] {
            assert_eq!(
                tab.recv().await.ok().map(|frame| frame.text()),
                Some("status".into())
            );
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(20), elsewhere.recv())
                .await
                .is_err(),
            "another account's widgets get nothing"
        );
        assert!(!hub.leave_visitor(account, visitor, &first_tab));
        hub.to_local_widgets(account, Frame::from_parts("again", FrameKind::Other));
        assert_eq!(
            second_tab.recv().await.ok().map(|frame| frame.text()),
            Some("again".into())
        );
        assert!(hub.leave_visitor(account, visitor, &second_tab));
        assert_eq!(hub.visitors_online(account), Vec::new());
    }

    #[test]
    fn another_nodes_agents_and_visitors_count_until_it_goes_silent() {
        let hub = Hub::default();
        let account = AccountId::generate();
        let (agent, visitor) = (UserId::generate(), VisitorId::generate());
        let node = NodeId::new_v4();
        let effects = hub.apply_remote(
            node,
            &Control::Agent {
                account,
                user: agent,
                online: Some(true),
            },
        );
        assert_eq!(effects.accounts, vec![account], "the widgets here are told");
        assert!(hub.agents_online(account) && hub.online_agents(account) == vec![agent]);
        hub.apply_remote(
            node,
            &Control::Visitor {
                account,
                visitor,
                present: true,
            },
        );
        assert!(hub.is_visitor_online(account, visitor));
        // A local socket of the same visitor closing is not the visitor leaving.
        let (own, _) = hub.join_visitor(account, visitor);
        assert!(!hub.leave_visitor(account, visitor, &own));

        // A whole presence replaces what was known: the agent went away, the visitor left.
        let effects = hub.apply_remote(
            node,
            &Control::Presence(Presence {
                agents: vec![(account, agent, false)],
                visitors: Vec::new(),
            }),
        );
        assert_eq!(effects.accounts, vec![account]);
        assert!(effects.gone.is_empty(), "away is still connected");
        assert!(!hub.agents_online(account) && hub.is_agent_connected(account, agent));
        assert!(!hub.is_visitor_online(account, visitor));

        // Silence: the node is forgotten and its agents are gone.
        hub.lock().remote.get_mut(&node).expect("known node").seen -= REMOTE_PRESENCE_TTL;
        assert!(
            !hub.is_agent_connected(account, agent),
            "stale nodes never count"
        );
        let effects = hub.expire_remote();
        assert_eq!(effects.gone, vec![(account, agent)]);
        assert!(hub.lock().remote.is_empty());
    }

    #[tokio::test]
    async fn a_widget_socket_gets_its_frames_in_order_and_lags_when_it_falls_too_far_behind() {
        let hub = Hub::default();
        let (account, visitor) = (AccountId::generate(), VisitorId::generate());
        let (first_tab, _) = hub.join_visitor(account, visitor);
        let (second_tab, _) = hub.join_visitor(account, visitor);
        let frame = |n: usize| Frame::from_parts(n.to_string(), FrameKind::Other);
        for n in 0..VISITOR_QUEUE {
            hub.to_visitor(visitor, frame(n));
        }
        for n in 0..VISITOR_QUEUE {
            assert_eq!(first_tab.recv().await.ok(), Some(frame(n)));
        }
        // The second tab read nothing: one frame more than its queue holds is a lag.
        hub.to_visitor(visitor, frame(VISITOR_QUEUE));
        assert!(matches!(
            second_tab.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        assert_eq!(first_tab.recv().await.ok(), Some(frame(VISITOR_QUEUE)));
        assert!(!hub.leave_visitor(account, visitor, &second_tab));
        assert!(hub.leave_visitor(account, visitor, &first_tab));
        assert!(hub.lock().visitor_channels.is_empty());
    }

    #[tokio::test]
    async fn a_resync_closes_every_channel_so_sockets_replay() {
        let hub = Hub::default();
        let account = AccountId::generate();
        let visitor = VisitorId::generate();
        let (own, _) = hub.join_visitor(account, visitor);
        let (mut agents, _) = hub.join_agent(account, UserId::generate(), true);
        hub.to_visitor(visitor, Frame::from_parts("before", FrameKind::Other));
        hub.resync();
        hub.to_visitor(visitor, Frame::from_parts("after", FrameKind::Other));
        assert!(
            matches!(own.recv().await, Err(broadcast::error::RecvError::Closed)),
            "a closed mailbox says so before any frame it still holds"
        );
        assert!(matches!(
            agents.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
        assert!(
            hub.is_visitor_online(account, visitor),
            "the visitor is present until the socket leaves"
        );
        assert!(hub.leave_visitor(account, visitor, &own));
    }
}
