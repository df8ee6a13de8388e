//! Webhook rules: the events an endpoint may subscribe to, what an endpoint URL may be, the
//! Stripe-style signature of a body, and the retry schedule.

use super::FieldError;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Every event a webhook endpoint can receive (DESIGN section 7), in the order the UI lists them.
pub const EVENT_KINDS: [&str; 8] = [
    "conversation.created",
    "message.created",
    "conversation.escalated",
    "conversation.resolved",
    "chatbot.limit_warning",
    "chatbot.limit_reached",
    "billing.package_renewed",
    "billing.invoice_created",
];

/// Sent by "Send test event" to one endpoint only; nobody subscribes to it.
pub const TEST_EVENT: &str = "webhook.test";

/// An endpoint listens to every event.
pub const ALL_EVENTS: &str = "*";

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// The longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// An absolute `http` or `https` URL with a host, as given (never rewritten).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if raw.len() > MAX_URL_LEN {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_URL_LEN} characters"),
            ));
        }
        let parsed = url::Url::parse(raw).map_err(|_| {
            FieldError::new(
                field,
                "must be an absolute URL such as https://example.com/hooks",
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FieldError::new(
                field,
                "must start with http:// or https://",
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(FieldError::new(field, "must name a host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(FieldError::new(
                field,
                "must not carry a user name or password; the signature authenticates us",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The events an endpoint subscribes to: every event, or a non-empty set of known ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    All,
    Only(Vec<String>),
}

impl Subscription {
    /// `None` or an empty list, or a list with `*`, is every event; unknown names are refused.
    pub fn parse(field: &str, raw: Option<&[String]>) -> Result<Self, FieldError> {
        let Some(raw) = raw.filter(|list| !list.is_empty()) else {
            return Ok(Self::All);
        };
        if raw.iter().any(|kind| kind == ALL_EVENTS) {
            return Ok(Self::All);
        }
        let mut kinds = Vec::new();
        for kind in raw {
            if !EVENT_KINDS.contains(&kind.as_str()) {
                return Err(FieldError::new(
                    field,
                    format!(
                        "{kind:?} is not an event; use {} or \"*\"",
                        EVENT_KINDS.join(", ")
                    ),
                ));
            }
            if !kinds.contains(kind) {
                kinds.push(kind.clone());
            }
        }
        kinds.sort_by_key(|kind| EVENT_KINDS.iter().position(|known| known == kind));
        Ok(Self::Only(kinds))
    }

    /// As stored: a JSON array, `["*"]` for every event.
    pub fn to_stored(&self) -> String {
        let list: Vec<&str> = match self {
            Self::All => vec![ALL_EVENTS],
            Self::Only(kinds) => kinds.iter().map(String::as_str).collect(),
        };
        serde_json::Value::from(list).to_string()
    }

    /// From the stored JSON; anything unreadable is every event (never silently nothing).
    pub fn from_stored(stored: &str) -> Self {
        let list: Vec<String> = serde_json::from_str(stored).unwrap_or_default();
        Self::parse("events", Some(&list)).unwrap_or(Self::All)
    }

    pub fn includes(&self, kind: &str) -> bool {
        match self {
            Self::All => kind != TEST_EVENT,
            Self::Only(kinds) => kinds.iter().any(|known| known == kind),
        }
    }

    /// The names as shown and returned by the API (`["*"]` for every event).
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::All => vec![ALL_EVENTS.to_owned()],
            Self::Only(kinds) => kinds.clone(),
        }
    }
}

/// The `Frontdesk-Signature` header value for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, as Stripe signs.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Attempts before a delivery is given up as failed. With the default 60 s base and the
/// 6 h cap the retries span about 20 hours: a receiver down for most of a day still gets it.
pub const MAX_ATTEMPTS: i32 = 12;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::hours(6);

/// When to try again after `attempts` failed attempts: `base * 2^(attempts-1)`, capped, with
/// `jitter` (0.0..1.0) adding up to a fifth so endpoints that failed together spread out.
/// `None` once `attempts` reaches `MAX_ATTEMPTS`: the delivery has failed.
pub fn next_attempt(
    now: DateTime<Utc>,
    attempts: i32,
    base: Duration,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let wait_ms = base
        .num_milliseconds()
        .saturating_mul(1_i64 << exponent)
        .min(MAX_BACKOFF.num_milliseconds());
    // Jitter is at most a fifth of the wait; rounding to whole milliseconds is fine.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let extra = (wait_ms as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
    Some(now + Duration::milliseconds(wait_ms + extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_are_endpoints() {
        assert!(EndpointUrl::parse("url", "https://example.com/hooks").is_ok());
        assert!(EndpointUrl::parse("url", "http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "",
            "example.com",
            "/hooks",
            "ftp://example.com",
            "https://u:p@example.com",
        ] {
            assert!(EndpointUrl::parse("url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_event_names_are_refused_and_known_ones_kept_in_order() {
        let list = vec![
            "message.created".to_owned(),
            "conversation.created".to_owned(),
        ];
        assert_eq!(
            Subscription::parse("events", Some(&list)),
            Ok(Subscription::Only(vec![
                "conversation.created".to_owned(),
                "message.created".to_owned()
            ]))
        );
        assert!(Subscription::parse("events", Some(&["nope".to_owned()])).is_err());
        assert_eq!(Subscription::parse("events", None), Ok(Subscription::All));
    }

    #[test]
    fn every_event_excludes_the_test_event_which_goes_to_one_endpoint_only() {
        assert!(Subscription::All.includes("billing.invoice_created"));
        assert!(!Subscription::All.includes(TEST_EVENT));
        let only = Subscription::Only(vec!["message.created".to_owned()]);
        assert!(only.includes("message.created"));
        assert!(!only.includes("conversation.created"));
        assert_eq!(Subscription::from_stored(&only.to_stored()), only);
    }

    #[test]
    fn the_signature_matches_a_known_hmac_sha256() {
        // HMAC-SHA256("key", "1.body"), computed with Python's hmac module.
        assert_eq!(
            signature_header("key", 1, b"body"),
            "t=1,v1=91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5"
        );
        assert_ne!(sign("key", 1, b"body"), sign("key", 1, b"bodz"));
        assert_ne!(sign("key", 1, b"body"), sign("key", 2, b"body"));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_then_stop() {
        let now = Utc::now();
        let base = Duration::seconds(60);
        assert_eq!(
            next_attempt(now, 1, base, 0.0),
            Some(now + Duration::seconds(60))
        );
        assert_eq!(
            next_attempt(now, 3, base, 0.0),
            Some(now + Duration::seconds(240))
        );
        assert_eq!(next_attempt(now, 11, base, 0.0), Some(now + MAX_BACKOFF));
        assert_eq!(
            next_attempt(now, 1, base, 1.0),
            Some(now + Duration::seconds(72))
        );
        assert_eq!(next_attempt(now, MAX_ATTEMPTS, base, 0.0), None);
    }
}
