//! Roles of users within an account: owner > admin > agent.

use super::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Agent];

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            _ => Err(FieldError::new(field, "must be one of owner, admin, agent")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Agent => "Agent",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Agent => 0,
            Role::Admin => 1,
            Role::Owner => 2,
        }
    }

    /// Whether this role includes every right of `other`.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_owner_admin_agent() {
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Admin.at_least(Role::Agent));
        assert!(!Role::Agent.at_least(Role::Admin));
        assert!(!Role::Admin.at_least(Role::Owner));
    }

    #[test]
    fn roles_round_trip_and_unknown_ones_fail() {
        for role in Role::ALL {
            assert_eq!(Role::parse("role", role.as_str()), Ok(role));
        }
        assert!(Role::parse("role", "superuser").is_err());
    }
}
