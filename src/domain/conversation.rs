//! Conversations and messages: status and handler kept apart, authors, message text and
//! client ids, tags and ratings.

use super::FieldError;
use serde::{Deserialize, Serialize};

/// Default longest message, in characters (configurable per server).
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 5_000;
/// Longest client-chosen message id (a UUID is 36).
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Characters of the last message kept for conversation lists.
pub const PREVIEW_CHARS: usize = 140;

/// Whether a conversation still needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Resolved,
}

/// Who answers the visitor now; independent of the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handler {
    Bot,
    Human,
    None,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Visitor,
    Agent,
    Bot,
    System,
}

macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                match raw { $($text => Ok(Self::$variant),)+ _ => Err(FieldError::new(
                    field, concat!("must be one of", $(" ", $text),+))) }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(ConversationStatus { Open => "open", Resolved => "resolved" });
string_enum!(Handler { Bot => "bot", Human => "human", None => "none" });
string_enum!(AuthorKind { Visitor => "visitor", Agent => "agent", Bot => "bot", System => "system" });

/// Message text: not blank, at most the configured number of characters; stored as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

/// Why a text was refused (the wire protocol names each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextProblem {
    Empty,
    TooLong,
}

impl MessageText {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, TextProblem> {
        if raw.trim().is_empty() {
            return Err(TextProblem::Empty);
        }
        if raw.chars().count() > max_chars {
            return Err(TextProblem::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text beside files: it may be blank (a message that is only files), never too long.
    pub fn parse_beside_files(raw: &str, max_chars: usize) -> Result<Self, TextProblem> {
        match Self::parse(raw, max_chars) {
            Err(TextProblem::Empty) => Ok(Self(raw.trim().to_owned())),
            other => other,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The start of the text on one line, for lists.
    pub fn preview(&self) -> String {
        let line = self.0.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.chars().count() <= PREVIEW_CHARS {
            line
        } else {
            let mut cut: String = line.chars().take(PREVIEW_CHARS - 1).collect();
            cut.push('…');
            cut
        }
    }

    pub fn field_error(field: &str, problem: TextProblem, max_chars: usize) -> FieldError {
        match problem {
            TextProblem::Empty => FieldError::new(field, "must not be empty"),
            TextProblem::TooLong => {
                FieldError::new(field, format!("must be at most {max_chars} characters"))
            }
        }
    }
}

/// The id a client picks for a message so a resend is recognised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() || value.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be 1 to {MAX_CLIENT_ID_CHARS} characters"),
            ));
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(FieldError::new(
                field,
                "must not contain spaces or control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// A fresh id for messages the server writes itself (agents through forms, system notes).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A conversation tag: lower-case, 1 to 64 characters, no spaces at the ends.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control) {
            return Err(FieldError::new(field, "must be 1 to 64 characters"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A visitor's rating of a conversation, 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rating(i16);

impl Rating {
    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        match i16::try_from(raw) {
            Ok(value) if (1..=5).contains(&value) => Ok(Self(value)),
            _ => Err(FieldError::new(field, "must be a whole number from 1 to 5")),
        }
    }

    pub fn value(self) -> i16 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_overlong_texts_are_refused_and_others_kept_as_sent() {
        assert_eq!(MessageText::parse("  \n ", 10), Err(TextProblem::Empty));
        assert_eq!(
            MessageText::parse_beside_files("  \n ", 10).map(|t| t.as_str().to_owned()),
            Ok(String::new())
        );
        assert_eq!(
            MessageText::parse_beside_files("elevenchars", 10),
            Err(TextProblem::TooLong)
        );
        assert_eq!(
            MessageText::parse("elevenchars", 10),
            Err(TextProblem::TooLong)
        );
        assert_eq!(
            MessageText::parse("čaues ", 6).map(|t| t.as_str().to_owned()),
            Ok("čaues ".to_owned())
        );
    }

    #[test]
    fn previews_are_one_line_and_bounded() {
        let text = MessageText::parse(&format!("a\nb {}", "x".repeat(300)), 5_000).expect("valid");
        let preview = text.preview();
        assert!(preview.starts_with("a b x"));
        assert_eq!(preview.chars().count(), PREVIEW_CHARS);
        assert!(preview.ends_with('…'));
    }

    #[test]
    fn client_ids_are_bounded_and_printable() {
        assert!(ClientId::parse("client_id", "").is_err());
        assert!(ClientId::parse("client_id", &"x".repeat(65)).is_err());
        assert!(ClientId::parse("client_id", "a b").is_err());
        assert!(ClientId::parse("client_id", "6f1c-42").is_ok());
    }

    #[test]
    fn ratings_tags_and_enums_parse() {
        assert!(Rating::parse("value", 0).is_err() && Rating::parse("value", 6).is_err());
        assert_eq!(Rating::parse("value", 5).map(Rating::value), Ok(5));
        assert_eq!(
            Tag::parse("tags", " VIP ").map(|t| t.as_str().to_owned()),
            Ok("vip".to_owned())
        );
        assert_eq!(Handler::parse("handler", "human"), Ok(Handler::Human));
        assert!(ConversationStatus::parse("status", "closed").is_err());
        assert_eq!(AuthorKind::System.as_str(), "system");
    }
}
