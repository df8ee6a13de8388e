//! The signed-in user's own account: changing the password (required after a temporary one),
//! and whether the account is online for visitors (the header's presence, kept live).

use super::{Chrome, error_lines, redirect, render, render_with_status};
use crate::{
    domain::password::NewPassword,
    services::{self, Context, ServiceError},
    web::{
        auth::{SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_password)
        .service(post_password)
        .service(get_presence);
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    chrome: Chrome,
    required: bool,
    errors: Vec<String>,
    saved: bool,
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

#[get("/account/password")]
async fn get_password(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    render(&PasswordPage {
        chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "").await?,
        required: signed_in.actor.must_change_password,
        errors: Vec::new(),
        saved: query.saved.is_some(),
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

#[post("/account/password")]
async fn post_password(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let result = async {
        let new_password = NewPassword::parse("new_password", &form.new_password)
            .map_err(ServiceError::invalid)?;
        if form.new_password != form.confirm_password {
            return Err(ServiceError::invalid(crate::domain::FieldError::new(
                "confirm_password",
                "does not match the new password",
            )));
        }
        services::users::change_password(
            &ctx,
            &signed_in.actor,
            &form.current_password,
            new_password,
        )
        .await
    }
    .await;
    match result {
        Ok(()) => Ok(redirect("/account/password?saved=1")),
        Err(error) => match error_lines(&error) {
            Some(errors) => render_with_status(
                &PasswordPage {
                    chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "").await?,
                    required: signed_in.actor.must_change_password,
                    errors,
                    saved: false,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            None => Err(error.into()),
        },
    }
}

/// `{"visitors_can_chat": bool}`: what the widget shows visitors now (some available agent has
/// the inbox open). The inbox asks again whenever a colleague's status changes.
#[get("/account/presence")]
async fn get_presence(ctx: web::Data<Context>, signed_in: SignedIn) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "visitors_can_chat": ctx.hub.agents_online(signed_in.actor.account_id),
        }))
}
