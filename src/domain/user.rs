//! Users of an account: display names, conversation capacity and presence status.

use super::FieldError;
use serde::{Deserialize, Serialize};

/// Default number of open conversations an agent holds at once (Smartsupp and Chatwoot use 3-10).
pub const DEFAULT_CAPACITY: i32 = 5;
/// Upper bound on capacity; beyond this nobody answers well anyway.
pub const MAX_CAPACITY: i32 = 100;

/// A non-empty display name of at most 80 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if value.chars().count() > 80 {
            return Err(FieldError::new(field, "must be at most 80 characters"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many open conversations an agent may hold at once (1..=100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity(i32);

impl Capacity {
    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        match i32::try_from(raw) {
            Ok(value) if (1..=MAX_CAPACITY).contains(&value) => Ok(Self(value)),
            _ => Err(FieldError::new(
                field,
                format!("must be between 1 and {MAX_CAPACITY}"),
            )),
        }
    }

    pub fn value(self) -> i32 {
        self.0
    }
}

/// Whether an agent takes chats now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Away,
}

impl AgentStatus {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim() {
            "online" => Ok(Self::Online),
            "away" => Ok(Self::Away),
            _ => Err(FieldError::new(field, "must be online or away")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_must_be_between_one_and_the_maximum() {
        assert!(Capacity::parse("capacity", 0).is_err());
        assert!(Capacity::parse("capacity", 101).is_err());
        assert!(Capacity::parse("capacity", i64::MAX).is_err());
        assert_eq!(Capacity::parse("capacity", 7).map(Capacity::value), Ok(7));
    }

    #[test]
    fn names_and_statuses_parse() {
        assert!(DisplayName::parse("name", " ").is_err());
        assert_eq!(AgentStatus::parse("status", "away"), Ok(AgentStatus::Away));
        assert!(AgentStatus::parse("status", "busy").is_err());
    }
}
