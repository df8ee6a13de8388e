//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout, billing renewals, webhook delivery and the email outbox. With several
//! nodes, billing and inactivity run on the node holding their lease (`lease`); webhooks and
//! emails are claimed one by one.

pub mod billing;
pub mod email;
pub mod inactivity;
pub mod lease;
pub mod webhooks;
