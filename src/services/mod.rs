//! Use cases shared by pages, the REST API, the CLI and (later) WebSockets; each owns its transaction.

pub mod accounts;
pub mod actor;
pub mod billing;
pub mod blocking;
pub mod chatbot;
pub mod conversations;
pub mod cursor;
pub mod demo;
pub mod email;
pub mod flows;
pub mod identity;
pub mod insights;
pub mod passwords;
pub mod privacy;
pub mod reports;
pub mod routing;
pub mod shortcuts;
pub mod tokens;
pub mod users;
pub mod views;
pub mod visitors;
pub mod webhooks;
pub mod writer;

use crate::{
    clock::{Clock, TestClock},
    config::Settings,
    metrics::Metrics,
    realtime::hub::Hub,
};
use passwords::Passwords;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub use crate::error::ServiceError;
pub use actor::Actor;

/// What every use case needs: the database, the clock, the password hasher, the hub, the
/// settings, and this node's metrics.
#[derive(Clone)]
pub struct Context {
    /// Writes, and reads inside transactions. On SQLite one connection (one writer).
    pub db: DatabaseConnection,
    /// Reads outside transactions that need not see an uncommitted write: on SQLite
    /// read-only connections that never wait for the writer (`storage::connect_reader`).
    pub reads: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Set only with `FRONTDESK_TEST_CLOCK=1`: the handle to move the clock.
    pub test_clock: Option<Arc<TestClock>>,
    pub passwords: Passwords,
    /// Fan-out of committed events to this node's sockets.
    pub hub: Arc<Hub>,
    /// Message writes: group commit on SQLite.
    pub writer: writer::Writer,
    pub settings: Arc<Settings>,
    /// This node's Prometheus metrics (one registry per context).
    pub metrics: Arc<Metrics>,
}

/// Random text from an alphabet without look-alike characters (no 0/O, 1/l/I).
pub(crate) fn random_text(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
