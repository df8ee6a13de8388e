//! Sends bots their due events from the outbox (`services::bots::deliver_due`): retries and
//! whatever a node left when it stopped or died, every `webhook_poll_millis`. New events go out
//! at once after their commit; this job is the safety net. Safe with many nodes: each event is
//! claimed by one conditional update.

use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// Runs until the node shuts down (a round under way finishes first); errors are logged and
/// the next round tries again.
pub async fn run(ctx: Arc<Context>) {
    let client = match services::bots::http_client() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(?error, "bot delivery is off: no HTTP client");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(ctx.settings.webhook_poll_millis));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while super::next_round(&mut tick, &ctx).await {
        if let Err(error) = services::bots::deliver_due(&ctx, &client).await {
            tracing::warn!(?error, "bot delivery job failed; retrying next round");
        }
    }
}
