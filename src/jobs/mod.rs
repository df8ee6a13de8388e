//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout and billing renewals; webhook delivery arrives with its capability.

pub mod billing;
pub mod inactivity;
