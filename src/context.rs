//! The shared context every edge hands the use cases: the database, the clock, the password
//! hasher, the hub, the message writer, the settings and this node's metrics. Built once by
//! `startup` and shared (cloned cheaply) by pages, the API, the sockets and the jobs.

use crate::{
    clock::{Clock, TestClock},
    config::Settings,
    metrics::Metrics,
    realtime::hub::Hub,
};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

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
    pub passwords: crate::services::passwords::Passwords,
    /// Fan-out of committed events to this node's sockets.
    pub hub: Arc<Hub>,
    /// Message writes: group commit on SQLite.
    pub writer: crate::services::writer::Writer,
    pub settings: Arc<Settings>,
    /// This node's Prometheus metrics (one registry per context).
    pub metrics: Arc<Metrics>,
    /// Where attachments' bytes are kept (a folder, or an S3-compatible bucket).
    pub files: crate::storage::files::FileStore,
    /// Signs expiring download links of files (webhooks, emails).
    pub file_links: crate::services::attachments::FileLinks,
}
