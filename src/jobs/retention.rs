//! Erases the content of resolved conversations older than each account's `retention_days`
//! (`services::privacy::apply_retention`), in small batches. With several nodes it runs on
//! the one holding the `retention` lease.

use super::lease::JobLease;
use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// Runs until the node shuts down (a round under way finishes first); errors are logged and
/// the next round tries again. A conversation is erased at most one interval
/// (`job_interval_seconds`) after it expires.
pub async fn run(ctx: Arc<Context>) {
    let every = Duration::from_secs(ctx.settings.job_interval_seconds);
    let lease = JobLease::new("retention", every);
    let mut tick = tokio::time::interval(every);
    while super::next_round(&mut tick, &ctx).await {
        if !lease.hold(&ctx).await {
            continue;
        }
        if let Err(error) = services::privacy::apply_retention(&ctx).await {
            tracing::warn!(?error, "retention job failed; retrying next round");
        }
    }
}
