//! Opaque cursors for newest-first lists (conversations, the billing ledger, the audit log): the last
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

/// The position a `cursor` parameter continues after: none when absent or empty.
pub fn decode_param(
    raw: Option<&str>,
) -> Result<Option<(DateTime<Utc>, uuid::Uuid)>, ServiceError> {
    raw.filter(|c| !c.is_empty()).map(decode).transpose()
}

/// One page of a newest-first list read with one row more than `limit`: its first `limit`
/// rows and, when there were more, the cursor after the last of them (`key` gives a row's
/// time and id).
pub fn page<T>(
    mut rows: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> (DateTime<Utc>, uuid::Uuid),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(|row| {
            let (at, id) = key(row);
            encode(at, id)
        })
    } else {
        None
    };
    (rows, next)
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
