//! Blocking visitors: the reason an agent gives, and how an address is written so the same
//! address always compares equal.

use super::FieldError;
use std::net::IpAddr;

/// Longest reason kept: a sentence or two for colleagues, not a case file.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a visitor was blocked: trimmed, non-empty, at most [`MAX_REASON_CHARS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockReason(String);

impl BlockReason {
    /// `None` for a missing or blank reason (a reason is optional).
    pub fn parse(field: &str, raw: Option<&str>) -> Result<Option<Self>, FieldError> {
        let Some(text) = raw.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > MAX_REASON_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_REASON_CHARS} characters"),
            ));
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The address as stored and compared: an IPv4 address that arrived mapped into IPv6
/// (`::ffff:203.0.113.7`, as a dual-stack listener reports it) is written as IPv4.
pub fn address_text(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_reason_is_no_reason_and_a_long_one_is_refused() {
        assert_eq!(BlockReason::parse("reason", None), Ok(None));
        assert_eq!(BlockReason::parse("reason", Some("   ")), Ok(None));
        assert_eq!(
            BlockReason::parse("reason", Some(" spam ")).map(|r| r.map(BlockReason::into_inner)),
            Ok(Some("spam".to_owned()))
        );
        assert!(BlockReason::parse("reason", Some(&"x".repeat(MAX_REASON_CHARS + 1))).is_err());
    }

    #[test]
    fn mapped_ipv4_addresses_are_written_as_ipv4() {
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("address");
        assert_eq!(address_text(mapped), "203.0.113.7");
        let v6: IpAddr = "2001:db8::1".parse().expect("address");
        assert_eq!(address_text(v6), "2001:db8::1");
    }
}
