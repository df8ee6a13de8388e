//! `GET` and `PATCH /api/v1/account`.

use crate::{
    domain::{
        account::{AccountName, AllowedOrigin, widget},
        business_hours::{BusinessHours, BusinessHoursInput},
        privacy::RetentionDays,
        role::Role,
    },
    services::{
        self, Context, ServiceError,
        accounts::{Account, AccountPatch, WidgetLook},
        email::{NotificationPatch, NotificationSettings, parse_optional_address},
    },
    web::{auth::ApiActor, errors::ApiError},
};
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_account)
        .service(patch_account)
        .service(regenerate_identity_secret);
}

#[derive(Serialize, ToSchema)]
pub struct PlanView {
    code: String,
    name: String,
    /// Chatbot conversations included per billing period.
    chatbot_conversations: i32,
    /// Most package conversations this plan may add per period.
    package_cap: i32,
    price_minor: i64,
    currency: String,
    legacy: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    id: uuid::Uuid,
    name: String,
    /// Public key that the widget's script tag carries.
    widget_key: String,
    plan: PlanView,
    /// When the subscription started; billing periods run monthly from here.
    billing_anchor: DateTime<Utc>,
    /// Origins allowed to embed the widget; empty allows any.
    allowed_domains: Vec<String>,
    created_at: DateTime<Utc>,
    /// The widget's look and text overrides.
    widget: WidgetLook,
    /// Who gets notification emails, and which (docs/api.md, "Email").
    notifications: NotificationSettings,
    /// Time zone, weekly opening intervals and holidays; null: always inside business hours.
    #[schema(value_type = Option<Object>)]
    business_hours: Option<BusinessHoursInput>,
    /// Whether now is inside business hours (always true without hours).
    inside_business_hours: bool,
    /// The key of visitor identity signatures, hex HMAC-SHA256(secret, user_id) (docs/widget.md);
    /// shown to owners and admins only, null for agents or before one is generated.
    identity_secret: Option<String>,
    /// `identify` without a valid identity signature is refused.
    require_verified_identity: bool,
    /// Visitor IP addresses are stored with the host part zeroed (IPv4 /24, IPv6 /48).
    anonymize_ips: bool,
    /// Resolved conversations are erased this many days after they were resolved (their
    /// counts stay in reports, insights and billing); null keeps them forever.
    retention_days: Option<i32>,
    /// Largest file visitors and agents may attach, in bytes (default 10 MiB).
    max_file_bytes: i64,
    /// The types files may have, checked from the content: MIME types or `type/*`.
    allowed_types: Vec<String>,
}

impl AccountView {
    fn new(
        account: Account,
        notifications: NotificationSettings,
        actor: &services::Actor,
        now: DateTime<Utc>,
    ) -> Self {
        let inside_business_hours = account
            .business_hours
            .as_ref()
            .is_none_or(|hours| hours.is_open(now));
        Self {
            business_hours: account.business_hours.as_ref().map(BusinessHours::to_input),
            inside_business_hours,
            identity_secret: account
                .identity_secret
                .filter(|_| actor.is_at_least(Role::Admin)),
            require_verified_identity: account.require_verified_identity,
            anonymize_ips: account.anonymize_ips,
            retention_days: account.retention_days,
            max_file_bytes: account.max_file_bytes,
            allowed_types: account.allowed_types.as_slice().to_vec(),
            id: account.id.as_uuid(),
            name: account.name,
            widget_key: account.widget_key,
            plan: PlanView {
                code: account.plan.code,
                name: account.plan.name,
                chatbot_conversations: account.plan.chatbot_conversations,
                package_cap: account.plan.package_cap,
                price_minor: account.plan.price_minor,
                currency: account.plan.currency,
                legacy: account.plan.legacy,
            },
            billing_anchor: account.billing_anchor,
            allowed_domains: account.allowed_domains,
            created_at: account.created_at,
            widget: account.widget,
            notifications,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatchBody {
    name: Option<String>,
    /// Replaces the whole list, e.g. `["https://shop.example.com"]`.
    allowed_domains: Option<Vec<String>>,
    /// Any of the widget's `color`, `position`, `title` (empty: the account's name), `texts`.
    widget: Option<WidgetPatchBody>,
    /// Any of the notification `email` (empty text removes it), `new_conversation`,
    /// `offline_message`.
    notifications: Option<NotificationsPatchBody>,
    /// `{"time_zone", "weekly": {"mon": [["09:00","17:00"]], ...}, "holidays": ["2027-01-01"]}`
    /// replaces the hours; null removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    business_hours: Option<Option<BusinessHoursInput>>,
    require_verified_identity: Option<bool>,
    anonymize_ips: Option<bool>,
    /// 1 to 3650 days; null keeps conversations forever.
    #[serde(default, deserialize_with = "present")]
    retention_days: Option<Option<i64>>,
    /// 1 byte to 100 MiB.
    max_file_bytes: Option<i64>,
    /// Replaces the list, e.g. `["image/*", "application/pdf"]`; `["*/*"]` allows any type.
    allowed_types: Option<Vec<String>>,
}

/// A field that is present (`Some`, even as null) or absent (`None`, by `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsPatchBody {
    email: Option<String>,
    new_conversation: Option<bool>,
    offline_message: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetPatchBody {
    color: Option<String>,
    position: Option<String>,
    title: Option<String>,
    #[schema(value_type = Object)]
    texts: Option<widget::Texts>,
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/account", tag = "account",
    responses((status = 200, body = AccountView), (status = 401, body = super::ErrorBody)))]
#[get("/account")]
async fn get_account(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    let account = services::accounts::get_account(&ctx, actor.account_id).await?;
    let notifications = services::email::notification_settings(&ctx, actor.account_id).await?;
    let view = AccountView::new(account, notifications, &actor, ctx.clock.now());
    Ok(HttpResponse::Ok().json(view))
}

/// Changes the account's name, allowed domains, widget and notification emails (owner or admin).
#[utoipa::path(patch, path = "/api/v1/account", tag = "account", request_body = AccountPatchBody,
    responses((status = 200, body = AccountView), (status = 403, body = super::ErrorBody),
        (status = 422, description = "Every invalid field, in `details`", body = super::ErrorBody)))]
#[patch("/account")]
async fn patch_account(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    body: web::Json<AccountPatchBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut problems = Vec::new();
    let mut patch = AccountPatch::default();
    if let Some(name) = body.name {
        patch.name = AccountName::parse("name", &name)
            .map_err(|error| problems.push(error))
            .ok();
    }
    if let Some(domains) = body.allowed_domains {
        patch.allowed_domains = AllowedOrigin::parse_list("allowed_domains", &domains)
            .map_err(|errors| problems.extend(errors))
            .ok();
    }
    if let Some(look) = body.widget {
        if let Some(color) = look.color {
            patch.widget_color = widget::parse_color("widget.color", &color)
                .map_err(|e| problems.push(e))
                .ok();
        }
        if let Some(position) = look.position {
            patch.widget_position = widget::parse_position("widget.position", &position)
                .map_err(|e| problems.push(e))
                .ok();
        }
        if let Some(title) = look.title {
            patch.widget_title = widget::parse_title("widget.title", &title)
                .map_err(|e| problems.push(e))
                .ok();
        }
        if let Some(texts) = look.texts {
            patch.widget_texts = widget::check_texts("widget.texts", &texts)
                .map_err(|e| problems.push(e))
                .ok()
                .map(|()| texts);
        }
    }
    match body.business_hours {
        Some(Some(hours)) => {
            patch.business_hours = BusinessHours::parse("business_hours", &hours)
                .map_err(|errors| problems.extend(errors))
                .ok()
                .map(Some);
        }
        Some(None) => patch.business_hours = Some(None),
        None => {}
    }
    patch.require_verified_identity = body.require_verified_identity;
    patch.anonymize_ips = body.anonymize_ips;
    match body.retention_days {
        Some(Some(days)) => {
            patch.retention_days = RetentionDays::parse("retention_days", days)
                .map_err(|error| problems.push(error))
                .ok()
                .map(Some);
        }
        Some(None) => patch.retention_days = Some(None),
        None => {}
    }
    if let Some(bytes) = body.max_file_bytes {
        patch.max_file_bytes =
            crate::domain::attachment::parse_max_file_bytes("max_file_bytes", bytes)
                .map_err(|error| problems.push(error))
                .ok();
    }
    if let Some(types) = &body.allowed_types {
        patch.allowed_types =
            crate::domain::attachment::AllowedTypes::parse("allowed_types", types)
                .map_err(|error| problems.push(error))
                .ok();
    }
    let mut notifications = NotificationPatch::default();
    if let Some(body) = body.notifications {
        if let Some(email) = body.email {
            notifications.email = parse_optional_address("notifications.email", &email)
                .map_err(|e| problems.push(e))
                .ok();
        }
        notifications.new_conversation = body.new_conversation;
        notifications.offline_message = body.offline_message;
    }
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems).into());
    }
    let notifications = (!notifications.is_empty()).then_some(notifications);
    let account =
        services::accounts::update_account_and_notifications(&ctx, &actor, patch, notifications)
            .await?;
    let notifications = services::email::notification_settings(&ctx, actor.account_id).await?;
    let view = AccountView::new(account, notifications, &actor, ctx.clock.now());
    Ok(HttpResponse::Ok().json(view))
}

/// Makes a new identity secret (owner or admin); signatures made with the old one stop verifying.
#[utoipa::path(post, path = "/api/v1/account/identity-secret", tag = "account",
    responses((status = 200, body = AccountView), (status = 403, body = super::ErrorBody)))]
#[post("/account/identity-secret")]
async fn regenerate_identity_secret(
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
) -> Result<HttpResponse, ApiError> {
    let account = services::accounts::regenerate_identity_secret(&ctx, &actor).await?;
    let notifications = services::email::notification_settings(&ctx, actor.account_id).await?;
    let view = AccountView::new(account, notifications, &actor, ctx.clock.now());
    Ok(HttpResponse::Ok().json(view))
}
