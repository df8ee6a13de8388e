//! Opaque cursors for newest-first lists (conversations, the billing ledger): the last
//! item's time and id, hex-encoded so clients treat them as tokens.

use crate::{domain::FieldError, error::ServiceError};
use chrono::{DateTime, Utc};

/// The cursor after an item with this time and id.
pub fn encode(at: DateTime<Utc>, id: uuid::Uuid) -> String {
    hex::encode(format!("{}|{id}", at.to_rfc3339()))
}

/// The time and id a cursor from [`encode`] carries; anything else is a 422 on `cursor`.
pub fn decode(raw: &str) -> Result<(DateTime<Utc>, uuid::Uuid), ServiceError> {
    let invalid = || {
        ServiceError::invalid(FieldError::new(
            "cursor",
            "is not a cursor from a previous page",
        ))
    };
    let bytes = hex::decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    Ok((
        DateTime::parse_from_rfc3339(at)
            .map_err(|_| invalid())?
            .with_timezone(&Utc),
        id.parse().map_err(|_| invalid())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let at = Utc::now();
        let id = uuid::Uuid::new_v4();
        let (back_at, back_id) = decode(&encode(at, id)).expect("valid");
        assert_eq!(
            (back_at.timestamp_micros(), back_id),
            (at.timestamp_micros(), id)
        );
        assert!(decode("zz").is_err());
        assert!(decode(&hex::encode("no bar")).is_err());
    }
}
