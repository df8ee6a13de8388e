//! Data protection rules that need no storage: how a visitor's IP address is anonymised when
//! the account asks for it (`anonymize_ips`), and the account's retention period.

use super::FieldError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest retention period accepted: ten years, beyond which "keep forever" (null) says it.
const MAX_RETENTION_DAYS: i64 = 3650;

/// How many days resolved conversations are kept (`retention_days`): 1 to 3650.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionDays(i32);

impl RetentionDays {
    pub fn parse(field: &str, days: i64) -> Result<Self, FieldError> {
        if (1..=MAX_RETENTION_DAYS).contains(&days) {
            i32::try_from(days)
                .map(Self)
                .map_err(|_| FieldError::new(field, "is too large"))
        } else {
            Err(FieldError::new(
                field,
                format!(
                    "must be a number of days from 1 to {MAX_RETENTION_DAYS}, or null to keep conversations forever"
                ),
            ))
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// The address with its host part dropped: IPv4 keeps its first three octets (the last is
/// zeroed, a /24 network), IPv6 its first 48 bits (a site's /48), as Google Analytics does.
/// An IPv4 address mapped into IPv6 is treated as IPv4.
pub fn anonymize_ip(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

/// [`anonymize_ip`] of an address written as text; text that is no address is kept as it is.
pub fn anonymize_ip_text(text: &str) -> String {
    match text.parse::<IpAddr>() {
        Ok(ip) => anonymize_ip(ip).to_string(),
        Err(_) => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_one_day_to_ten_years() {
        assert_eq!(RetentionDays::parse("d", 1).map(RetentionDays::get), Ok(1));
        assert_eq!(
            RetentionDays::parse("d", 3650).map(RetentionDays::get),
            Ok(3650)
        );
        assert!(RetentionDays::parse("d", 0).is_err());
        assert!(RetentionDays::parse("d", -3).is_err());
        assert!(RetentionDays::parse("d", 3651).is_err());
    }

    #[test]
    fn ipv4_loses_its_last_octet_and_ipv6_keeps_48_bits() {
        assert_eq!(anonymize_ip_text("203.0.113.77"), "203.0.113.0");
        assert_eq!(anonymize_ip_text("::ffff:203.0.113.77"), "203.0.113.0");
        assert_eq!(
            anonymize_ip_text("2001:db8:abcd:12:1:2:3:4"),
            "2001:db8:abcd::"
        );
        assert_eq!(anonymize_ip_text("not an ip"), "not an ip");
    }
}
