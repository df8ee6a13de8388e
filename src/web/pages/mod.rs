//! Server-rendered pages (askama): sign-in, the workspace sections (inbox, chatbot, billing),
//! settings, the demo website.

mod account;
mod billing;
mod blocked_settings;
mod bots;
mod chatbot;
mod demo;
mod flow_form;
mod flow_graph;
mod flow_preview;
mod flow_problems;
mod hours_settings;
mod inbox;
mod insights;
mod notification_settings;
mod privacy;
mod reports;
mod routing_settings;
mod settings;
mod sign_in;
mod supervisor;
mod webhook_settings;

use super::{auth::csrf_token, errors::PageError};
use crate::{
    domain::role::Role,
    services::{self, Actor, Context},
};
use actix_session::Session;
use actix_web::{HttpResponse, http::header, web};
use askama::Template;

/// Pages load only our own styles and scripts; nothing may frame them.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    sign_in::configure(cfg);
    account::configure(cfg);
    inbox::configure(cfg);
    insights::configure(cfg);
    reports::configure(cfg);
    billing::configure(cfg);
    chatbot::configure(cfg);
    settings::configure(cfg);
    notification_settings::configure(cfg);
    hours_settings::configure(cfg);
    routing_settings::configure(cfg);
    webhook_settings::configure(cfg);
    bots::configure(cfg);
    supervisor::configure(cfg);
    blocked_settings::configure(cfg);
    privacy::configure(cfg);
    demo::configure(cfg);
}

/// A navigation entry of the app layout.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub key: &'static str,
}

/// What the app layout shows around every page: who is signed in, the navigation, the CSRF token.
pub struct Chrome {
    pub user_name: String,
    pub user_email: String,
    pub role: Role,
    pub account_name: String,
    pub csrf: String,
    pub active: &'static str,
    pub nav: Vec<NavItem>,
    /// Whether the user takes chats now (the online/away switch).
    pub online: bool,
    /// Whether the account is online for visitors, as the widget shows it: some agent who is
    /// available has the inbox open (the hub's `agents_online`). Not the user's own switch.
    pub visitors_can_chat: bool,
    /// The chatbot limit warning for owners and admins (80 % used, or nothing left).
    pub banner: Option<Banner>,
}

/// A warning across the top of the inbox, chatbot and billing pages.
pub struct Banner {
    /// `warning` or `reached`.
    pub level: &'static str,
    pub text: String,
    /// Owners get a link to buy packages.
    pub billing_link: bool,
}

/// The chatbot limit banner (DESIGN section 2, rule 8): at 80 % used and when nothing is left.
async fn limit_banner(ctx: &Context, actor: &Actor) -> Result<Option<Banner>, PageError> {
    let (period, allowance) = services::billing::allowance(ctx, actor.account_id.as_uuid()).await?;
    if allowance.limit == 0 {
        return Ok(None);
    }
    let renews = period.end.format("%B %-d, %Y");
    let (level, text) = match allowance.state() {
        "reached" => (
            "reached",
            format!(
                "Chatbot limit reached: all {} chatbot conversations of this period are used, so flows no longer greet visitors until the period renews on {renews}.",
                allowance.limit
            ),
        ),
        "warning" => (
            "warning",
            format!(
                "{} of {} chatbot conversations used this period ({} %); {} left until {renews}.",
                allowance.used,
                allowance.limit,
                allowance.percent(),
                allowance.remaining
            ),
        ),
        _ => return Ok(None),
    };
    Ok(Some(Banner {
        level,
        text,
        billing_link: actor.is_at_least(Role::Owner),
    }))
}

impl Chrome {
    pub async fn new(
        ctx: &Context,
        actor: &Actor,
        session: &Session,
        active: &'static str,
    ) -> Result<Self, PageError> {
        let account = services::accounts::get_account(ctx, actor.account_id).await?;
        let me = services::users::get_user(ctx, actor, actor.user_id).await?;
        let mut nav = vec![
            NavItem {
                href: "/inbox",
                label: "Inbox",
                key: "inbox",
            },
            NavItem {
                href: "/visitors",
                label: "Visitors",
                key: "visitors",
            },
        ];
        if actor.is_at_least(Role::Admin) {
            nav.push(NavItem {
                href: "/chatbot",
                label: "Chatbot",
                key: "chatbot",
            });
            nav.push(NavItem {
                href: "/bots",
                label: "Bots",
                key: "bots",
            });
            nav.push(NavItem {
                href: "/supervisor",
                label: "Supervisor",
                key: "supervisor",
            });
            nav.push(NavItem {
                href: "/reports",
                label: "Reports",
                key: "reports",
            });
        }
        if actor.is_at_least(Role::Owner) {
            nav.push(NavItem {
                href: "/billing",
                label: "Billing",
                key: "billing",
            });
        }
        if actor.is_at_least(Role::Admin) {
            nav.push(NavItem {
                href: "/settings",
                label: "Settings",
                key: "settings",
            });
        }
        let banner = if actor.is_at_least(Role::Admin)
            && matches!(active, "inbox" | "chatbot" | "billing")
        {
            limit_banner(ctx, actor).await?
        } else {
            None
        };
        Ok(Self {
            banner,
            user_name: actor.name.clone(),
            user_email: actor.email.clone(),
            role: actor.role,
            account_name: account.name,
            csrf: csrf_token(session),
            active,
            nav,
            online: me.status == crate::domain::user::AgentStatus::Online,
            visitors_can_chat: ctx.hub.agents_online(actor.account_id),
        })
    }
}

/// Renders a page with the security headers every page carries.
pub fn render(template: &impl Template) -> Result<HttpResponse, PageError> {
    render_with_status(template, actix_web::http::StatusCode::OK)
}

pub fn render_with_status(
    template: &impl Template,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PageError> {
    let body = template.render()?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Formats a time for pages: "2026-11-22 14:05 UTC".
pub fn format_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Field errors as one line each, for forms.
pub fn error_lines(error: &services::ServiceError) -> Option<Vec<String>> {
    match error {
        services::ServiceError::Invalid(fields) => Some(
            fields
                .iter()
                .map(|field| format!("{}: {}", field.field.replace('_', " "), field.message))
                .collect(),
        ),
        services::ServiceError::Conflict(message) | services::ServiceError::Forbidden(message) => {
            Some(vec![message.clone()])
        }
        _ => None,
    }
}

/// A count and its noun, singular for one: "1 rating", "2 ratings".
pub fn plural(count: impl std::fmt::Display, one: &str, many: &str) -> String {
    let count = count.to_string();
    let noun = if count == "1" { one } else { many };
    format!("{count} {noun}")
}

#[cfg(test)]
mod plural_tests {
    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(super::plural(1, "rating", "ratings"), "1 rating");
        assert_eq!(super::plural(0_u64, "rating", "ratings"), "0 ratings");
        assert_eq!(super::plural(2_i32, "package", "packages"), "2 packages");
    }
}
