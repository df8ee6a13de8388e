//! The password policy for new passwords (NIST 800-63B: length, not composition rules).

use super::FieldError;

/// Shortest password accepted; NIST 800-63B asks for at least 8 characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, so hashing cost stays bounded.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password that meets the policy. Its `Debug` never shows the text.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_overlong_passwords_are_rejected() {
        assert!(NewPassword::parse("password", "short").is_err());
        assert!(NewPassword::parse("password", &"x".repeat(129)).is_err());
        assert!(NewPassword::parse("password", "long enough").is_ok());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = NewPassword::parse("password", "correct horse").expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
    }
}
