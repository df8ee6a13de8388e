//! Resolves open conversations whose visitor has been disconnected and silent for the
//! inactivity timeout (30 minutes by default). With several nodes it runs on the one holding
//! the `inactivity` lease.

use super::lease::JobLease;
use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// Runs until the node shuts down (a round under way finishes first); errors are logged and
/// the next round tries again.
/// A conversation is resolved at most one interval (`job_interval_seconds`) after its timeout.
pub async fn run(ctx: Arc<Context>) {
    let timeout = chrono::Duration::minutes(ctx.settings.inactivity_timeout_minutes);
    let every = Duration::from_secs(ctx.settings.job_interval_seconds);
    let lease = JobLease::new("inactivity", every);
    let mut tick = tokio::time::interval(every);
    while super::next_round(&mut tick, &ctx).await {
        if !lease.hold(&ctx).await {
            continue;
        }
        if let Err(error) = services::conversations::resolve_inactive(&ctx, timeout).await {
            tracing::warn!(?error, "inactivity job failed; retrying next round");
        }
    }
}
