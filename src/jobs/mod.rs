//! Background work, each job a loop on a timer that reads the time from the `Clock`:
//! the inactivity timeout now; renewals and webhook delivery arrive with their capabilities.

pub mod inactivity;
