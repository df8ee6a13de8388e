//! Verified visitor identity (DESIGN section 12): checks a signed identity against the
//! account's secret, links every device of one verified user to one visitor, and enforces
//! `require_verified_identity` on `identify`.

use super::{
    Context, ServiceError,
    visitors::{self, IdentifyInput},
};
use crate::{
    domain::{
        email::EmailAddress,
        identity::{UserId, signature_is_valid, verified_visitor_token},
        ids::{AccountId, VisitorId},
        user::DisplayName,
    },
    realtime::protocol::Identity,
    storage::{self, entities::account},
};

/// Error frame code of an identity whose signature (or user id) is not valid.
pub const IDENTITY_INVALID: &str = "identity_invalid";
/// Error frame code of an unsigned `identify` while the account requires verified identity.
pub const IDENTITY_REQUIRED: &str = "identity_required";

/// A checked identity: the user, the visitor token every device of the user shares, and the
/// contact fields it vouches for (an invalid email or name is dropped, not trusted).
#[derive(Clone, Debug)]
pub struct Verified {
    pub user_id: UserId,
    pub token: String,
    pub email: Option<EmailAddress>,
    pub name: Option<DisplayName>,
}

fn invalid(message: &str) -> ServiceError {
    ServiceError::Refused {
        code: IDENTITY_INVALID,
        message: message.to_owned(),
    }
}

/// Checks the signature in constant time; `identity_invalid` when it does not hold.
pub fn check(account: &account::Model, identity: &Identity) -> Result<Verified, ServiceError> {
    let user_id = UserId::parse("identity.user_id", &identity.user_id)
        .map_err(|error| invalid(&error.to_string()))?;
    let Some(secret) = account.identity_secret.as_deref() else {
        return Err(invalid(
            "this account has no identity secret yet; generate one in settings",
        ));
    };
    if !signature_is_valid(secret, &user_id, &identity.signature) {
        return Err(invalid(
            "the identity signature is not hex HMAC-SHA256(identity secret, user_id)",
        ));
    }
    Ok(Verified {
        token: verified_visitor_token(secret, &account.id.to_string(), &user_id),
        user_id,
        email: identity
            .email
            .as_deref()
            .and_then(|raw| EmailAddress::parse("identity.email", raw).ok()),
        name: identity
            .name
            .as_deref()
            .and_then(|raw| DisplayName::parse("identity.name", raw).ok()),
    })
}

/// What an `identify` with an identity changed for the socket.
#[derive(Debug)]
pub enum Identified {
    /// Stored on the visitor of this socket.
    Done,
    /// Verified: the widget keeps `visitor_token` from now on; with `reconnect` the user's
    /// visitor is another one (another device came first), so the widget says hello again.
    Verified {
        visitor_token: String,
        reconnect: bool,
    },
}

/// `identify` from the widget: contact details, optionally with a signed identity.
#[tracing::instrument(skip_all, fields(%account_id, %visitor_id))]
pub async fn identify(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
    mut input: IdentifyInput,
    identity: Option<Identity>,
) -> Result<Identified, ServiceError> {
    let account = storage::accounts::find(&ctx.db, account_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let verified = match &identity {
        Some(identity) => Some(check(&account, identity)?),
        None if account.require_verified_identity => {
            return Err(ServiceError::Refused {
                code: IDENTITY_REQUIRED,
                message: "this site accepts identify only with a valid identity signature"
                    .to_owned(),
            });
        }
        None => None,
    };
    let Some(verified) = verified else {
        visitors::identify(ctx, account_id, visitor_id, input).await?;
        return Ok(Identified::Done);
    };
    let current =
        storage::visitors::find_in_account(&ctx.db, account_id.as_uuid(), visitor_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let user = verified.user_id.as_str();
    let outcome = if current.verified_user_id.as_deref() == Some(user) {
        Identified::Done
    } else {
        let other = storage::visitors::find_verified(&ctx.db, account_id.as_uuid(), user).await?;
        if other.is_some() || current.verified_user_id.is_some() {
            // The user's visitor is another one (or this browser belongs to another user):
            // the widget reconnects with the user's token and the hello links it.
            return Ok(Identified::Verified {
                visitor_token: verified.token,
                reconnect: true,
            });
        }
        visitors::mark_verified(ctx, &current, &verified).await?;
        Identified::Verified {
            visitor_token: verified.token.clone(),
            reconnect: false,
        }
    };
    input.email = input
        .email
        .or_else(|| verified.email.map(|e| e.as_str().to_owned()));
    input.name = input
        .name
        .or_else(|| verified.name.map(|n| n.as_str().to_owned()));
    visitors::identify(ctx, account_id, visitor_id, input).await?;
    Ok(outcome)
}
