//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout, billing renewals, webhook delivery and the email outbox.

pub mod billing;
pub mod email;
pub mod inactivity;
pub mod webhooks;
