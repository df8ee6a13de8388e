//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout, billing renewals and the email outbox; webhook delivery arrives with its capability.

pub mod billing;
pub mod email;
pub mod inactivity;
