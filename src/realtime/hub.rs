//! The in-process hub: per-visitor and per-account broadcast channels carrying frames that are
//! serialised once, plus who is connected (agents with their status, visitors).
//! Services publish to it after their transaction commits.

use crate::domain::ids::{AccountId, UserId, VisitorId};
use serde::Serialize;
use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::broadcast;

/// Frames a slow socket may fall behind before it is told it lagged (and replays from the
/// database). Chat traffic per visitor is a few frames a second; 256 absorbs a burst.
const CHANNEL_CAPACITY: usize = 256;

/// A frame serialised once and shared by every socket it goes to.
pub type Frame = Arc<str>;

/// Presence of one agent on this node.
#[derive(Clone, Copy, Debug)]
struct AgentPresence {
    sockets: usize,
    online: bool,
}

#[derive(Default)]
struct State {
    visitor_channels: HashMap<VisitorId, broadcast::Sender<Frame>>,
    /// To every widget of an account (agent online status).
    widget_channels: HashMap<AccountId, broadcast::Sender<Frame>>,
    /// To every agent socket of an account.
    agent_channels: HashMap<AccountId, broadcast::Sender<Frame>>,
    agents: HashMap<AccountId, HashMap<UserId, AgentPresence>>,
    visitors: HashMap<AccountId, HashMap<VisitorId, usize>>,
}

#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
}

fn channel<K: Eq + Hash + Copy>(
    map: &mut HashMap<K, broadcast::Sender<Frame>>,
    key: K,
) -> broadcast::Receiver<Frame> {
    map.entry(key)
        .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
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

/// Serialises a frame; a frame that cannot be serialised is a bug, logged and dropped.
pub fn encode(frame: &impl Serialize) -> Option<Frame> {
    match serde_json::to_string(frame) {
        Ok(text) => Some(Arc::from(text)),
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

    /// Subscribes a widget socket: its visitor's channel and its account's widget channel.
    pub fn join_visitor(
        &self,
        account_id: AccountId,
        visitor_id: VisitorId,
    ) -> (broadcast::Receiver<Frame>, broadcast::Receiver<Frame>, bool) {
        let mut state = self.lock();
        let first = {
            let count = state
                .visitors
                .entry(account_id)
                .or_default()
                .entry(visitor_id)
                .or_insert(0);
            *count += 1;
            *count == 1
        };
        let own = channel(&mut state.visitor_channels, visitor_id);
        let account = channel(&mut state.widget_channels, account_id);
        (own, account, first)
    }

    /// A widget socket closed; true when it was the visitor's last one on this node.
    pub fn leave_visitor(&self, account_id: AccountId, visitor_id: VisitorId) -> bool {
        let mut state = self.lock();
        let Some(visitors) = state.visitors.get_mut(&account_id) else {
            return false;
        };
        let last = match visitors.get_mut(&visitor_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                visitors.remove(&visitor_id);
                true
            }
            None => false,
        };
        if visitors.is_empty() {
            state.visitors.remove(&account_id);
            state.widget_channels.remove(&account_id);
        }
        if last {
            state.visitor_channels.remove(&visitor_id);
        }
        last
    }

    /// Visitors with a widget connected to this node.
    pub fn visitors_online(&self, account_id: AccountId) -> Vec<VisitorId> {
        self.lock()
            .visitors
            .get(&account_id)
            .map(|visitors| visitors.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn is_visitor_online(&self, account_id: AccountId, visitor_id: VisitorId) -> bool {
        self.lock()
            .visitors
            .get(&account_id)
            .is_some_and(|visitors| visitors.contains_key(&visitor_id))
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
        let after = Self::online_in(&state, account_id);
        (
            channel(&mut state.agent_channels, account_id),
            before != after,
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
                }
            }
            if agents.is_empty() {
                state.agents.remove(&account_id);
            }
        }
        before != Self::online_in(&state, account_id)
    }

    /// An agent switched online/away; returns whether the account's online state changed.
    pub fn set_agent_online(&self, account_id: AccountId, user_id: UserId, online: bool) -> bool {
        let mut state = self.lock();
        let before = Self::online_in(&state, account_id);
        if let Some(presence) = state
            .agents
            .get_mut(&account_id)
            .and_then(|agents| agents.get_mut(&user_id))
        {
            presence.online = online;
        }
        before != Self::online_in(&state, account_id)
    }

    fn online_in(state: &State, account_id: AccountId) -> bool {
        state.agents.get(&account_id).is_some_and(|agents| {
            agents
                .values()
                .any(|presence| presence.online && presence.sockets > 0)
        })
    }

    /// Whether this user has an inbox socket open on this node.
    pub fn is_agent_connected(&self, account_id: AccountId, user_id: UserId) -> bool {
        self.lock()
            .agents
            .get(&account_id)
            .is_some_and(|agents| agents.contains_key(&user_id))
    }

    /// The users who are online (not away) with the inbox open, on this node.
    pub fn online_agents(&self, account_id: AccountId) -> Vec<UserId> {
        self.lock()
            .agents
            .get(&account_id)
            .map(|agents| {
                agents
                    .iter()
                    .filter(|(_, presence)| presence.online && presence.sockets > 0)
                    .map(|(user, _)| *user)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether an agent who is online (not away) has the inbox open.
    pub fn agents_online(&self, account_id: AccountId) -> bool {
        Self::online_in(&self.lock(), account_id)
    }

    pub fn to_visitor(&self, visitor_id: VisitorId, frame: Frame) {
        send(&mut self.lock().visitor_channels, &visitor_id, frame);
    }

    pub fn to_widgets(&self, account_id: AccountId, frame: Frame) {
        send(&mut self.lock().widget_channels, &account_id, frame);
    }

    pub fn to_agents(&self, account_id: AccountId, frame: Frame) {
        send(&mut self.lock().agent_channels, &account_id, frame);
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
        let (mut rx_a, _, first) = hub.join_visitor(account, a);
        assert!(first);
        let (mut rx_b, _, _) = hub.join_visitor(account, b);
        hub.to_visitor(a, Arc::from("for a"));
        assert_eq!(rx_a.recv().await.as_deref().ok(), Some("for a"));
        assert!(rx_b.try_recv().is_err());
        assert!(hub.leave_visitor(account, a));
        assert_eq!(hub.visitors_online(account), vec![b]);
    }
}
