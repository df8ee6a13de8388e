//! Typed identifiers: public, opaque UUIDs (v7, time-ordered) that cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id, ordered by creation time.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An account (tenant): one website owner's workspace.
    AccountId
);
uuid_id!(
    /// A user of an account: owner, admin or agent.
    UserId
);
uuid_id!(
    /// An API token (its public id, never the secret).
    ApiTokenId
);
uuid_id!(
    /// A website visitor (a browser, known by its visitor token).
    VisitorId
);
uuid_id!(
    /// A file attached to a message. Generated with `AttachmentId::random` (v4: 122 random
    /// bits), since its id is part of its download URL and must not be guessable.
    AttachmentId
);
uuid_id!(
    /// A conversation between a visitor and the account's bot and agents.
    ConversationId
);
uuid_id!(
    /// One message of a conversation.
    MessageId
);
uuid_id!(
    /// A chatbot flow.
    FlowId
);

impl AttachmentId {
    /// A fresh, unguessable id (UUID v4), unlike the time-ordered `generate`.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = AccountId::generate();
        let parsed: AccountId = id.to_string().parse().expect("parses");
        assert_eq!(id, parsed);
    }

    #[test]
    fn an_id_that_is_not_a_uuid_is_rejected() {
        assert!("42".parse::<UserId>().is_err());
    }
}
