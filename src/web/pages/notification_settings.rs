//! The notification emails form on `/settings/account` (owners and admins): where the
//! offline-message and new-conversation emails go, and which are sent.

use super::{error_lines, redirect, render_with_status, settings::account_page};
use crate::{
    domain::role::Role,
    services::{
        self, Context, ServiceError,
        email::{NotificationPatch, NotificationSettings, parse_optional_address},
    },
    web::{
        auth::{SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_notifications);
}

/// The form's values, as stored or as last typed.
pub struct NotificationsForm {
    pub email: String,
    pub new_conversation: bool,
    pub offline_message: bool,
}

impl From<NotificationSettings> for NotificationsForm {
    fn from(settings: NotificationSettings) -> Self {
        Self {
            email: settings.email.unwrap_or_default(),
            new_conversation: settings.new_conversation,
            offline_message: settings.offline_message,
        }
    }
}

#[derive(Deserialize)]
struct NotificationsBody {
    notification_email: String,
    /// Checkboxes: present when ticked.
    notify_new_conversation: Option<String>,
    notify_offline_message: Option<String>,
}

#[post("/settings/account/notifications")]
async fn post_notifications(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<NotificationsBody>,
) -> Result<HttpResponse, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    let typed = NotificationsForm {
        email: form.notification_email.clone(),
        new_conversation: form.notify_new_conversation.is_some(),
        offline_message: form.notify_offline_message.is_some(),
    };
    let result = match parse_optional_address("notification_email", &form.notification_email) {
        Ok(email) => services::email::update_notification_settings(
            &ctx,
            actor,
            NotificationPatch {
                email: Some(email),
                new_conversation: Some(typed.new_conversation),
                offline_message: Some(typed.offline_message),
            },
        )
        .await
        .map(|_| ()),
        Err(problem) => Err(ServiceError::invalid(problem)),
    };
    match result {
        Ok(()) => Ok(redirect("/settings/account?saved=1")),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            let page =
                account_page(&req, &ctx, &signed_in, None, Some(typed), errors, false).await?;
            render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}
