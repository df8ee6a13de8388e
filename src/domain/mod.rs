//! Pure product rules and the types that can only be built valid; no actix, sea-orm or askama here.

pub mod account;
pub mod attachment;
pub mod billing;
pub mod blocking;
pub mod bot;
pub mod business_hours;
pub mod conversation;
pub mod email;
pub mod flow;
pub mod identity;
pub mod ids;
pub mod mail;
pub mod package;
pub mod password;
pub mod plan;
pub mod privacy;
pub mod report;
pub mod role;
pub mod routing;
pub mod user;
pub mod visitor;
pub mod webhook;

/// One rejected input field: which field and why, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
