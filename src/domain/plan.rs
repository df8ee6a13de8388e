//! Plan codes. The numbers of each plan (allowance, package cap, prices) live in the database.

use super::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanCode {
    Free,
    Solo,
    Plus,
    Expert,
    /// Legacy: kept for existing accounts, not offered to new sign-ups.
    Standard,
    /// Legacy: kept for existing accounts, not offered to new sign-ups.
    Pro,
}

impl PlanCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "FREE" => Ok(Self::Free),
            "SOLO" => Ok(Self::Solo),
            "PLUS" => Ok(Self::Plus),
            "EXPERT" => Ok(Self::Expert),
            "STANDARD" => Ok(Self::Standard),
            "PRO" => Ok(Self::Pro),
            _ => Err(FieldError::new(
                field,
                "must be one of FREE, SOLO, PLUS, EXPERT (or legacy STANDARD, PRO)",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "FREE",
            Self::Solo => "SOLO",
            Self::Plus => "PLUS",
            Self::Expert => "EXPERT",
            Self::Standard => "STANDARD",
            Self::Pro => "PRO",
        }
    }

    pub fn is_legacy(self) -> bool {
        matches!(self, Self::Standard | Self::Pro)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_codes_parse_case_insensitively() {
        assert_eq!(PlanCode::parse("plan", "plus"), Ok(PlanCode::Plus));
        assert_eq!(PlanCode::parse("plan", "PRO"), Ok(PlanCode::Pro));
        assert!(PlanCode::parse("plan", "GOLD").is_err());
    }

    #[test]
    fn only_standard_and_pro_are_legacy() {
        assert!(PlanCode::Standard.is_legacy() && PlanCode::Pro.is_legacy());
        assert!(!PlanCode::Solo.is_legacy() && !PlanCode::Free.is_legacy());
    }
}
