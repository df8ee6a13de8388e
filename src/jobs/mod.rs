//! Background work (renewals, the inactivity timeout, webhook delivery) runs from here; each job
//! arrives with the capability that needs it.
