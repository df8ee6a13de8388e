//! Accounts: creating a tenant with its owner, reading it, and changing its name and allowed domains.

use super::{Actor, Context, ServiceError, random_text, users};
use crate::{
    domain::{
        FieldError,
        account::{AccountName, AllowedOrigin, widget},
        business_hours::{BusinessHours, BusinessHoursInput, NextReply},
        email::EmailAddress,
        ids::{AccountId, UserId},
        password::NewPassword,
        plan::PlanCode,
        privacy::RetentionDays,
        role::Role,
        user::DisplayName,
    },
    storage::{self, entities::account},
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};

/// A plan as accounts see it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub chatbot_conversations: i32,
    pub package_cap: i32,
    pub price_minor: i64,
    pub currency: String,
    pub legacy: bool,
}

impl Plan {
    /// The price as people read it: "49.00 USD".
    pub fn price_label(&self) -> String {
        format!(
            "{}.{:02} {}",
            self.price_minor / 100,
            self.price_minor % 100,
            self.currency
        )
    }
}

/// The widget's brand colour until the owner picks one.
pub const DEFAULT_WIDGET_COLOR: &str = "#2f5bea";

/// How the widget looks and what it says, per account.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WidgetLook {
    /// `#rrggbb`.
    pub color: String,
    /// `left` or `right`.
    pub position: String,
    /// The widget header's title; null shows the account's name.
    pub title: Option<String>,
    /// Text overrides per language, e.g. `{"cs": {"title": "Napište nám"}}` (keys: docs/widget.md).
    #[schema(value_type = Object)]
    pub texts: widget::Texts,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub widget_key: String,
    pub plan: Plan,
    pub billing_anchor: DateTime<Utc>,
    pub allowed_domains: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub widget: WidgetLook,
    /// None: no hours set, every time counts as inside business hours.
    pub business_hours: Option<BusinessHours>,
    /// The key of visitors' identity signatures (owners and admins see it in settings).
    pub identity_secret: Option<String>,
    pub require_verified_identity: bool,
    pub anonymize_ips: bool,
    /// Resolved conversations are erased this many days after they were resolved; none
    /// keeps them forever.
    pub retention_days: Option<i32>,
    /// Largest file visitors and agents may attach, in bytes.
    pub max_file_bytes: i64,
    /// The types files may have (MIME types or `type/*`).
    pub allowed_types: crate::domain::attachment::AllowedTypes,
}

/// Characters of an identity secret (about 230 bits).
const IDENTITY_SECRET_CHARS: usize = 40;

/// The stored business hours of an account row; none when unset or unreadable (logged).
pub(crate) fn business_hours_of(row: &account::Model) -> Option<BusinessHours> {
    let raw = row.business_hours.as_deref()?;
    let parsed = serde_json::from_str::<BusinessHoursInput>(raw)
        .ok()
        .and_then(|input| BusinessHours::parse("business_hours", &input).ok());
    if parsed.is_none() {
        tracing::warn!(account_id = %row.id, "stored business hours are unreadable; ignored");
    }
    parsed
}

/// The business hours as the widget shows them: open now, else when people reply next.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HoursNow {
    pub open: bool,
    /// None while open (or when the hours never open).
    pub next_reply: Option<NextReply>,
}

/// [`HoursNow`] of an account row at `now`; none without business hours.
pub(crate) fn hours_now(row: &account::Model, now: DateTime<Utc>) -> Option<HoursNow> {
    let hours = business_hours_of(row)?;
    Some(HoursNow {
        open: hours.is_open(now),
        next_reply: hours
            .next_opening(now)
            .map(|opening| NextReply::new(now, opening)),
    })
}

/// Whether the account is inside its business hours at `at` (always, without hours).
pub(crate) fn inside_business_hours(row: &account::Model, at: DateTime<Utc>) -> bool {
    business_hours_of(row).is_none_or(|hours| hours.is_open(at))
}

pub struct NewAccount {
    pub name: AccountName,
    pub plan: PlanCode,
    pub owner_email: EmailAddress,
    pub owner_name: DisplayName,
    pub owner_password: NewPassword,
    /// When the subscription started; now when not given.
    pub billing_anchor: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CreatedAccount {
    pub account_id: AccountId,
    pub widget_key: String,
    pub owner_id: UserId,
}

/// Changes to an account; `None` keeps the field.
#[derive(Default)]
pub struct AccountPatch {
    pub name: Option<AccountName>,
    pub allowed_domains: Option<Vec<AllowedOrigin>>,
    /// Parsed with `domain::account::widget`.
    pub widget_color: Option<String>,
    pub widget_position: Option<&'static str>,
    pub widget_title: Option<Option<String>>,
    pub widget_texts: Option<widget::Texts>,
    /// `Some(None)` removes the hours.
    pub business_hours: Option<Option<BusinessHours>>,
    pub require_verified_identity: Option<bool>,
    pub anonymize_ips: Option<bool>,
    /// `Some(None)` keeps conversations forever.
    pub retention_days: Option<Option<RetentionDays>>,
    /// Checked with `domain::attachment::parse_max_file_bytes`.
    pub max_file_bytes: Option<i64>,
    pub allowed_types: Option<crate::domain::attachment::AllowedTypes>,
}

/// Creates an account and its owner in one transaction.
#[tracing::instrument(skip_all, fields(plan = new.plan.as_str()))]
pub async fn create_account(
    ctx: &Context,
    new: NewAccount,
) -> Result<CreatedAccount, ServiceError> {
    if storage::plans::find(&ctx.db, new.plan.as_str())
        .await?
        .is_none()
    {
        return Err(ServiceError::invalid(FieldError::new(
            "plan",
            format!("plan {} does not exist", new.plan.as_str()),
        )));
    }
    let password_hash = ctx.passwords.hash(new.owner_password.expose()).await?;
    let now = ctx.clock.now();
    let account_id = AccountId::generate();
    let widget_key = random_text(24);
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    let created = storage::accounts::insert(
        &txn,
        account::Model {
            id: account_id.as_uuid(),
            name: new.name.as_str().to_owned(),
            widget_key: widget_key.clone(),
            plan_code: new.plan.as_str().to_owned(),
            billing_anchor: new.billing_anchor.unwrap_or(now),
            allowed_domains: "[]".to_owned(),
            created_at: now,
            widget_color: DEFAULT_WIDGET_COLOR.to_owned(),
            widget_position: "right".to_owned(),
            widget_title: None,
            widget_texts: "{}".to_owned(),
            pending_plan: None,
            next_renewal_at: None,
            business_hours: None,
            identity_secret: Some(random_text(IDENTITY_SECRET_CHARS)),
            require_verified_identity: false,
            anonymize_ips: false,
            retention_days: None,
            max_file_bytes: crate::domain::attachment::DEFAULT_MAX_FILE_BYTES,
            allowed_types: None,
        },
    )
    .await?;
    // The first period is billed with the plan; the billing job renews from its end.
    super::billing::open_first_period(&txn, &created, now).await?;
    let owner = users::insert_user(
        &txn,
        account_id,
        users::NewUser {
            email: new.owner_email,
            name: new.owner_name,
            role: Role::Owner,
            password: None,
        },
        password_hash,
        false,
        now,
    )
    .await?;
    txn.commit().await.context("committing a new account")?;
    tracing::info!(%account_id, "account created");
    Ok(CreatedAccount {
        account_id,
        widget_key,
        owner_id: owner.id,
    })
}

pub async fn get_account(ctx: &Context, account_id: AccountId) -> Result<Account, ServiceError> {
    let row = storage::accounts::find(&ctx.db, account_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let plan = storage::plans::find(&ctx.db, &row.plan_code)
        .await?
        .with_context(|| format!("account {account_id} has unknown plan {}", row.plan_code))?;
    let business_hours = business_hours_of(&row);
    let allowed_domains: Vec<String> = serde_json::from_str(&row.allowed_domains)
        .with_context(|| format!("allowed_domains of account {account_id}"))?;
    Ok(Account {
        id: account_id,
        name: row.name,
        widget_key: row.widget_key,
        plan: Plan {
            code: plan.code,
            name: plan.name,
            chatbot_conversations: plan.chatbot_conversations,
            package_cap: plan.package_cap,
            price_minor: plan.price_minor,
            currency: plan.currency,
            legacy: plan.legacy,
        },
        billing_anchor: row.billing_anchor,
        allowed_domains,
        created_at: row.created_at,
        widget: WidgetLook {
            color: row.widget_color,
            position: row.widget_position,
            title: row.widget_title,
            texts: serde_json::from_str(&row.widget_texts).unwrap_or_default(),
        },
        business_hours,
        identity_secret: row.identity_secret,
        require_verified_identity: row.require_verified_identity,
        anonymize_ips: row.anonymize_ips,
        retention_days: row.retention_days,
        max_file_bytes: row.max_file_bytes,
        allowed_types: crate::domain::attachment::AllowedTypes::from_stored(
            row.allowed_types.as_deref(),
        ),
    })
}

/// Owners and admins change the account's name and allowed domains.
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn update_account(
    ctx: &Context,
    actor: &Actor,
    patch: AccountPatch,
) -> Result<Account, ServiceError> {
    update_account_and_notifications(ctx, actor, patch, None).await
}

/// Changes the account and, when given, its notification settings, in one transaction (a
/// `PATCH /api/v1/account` is written whole or not at all).
pub async fn update_account_and_notifications(
    ctx: &Context,
    actor: &Actor,
    patch: AccountPatch,
    notifications: Option<super::email::NotificationPatch>,
) -> Result<Account, ServiceError> {
    actor.require(Role::Admin)?;
    let domains = match patch.allowed_domains {
        Some(origins) => Some(
            serde_json::to_string(
                &origins
                    .iter()
                    .map(AllowedOrigin::as_str)
                    .collect::<Vec<_>>(),
            )
            .context("encoding allowed domains")?,
        ),
        None => None,
    };
    let texts = match &patch.widget_texts {
        Some(texts) => Some(serde_json::to_string(texts).context("encoding widget texts")?),
        None => None,
    };
    let business_hours = match &patch.business_hours {
        Some(Some(hours)) => Some(Some(
            serde_json::to_string(&hours.to_input()).context("encoding business hours")?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    let txn = crate::storage::begin_write(&ctx.db)
        .await
        .context("starting a transaction")?;
    storage::accounts::update(
        &txn,
        actor.account_id.as_uuid(),
        storage::accounts::AccountChanges {
            name: patch.name.map(|name| name.as_str().to_owned()),
            allowed_domains: domains,
            widget_color: patch.widget_color,
            widget_position: patch.widget_position.map(str::to_owned),
            widget_title: patch.widget_title,
            widget_texts: texts,
            business_hours,
            identity_secret: None,
            require_verified_identity: patch.require_verified_identity,
            anonymize_ips: patch.anonymize_ips,
            retention_days: patch
                .retention_days
                .map(|days| days.map(RetentionDays::get)),
            max_file_bytes: patch.max_file_bytes,
            allowed_types: patch.allowed_types.map(|types| types.to_stored()),
        },
    )
    .await?;
    if let Some(notifications) = notifications {
        super::email::apply_notification_patch(
            &txn,
            actor.account_id,
            notifications,
            ctx.clock.now(),
        )
        .await?;
    }
    txn.commit().await.context("committing an account change")?;
    get_account(ctx, actor.account_id).await
}

/// Owners and admins make a new identity secret: signatures made with the old one stop
/// verifying at once (the site's server must be given the new one).
#[tracing::instrument(skip_all, fields(account_id = %actor.account_id))]
pub async fn regenerate_identity_secret(
    ctx: &Context,
    actor: &Actor,
) -> Result<Account, ServiceError> {
    actor.require(Role::Admin)?;
    let changes = storage::accounts::AccountChanges {
        identity_secret: Some(random_text(IDENTITY_SECRET_CHARS)),
        ..Default::default()
    };
    storage::accounts::update(&ctx.db, actor.account_id.as_uuid(), changes).await?;
    tracing::info!("identity secret regenerated");
    get_account(ctx, actor.account_id).await
}

/// The account a widget key belongs to.
pub async fn find_by_widget_key(ctx: &Context, widget_key: &str) -> Result<Account, ServiceError> {
    let row = storage::accounts::find_by_widget_key(&ctx.db, widget_key)
        .await?
        .ok_or(ServiceError::NotFound)?;
    get_account(ctx, AccountId::from_uuid(row.id)).await
}

/// Finds an account by its id or its widget key (for the CLI).
pub async fn find_account(
    ctx: &Context,
    id_or_widget_key: &str,
) -> Result<AccountId, ServiceError> {
    if let Ok(id) = id_or_widget_key.parse::<AccountId>()
        && storage::accounts::find(&ctx.db, id.as_uuid())
            .await?
            .is_some()
    {
        return Ok(id);
    }
    storage::accounts::find_by_widget_key(&ctx.db, id_or_widget_key)
        .await?
        .map(|row| AccountId::from_uuid(row.id))
        .ok_or(ServiceError::NotFound)
}
