//! Resolves open conversations whose visitor has been disconnected and silent for the
//! inactivity timeout (30 minutes by default).

use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// How often the job looks; a conversation is resolved at most this long after its timeout.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Runs forever on the current runtime; errors are logged and the next round tries again.
pub async fn run(ctx: Arc<Context>) {
    let timeout = chrono::Duration::minutes(ctx.settings.inactivity_timeout_minutes);
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        if let Err(error) = services::conversations::resolve_inactive(&ctx, timeout).await {
            tracing::warn!(?error, "inactivity job failed; retrying next round");
        }
    }
}
