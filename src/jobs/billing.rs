//! Rolls billing periods over: renews enabled packages, expires disabled ones and bills each
//! period once (`services::billing::tick`), every minute, at the `Clock`'s time (so the test
//! clock moves it too). Safe with many nodes: each account renews under its row lock and a
//! period's invoice has a unique key.

use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// How often the job looks; a period is renewed at most this long after it starts.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Runs forever on the current runtime; errors are logged and the next round tries again.
pub async fn run(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        if let Err(error) = services::billing::tick(&ctx, ctx.clock.now()).await {
            tracing::warn!(?error, "billing job failed; retrying next round");
        }
    }
}
