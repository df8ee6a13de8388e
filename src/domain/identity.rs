//! Verified visitor identity: the site's server signs its user's id with the account's
//! identity secret (hex HMAC-SHA256(secret, user_id), as Intercom and Crisp do), and only a
//! valid signature lets a visitor be shown as that user and see that user's conversations.

use super::FieldError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest user id accepted: ids of other systems (UUIDs, numbers, emails) fit easily.
pub const MAX_USER_ID_CHARS: usize = 200;

/// A user id of the account's own system: trimmed, non-empty, bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if value.chars().count() > MAX_USER_ID_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_USER_ID_CHARS} characters"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn mac(secret: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC accepts a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The signature the site's server computes: hex HMAC-SHA256(secret, user_id).
pub fn signature(secret: &str, user_id: &UserId) -> String {
    hex::encode(
        mac(secret, &[user_id.as_str().as_bytes()])
            .finalize()
            .into_bytes(),
    )
}

/// Whether `signature` (hex, either case) is the user id's signature; compared in constant
/// time, so timing reveals nothing about the right value.
pub fn signature_is_valid(secret: &str, user_id: &UserId, signature: &str) -> bool {
    let Ok(bytes) = hex::decode(signature.trim()) else {
        return false;
    };
    mac(secret, &[user_id.as_str().as_bytes()])
        .verify_slice(&bytes)
        .is_ok()
}

/// The visitor token every device of one verified user gets: a keyed hash of the account and
/// user id under the account's identity secret, so two browsers of the same user share one
/// visitor, nobody without the secret can work it out, and a new secret makes new tokens.
pub fn verified_visitor_token(secret: &str, account: &str, user_id: &UserId) -> String {
    let digest = mac(
        secret,
        &[
            b"frontdesk verified visitor\0",
            account.as_bytes(),
            b"\0",
            user_id.as_str().as_bytes(),
        ],
    )
    .finalize()
    .into_bytes();
    // 32 hex characters: 128 bits, as unguessable as a random visitor token.
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_user_id() {
        // HMAC-SHA256("secret", "user-42"), computed with Python's hmac module.
        let user = UserId::parse("user_id", "user-42").expect("valid");
        let expected = "e286b7b944100ab478fe553b39122922de0000aee1d04087dc3e96eefc3a8d47";
        let computed = signature("secret", &user);
        assert_eq!(computed, expected);
        assert!(signature_is_valid("secret", &user, &computed));
        assert!(signature_is_valid(
            "secret",
            &user,
            &computed.to_uppercase()
        ));
        assert!(!signature_is_valid("other", &user, &computed));
        assert!(!signature_is_valid("secret", &user, "not hex"));
        assert!(!signature_is_valid("secret", &user, ""));
    }

    #[test]
    fn verified_tokens_are_the_same_for_one_user_and_differ_between_users_and_accounts() {
        let a = UserId::parse("u", "a").expect("valid");
        let b = UserId::parse("u", "b").expect("valid");
        let token = verified_visitor_token("key", "acc1", &a);
        assert_eq!(token, verified_visitor_token("key", "acc1", &a));
        assert_ne!(token, verified_visitor_token("key", "acc1", &b));
        assert_ne!(token, verified_visitor_token("key", "acc2", &a));
        assert_ne!(token, verified_visitor_token("other", "acc1", &a));
    }

    #[test]
    fn user_ids_are_trimmed_and_bounded() {
        assert_eq!(UserId::parse("u", " 7 ").expect("valid").as_str(), "7");
        assert!(UserId::parse("u", " ").is_err());
        assert!(UserId::parse("u", &"x".repeat(MAX_USER_ID_CHARS + 1)).is_err());
    }
}
