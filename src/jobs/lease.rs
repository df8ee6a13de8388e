//! A job lease: with several nodes on one database, a lease-guarded job runs on the one node
//! holding its lease. The holder renews it on every look; a node that dies stops renewing and
//! another node takes over once the lease has run out.

use crate::{services::Context, storage};
use std::time::Duration;

/// A lease lasts this many job intervals: the holder renews it every interval, so it survives
/// one slow round, and a dead holder is replaced within about this many intervals.
const LEASE_INTERVALS: u32 = 3;

/// One job's lease, as held (or wanted) by this process.
pub struct JobLease {
    name: &'static str,
    /// Unique per process and job; the process id lets an operator find the holder.
    holder: String,
    duration: chrono::Duration,
}

impl JobLease {
    pub fn new(name: &'static str, interval: Duration) -> Self {
        let duration = chrono::Duration::from_std(interval * LEASE_INTERVALS)
            .unwrap_or(chrono::Duration::minutes(3));
        Self {
            name,
            holder: format!(
                "pid {} {}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            duration,
        }
    }

    /// Whether this process may run the job now: takes the lease when it is free or has run
    /// out, or extends it when this process holds it. A database error is logged and answers
    /// false (the next look tries again).
    ///
    /// Real time, not the `Clock`: the test clock stands still, and a lease, like a heartbeat,
    /// measures how long a node has been silent.
    pub async fn hold(&self, ctx: &Context) -> bool {
        let now = chrono::Utc::now();
        match storage::job_leases::acquire(
            &ctx.db,
            self.name,
            &self.holder,
            now,
            now + self.duration,
        )
        .await
        {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, job = self.name, "cannot take the job's lease; retrying next round");
                false
            }
        }
    }
}
