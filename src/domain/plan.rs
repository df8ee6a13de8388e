//! Plan codes, and what moving from one plan to another does. The numbers of each plan
//! (allowance, package cap, prices) live in the database.

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

/// The numbers of a plan that a plan change compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanTerms {
    pub chatbot_conversations: i32,
    pub price_minor: i64,
}

/// When a move to another plan takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanChange {
    /// More chatbot conversations (or as many for no lower price): at once.
    Upgrade,
    /// At the next renewal.
    Downgrade,
}

/// Whether moving from `current` to `target` is an upgrade or a downgrade.
pub fn change(current: PlanTerms, target: PlanTerms) -> PlanChange {
    if target.chatbot_conversations > current.chatbot_conversations
        || (target.chatbot_conversations == current.chatbot_conversations
            && target.price_minor >= current.price_minor)
    {
        PlanChange::Upgrade
    } else {
        PlanChange::Downgrade
    }
}

/// What an upgrade costs for the rest of the current period: the whole difference in price
/// (not prorated), never negative.
pub fn upgrade_charge(current: PlanTerms, target: PlanTerms) -> i64 {
    (target.price_minor - current.price_minor).max(0)
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

    fn terms(chatbot_conversations: i32, price_minor: i64) -> PlanTerms {
        PlanTerms {
            chatbot_conversations,
            price_minor,
        }
    }

    #[test]
    fn more_conversations_is_an_upgrade_and_fewer_a_downgrade() {
        assert_eq!(
            change(terms(100, 1900), terms(500, 4900)),
            PlanChange::Upgrade
        );
        assert_eq!(
            change(terms(500, 4900), terms(100, 1900)),
            PlanChange::Downgrade
        );
        assert_eq!(
            change(terms(500, 4900), terms(500, 5900)),
            PlanChange::Upgrade,
            "as many conversations for more"
        );
        assert_eq!(
            change(terms(500, 4900), terms(500, 3900)),
            PlanChange::Downgrade,
            "as many conversations for less"
        );
        assert_eq!(
            change(terms(500, 9900), terms(2000, 4900)),
            PlanChange::Upgrade,
            "more conversations for less"
        );
    }

    #[test]
    fn an_upgrade_charges_the_difference_and_never_a_credit() {
        assert_eq!(upgrade_charge(terms(100, 1900), terms(500, 4900)), 3000);
        assert_eq!(upgrade_charge(terms(500, 9900), terms(2000, 4900)), 0);
    }
}
