//! Email addresses, normalised to lower case so that one address is one user.

use super::FieldError;
use std::fmt;

/// A syntactically valid email address (trimmed, lower-cased, at most 254 characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_lowercase();
        let invalid = || FieldError::new(field, "must be an email address like name@example.com");
        if value.is_empty() || value.chars().count() > 254 {
            return Err(invalid());
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(invalid());
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("email", "  Jana.Novak@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "jana.novak@example.com");
    }

    #[test]
    fn malformed_addresses_are_rejected_with_the_field_name() {
        for raw in [
            "",
            "plain",
            "a@b",
            "@example.com",
            "a@@example.com",
            "a b@example.com",
            "a@.example.com",
            "a@example..com",
        ] {
            let err = EmailAddress::parse("owner_email", raw).expect_err(raw);
            assert_eq!(err.field, "owner_email", "{raw}");
        }
    }
}
