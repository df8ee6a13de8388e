//! The signed-in user (from a session cookie or an API token) on whose behalf a use case runs.

use super::ServiceError;
use crate::domain::{ids::AccountId, ids::UserId, role::Role};

#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub role: Role,
    pub name: String,
    pub email: String,
    pub must_change_password: bool,
}

impl Actor {
    /// Fails with `Forbidden` unless the actor's role includes `role`.
    pub fn require(&self, role: Role) -> Result<(), ServiceError> {
        if self.role.at_least(role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this needs the {} role or higher",
                role.as_str()
            )))
        }
    }

    pub fn is_at_least(&self, role: Role) -> bool {
        self.role.at_least(role)
    }
}
