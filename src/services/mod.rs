//! Use cases shared by pages, the REST API, the CLI and (later) WebSockets; each owns its transaction.

pub mod accounts;
pub mod actor;
pub mod attachments;
pub mod billing;
pub mod blocking;
pub mod bots;
pub mod chatbot;
pub mod conversations;
pub mod cursor;
pub mod demo;
pub mod email;
pub mod flows;
pub mod identity;
pub mod insights;
pub mod passwords;
pub mod privacy;
pub mod reports;
pub mod routing;
pub mod shortcuts;
pub mod tokens;
pub mod users;
pub mod views;
pub mod visitors;
pub mod webhooks;
pub mod writer;

pub use crate::context::Context;
pub use crate::error::ServiceError;
pub use actor::Actor;

/// A JSON column read back: one that does not decode is an error (logged as a 500), never a
/// silent default that the next write would store over what was there.
pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    text: &str,
) -> Result<T, ServiceError> {
    serde_json::from_str(text).map_err(|error| {
        ServiceError::Unexpected(anyhow::anyhow!(
            "the stored {column} does not decode: {error}"
        ))
    })
}

/// Random text from an alphabet without look-alike characters (no 0/O, 1/l/I).
pub(crate) fn random_text(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
