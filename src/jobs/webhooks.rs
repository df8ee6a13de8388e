//! Sends due webhook deliveries from the outbox (`services::webhooks::deliver_due`), every
//! `webhook_poll_millis`, at the `Clock`'s time. Safe with many nodes: each delivery is claimed
//! by one conditional update, and a claim that dies with its node runs out and is retried.

use crate::services::{self, Context};
use std::{sync::Arc, time::Duration};

/// Runs until the node shuts down (a round under way finishes first); errors are logged and
/// the next round tries again.
pub async fn run(ctx: Arc<Context>) {
    let client = match services::webhooks::http_client() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(?error, "webhook delivery is off: no HTTP client");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(ctx.settings.webhook_poll_millis));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while super::next_round(&mut tick, &ctx).await {
        if let Err(error) = services::webhooks::deliver_due(&ctx, &client).await {
            tracing::warn!(?error, "webhook job failed; retrying next round");
        }
    }
}
