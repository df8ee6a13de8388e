//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout, billing renewals and webhook delivery.

pub mod billing;
pub mod inactivity;
pub mod webhooks;
