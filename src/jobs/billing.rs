//! Rolls billing periods over: renews enabled packages, expires disabled ones and bills each
//! period once (`services::billing::tick`), every `job_interval_seconds` (a minute by default),
//! at the `Clock`'s time (so the test clock moves it too). With several nodes it runs on the one
//! holding the `billing` lease; even without it, each account renews under its row lock and a
//! period's invoice has a unique key.

use super::lease::JobLease;
use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// Runs until the node shuts down (a round under way finishes first); errors are logged and
/// the next round tries again.
/// A period is renewed at most one interval after it starts.
pub async fn run(ctx: Arc<Context>) {
    let every = Duration::from_secs(ctx.settings.job_interval_seconds);
    let lease = JobLease::new("billing", every);
    let mut tick = tokio::time::interval(every);
    while super::next_round(&mut tick, &ctx).await {
        if !lease.hold(&ctx).await {
            continue;
        }
        if let Err(error) = services::billing::tick(&ctx, ctx.clock.now()).await {
            tracing::warn!(?error, "billing job failed; retrying next round");
        }
    }
}
