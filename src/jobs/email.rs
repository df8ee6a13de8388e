//! Sends the email outbox (`services::email::deliver_due`) every `email_poll_ms`, at the
//! `Clock`'s time; failed sends wait longer each retry. Safe with many nodes: each email is
//! claimed with a lease before it is sent.

use crate::{
    mailer::Mailer,
    services::{self, Context},
};
use std::{sync::Arc, time::Duration};

/// Runs until the node shuts down (a round under way finishes first); errors are logged and
/// the next round tries again.
pub async fn run(ctx: Arc<Context>) {
    let mailer = match Mailer::from_settings(&ctx.settings) {
        Ok(mailer) => mailer,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "email job not started");
            return;
        }
    };
    if !mailer.enabled() {
        tracing::info!("no smtp_url is set: emails are queued and marked skipped, not sent");
    }
    let mut tick = tokio::time::interval(Duration::from_millis(ctx.settings.email_poll_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while super::next_round(&mut tick, &ctx).await {
        if let Err(error) = services::email::deliver_due(&ctx, &mailer).await {
            tracing::warn!(?error, "email job failed; retrying next round");
        }
    }
}
