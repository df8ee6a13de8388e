//! The demo account: an owner, an admin and two agents with printed passwords, so a newcomer can
//! sign in and chat within a minute.

use super::{Context, ServiceError, accounts, random_text, users};
use crate::domain::{
    account::AccountName, email::EmailAddress, ids::AccountId, password::NewPassword,
    plan::PlanCode, role::Role, user::DisplayName,
};

/// The demo's users: role, email, name.
const DEMO_USERS: [(Role, &str, &str); 4] = [
    (Role::Owner, "owner@demo.test", "Olivia Owner"),
    (Role::Admin, "admin@demo.test", "Adam Admin"),
    (Role::Agent, "alice@demo.test", "Alice Agent"),
    (Role::Agent, "bob@demo.test", "Bob Agent"),
];

#[derive(Clone, Debug)]
pub struct DemoLogin {
    pub role: Role,
    pub email: String,
    pub password: String,
}

#[derive(Clone, Debug)]
pub struct Demo {
    pub account_id: AccountId,
    pub widget_key: String,
    pub created: bool,
    pub logins: Vec<DemoLogin>,
}

impl Demo {
    /// The printed login of this demo user (e.g. `alice@demo.test`).
    pub fn login(&self, email: &str) -> Option<&DemoLogin> {
        self.logins.iter().find(|login| login.email == email)
    }
}

fn parse_err(error: crate::domain::FieldError) -> ServiceError {
    ServiceError::Unexpected(anyhow::anyhow!("demo data is invalid: {error}"))
}

/// The instance setting recording which process created the demo on first start.
const DEMO_CLAIM: &str = "demo_claim";

/// Whether this process is the one to create the demo account on a new database. Nodes
/// started together all find no account; the first to record its claim creates the demo,
/// the others leave it alone (seeding it again would fail, or give the users new passwords
/// behind the logins the first node printed).
pub async fn claim_first_demo(ctx: &Context) -> Result<bool, ServiceError> {
    let claim = random_text(24);
    let winner =
        crate::storage::instance::get_or_insert(&ctx.db, DEMO_CLAIM, claim.clone()).await?;
    Ok(winner == claim)
}

/// Creates the demo account, or, when it exists, gives its users fresh passwords.
#[tracing::instrument(skip_all)]
pub async fn seed_demo(ctx: &Context) -> Result<Demo, ServiceError> {
    let mut logins = Vec::new();
    let (owner_role, owner_email, owner_name) = DEMO_USERS[0];
    let owner_address = EmailAddress::parse("email", owner_email).map_err(parse_err)?;
    let owner_password = random_text(12);
    let (account_id, created) = match users::find_by_email(ctx, &owner_address).await {
        Ok(owner) => {
            users::reset_password(ctx, owner.id, &owner_password).await?;
            (owner.account_id, false)
        }
        Err(ServiceError::NotFound) => {
            let created = accounts::create_account(
                ctx,
                accounts::NewAccount {
                    name: AccountName::parse("name", "Demo Shop").map_err(parse_err)?,
                    plan: PlanCode::Plus,
                    owner_email: owner_address,
                    owner_name: DisplayName::parse("name", owner_name).map_err(parse_err)?,
                    owner_password: NewPassword::parse("password", &owner_password)
                        .map_err(parse_err)?,
                    billing_anchor: None,
                },
            )
            .await?;
            (created.account_id, true)
        }
        Err(error) => return Err(error),
    };
    logins.push(DemoLogin {
        role: owner_role,
        email: owner_email.to_owned(),
        password: owner_password,
    });
    for (role, email, name) in &DEMO_USERS[1..] {
        let address = EmailAddress::parse("email", email).map_err(parse_err)?;
        let password = random_text(12);
        match users::find_by_email(ctx, &address).await {
            Ok(user) => users::reset_password(ctx, user.id, &password).await?,
            Err(ServiceError::NotFound) => {
                users::create_user_as_operator(
                    ctx,
                    account_id,
                    users::NewUser {
                        email: address,
                        name: DisplayName::parse("name", name).map_err(parse_err)?,
                        role: *role,
                        password: Some(
                            NewPassword::parse("password", &password).map_err(parse_err)?,
                        ),
                    },
                )
                .await?;
            }
            Err(error) => return Err(error),
        }
        logins.push(DemoLogin {
            role: *role,
            email: (*email).to_owned(),
            password,
        });
    }
    if created {
        seed_demo_flow(ctx, account_id).await?;
    }
    let account = accounts::get_account(ctx, account_id).await?;
    Ok(Demo {
        account_id,
        widget_key: account.widget_key,
        created,
        logins,
    })
}

/// The demo shop's flow: every step type (message with buttons and a link, collect, tag,
/// handover with context, end), for the demo website.
fn demo_flow() -> serde_json::Value {
    serde_json::json!({
        "name": "Demo shop assistant",
        "enabled": true,
        "priority": 10,
        "welcome": "Hi! Looking for the right tea? I can help.",
        "trigger": {
            "when": {"type": "delay", "seconds": 3},
            "audience": {"visitors": "all", "languages": ["en"]},
            "frequency": "once_per_session"
        },
        "start": "menu",
        "steps": {
            "menu": {"type": "message", "text": "What can I help you with?", "buttons": [
                {"id": "shipping", "label": "Shipping times", "next": "shipping"},
                {"id": "wholesale", "label": "Wholesale orders", "next": "tag_wholesale"},
                {"id": "human", "label": "Talk to a person", "next": "handover"}]},
            "shipping": {"type": "message", "text": "We ship within 2 working days; Europe takes 3 to 5 more.", "buttons": [
                {"id": "back", "label": "Back", "next": "menu"},
                {"id": "thanks", "label": "That helped", "next": "bye"},
                {"id": "policy", "label": "Shipping policy", "url": "https://example.com/shipping"}]},
            "tag_wholesale": {"type": "tag", "tags": ["wholesale"], "next": "email"},
            "email": {"type": "collect", "field": "email", "prompt": "Which email should our wholesale team write to?", "next": "handover_sales"},
            "handover_sales": {"type": "handover", "message": "Thanks! Our sales team takes it from here.", "context": {"topic": "wholesale"}},
            "handover": {"type": "handover", "message": "Connecting you to our team.", "context": {"topic": "support"}},
            "bye": {"type": "end", "message": "Glad I could help. Enjoy your tea!"}
        }
    })
}

async fn seed_demo_flow(ctx: &Context, account_id: AccountId) -> Result<(), ServiceError> {
    let owner = super::Actor {
        user_id: users::find_by_email(
            ctx,
            &EmailAddress::parse("email", DEMO_USERS[0].1).map_err(parse_err)?,
        )
        .await?
        .id,
        account_id,
        role: Role::Owner,
        name: DEMO_USERS[0].2.to_owned(),
        email: DEMO_USERS[0].1.to_owned(),
        must_change_password: false,
    };
    super::flows::create(ctx, &owner, &demo_flow()).await?;
    seed_demo_teams(ctx, &owner).await
}

/// Two teams and the rules that route the demo flow's handovers: "Support" (Alice, the
/// default) and "Sales" (Bob), chosen by the `topic` the handover sets.
async fn seed_demo_teams(ctx: &Context, owner: &super::Actor) -> Result<(), ServiceError> {
    use super::routing::{RuleInput, TeamInput, create_team, save_rule};
    use crate::domain::{
        flow::definition::{Match, Operator},
        routing::RuleCondition,
    };
    let mut teams = Vec::new();
    for (name, email) in [("Support", DEMO_USERS[2].1), ("Sales", DEMO_USERS[3].1)] {
        let member = users::find_by_email(
            ctx,
            &EmailAddress::parse("email", email).map_err(parse_err)?,
        )
        .await?;
        let team = create_team(
            ctx,
            owner,
            TeamInput {
                name: name.to_owned(),
                is_default: name == "Support",
                shared_queue: false,
                members: vec![member.id.as_uuid()],
            },
        )
        .await?;
        teams.push(team.id);
    }
    for (topic, team) in [("wholesale", teams[1]), ("support", teams[0])] {
        save_rule(
            ctx,
            owner,
            None,
            RuleInput {
                name: format!("Topic {topic}"),
                match_: Match::All,
                conditions: vec![RuleCondition {
                    field: "context.topic".to_owned(),
                    op: Operator::Equals,
                    value: topic.to_owned(),
                }],
                team_id: team,
                position: None,
                target: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// The demo account's widget key, when the demo account exists (for the `/demo` website).
pub async fn widget_key(ctx: &Context) -> Result<Option<String>, ServiceError> {
    let owner = EmailAddress::parse("email", DEMO_USERS[0].1).map_err(parse_err)?;
    match users::find_by_email(ctx, &owner).await {
        Ok(user) => Ok(Some(
            accounts::get_account(ctx, user.account_id)
                .await?
                .widget_key,
        )),
        Err(ServiceError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}
