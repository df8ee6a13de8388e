//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout, billing renewals, webhook and bot event delivery, the email outbox
//! and retention. With several nodes, billing, inactivity and retention run on the node
//! holding their lease (`lease`); webhooks and emails are claimed one by one. On shutdown each
//! job ends after the round under way.

pub mod billing;
pub mod bots;
pub mod email;
pub mod inactivity;
pub mod lease;
pub mod retention;
pub mod webhooks;

use crate::services::Context;

/// Waits for a job's next round: `true` at its tick, `false` once the node is shutting down.
/// A job checks between rounds, so a round under way finishes and commits first.
pub async fn next_round(tick: &mut tokio::time::Interval, ctx: &Context) -> bool {
    tokio::select! {
        biased;
        () = ctx.hub.closing() => false,
        _ = tick.tick() => true,
    }
}
