//! Settings for owners and admins: the account (allowed domains, widget key and embed snippet),
//! users (invite with a temporary password, roles, deactivation) and API tokens.

use super::{Chrome, error_lines, format_time, redirect, render, render_with_status};
use crate::{
    domain::{
        account::{AccountName, AllowedOrigin, widget},
        email::EmailAddress,
        ids::{ApiTokenId, UserId},
        role::Role,
        user::{Capacity, DisplayName},
    },
    services::{
        self, Actor, Context, ServiceError,
        accounts::{Account, AccountPatch},
        users::{NewUser, User, UserPatch},
    },
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_settings)
        .service(get_account_settings)
        .service(post_account_settings)
        .service(get_users)
        .service(post_invite_user)
        .service(post_update_user)
        .service(get_shortcuts)
        .service(post_create_shortcut)
        .service(post_delete_shortcut)
        .service(get_tokens)
        .service(post_create_token)
        .service(post_revoke_token);
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

/// Collects every field problem of a form into one list.
fn collect<T>(
    errors: &mut Vec<crate::domain::FieldError>,
    result: Result<T, crate::domain::FieldError>,
) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

fn admin(signed_in: &SignedIn) -> Result<&Actor, PageError> {
    signed_in.actor.require(Role::Admin)?;
    Ok(&signed_in.actor)
}

#[get("/settings")]
async fn get_settings(signed_in: SignedIn) -> Result<HttpResponse, PageError> {
    admin(&signed_in)?;
    Ok(redirect("/settings/account"))
}

// ---- account ----

#[derive(Template)]
#[template(path = "settings/account.html")]
pub(super) struct AccountSettingsPage {
    chrome: Chrome,
    tab: &'static str,
    account: Account,
    form: AccountFormView,
    snippet: String,
    /// The notification emails form (`notification_settings`).
    notifications: super::notification_settings::NotificationsForm,
    /// The business hours form (`hours_settings`).
    pub(super) hours: super::hours_settings::HoursForm,
    errors: Vec<String>,
    saved: bool,
}

/// The two lines a site owner pastes into their website (DESIGN section 6).
fn embed_snippet(req: &HttpRequest, ctx: &Context, widget_key: &str) -> String {
    let base = match &ctx.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!(
        "<script>window.frontdesk=window.frontdesk||function(){{(frontdesk.q=frontdesk.q||[]).push(arguments)}};</script>\n\
<script async src=\"{base}/widget.js\" data-key=\"{widget_key}\"></script>"
    )
}

pub(super) async fn account_page(
    req: &HttpRequest,
    ctx: &Context,
    signed_in: &SignedIn,
    form: Option<AccountFormView>,
    notifications: Option<super::notification_settings::NotificationsForm>,
    errors: Vec<String>,
    saved: bool,
) -> Result<AccountSettingsPage, PageError> {
    let account = services::accounts::get_account(ctx, signed_in.actor.account_id).await?;
    let notifications = match notifications {
        Some(form) => form,
        None => super::notification_settings::NotificationsForm::from(
            services::email::notification_settings(ctx, signed_in.actor.account_id).await?,
        ),
    };
    let form = form.unwrap_or_else(|| AccountFormView {
        name: account.name.clone(),
        domains: account.allowed_domains.join("\n"),
        color: account.widget.color.clone(),
        position: account.widget.position.clone(),
        title: account.widget.title.clone().unwrap_or_default(),
        texts: if account.widget.texts.is_empty() {
            String::new()
        } else {
            serde_json::to_string_pretty(&account.widget.texts).unwrap_or_default()
        },
    });
    Ok(AccountSettingsPage {
        chrome: Chrome::new(ctx, &signed_in.actor, &signed_in.session, "settings").await?,
        hours: super::hours_settings::HoursForm::of(&account),
        tab: "account",
        snippet: embed_snippet(req, ctx, &account.widget_key),
        account,
        form,
        notifications,
        errors,
        saved,
    })
}

#[get("/settings/account")]
async fn get_account_settings(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    admin(&signed_in)?;
    render(
        &account_page(
            &req,
            &ctx,
            &signed_in,
            None,
            None,
            Vec::new(),
            query.saved.is_some(),
        )
        .await?,
    )
}

#[derive(Deserialize)]
struct AccountForm {
    name: String,
    allowed_domains: String,
    /// The widget fields; a form without them leaves the widget as it is.
    widget_color: Option<String>,
    widget_position: Option<String>,
    widget_title: Option<String>,
    /// JSON `{language: {key: text}}`; empty for none.
    widget_texts: Option<String>,
}

#[post("/settings/account")]
async fn post_account_settings(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<AccountForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let mut problems = Vec::new();
    let name = collect(&mut problems, AccountName::parse("name", &form.name));
    let lines: Vec<String> = form
        .allowed_domains
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let domains = AllowedOrigin::parse_list("allowed_domains", &lines)
        .map_err(|errors| problems.extend(errors))
        .ok();
    let color = form
        .widget_color
        .as_deref()
        .and_then(|raw| collect(&mut problems, widget::parse_color("widget_color", raw)));
    let position = form.widget_position.as_deref().and_then(|raw| {
        collect(
            &mut problems,
            widget::parse_position("widget_position", raw),
        )
    });
    let title = form
        .widget_title
        .as_deref()
        .and_then(|raw| collect(&mut problems, widget::parse_title("widget_title", raw)));
    let texts = match form.widget_texts.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(widget::Texts::new()),
        Some(raw) => {
            let parsed = serde_json::from_str::<widget::Texts>(raw).map_err(|_| {
                crate::domain::FieldError::new(
                    "widget_texts",
                    "must be JSON like {\"cs\": {\"title\": \"Napište nám\"}}",
                )
            });
            collect(
                &mut problems,
                parsed
                    .and_then(|texts| widget::check_texts("widget_texts", &texts).map(|()| texts)),
            )
        }
    };
    let result = match (name, domains) {
        (Some(name), Some(domains)) if problems.is_empty() => services::accounts::update_account(
            &ctx,
            actor,
            AccountPatch {
                name: Some(name),
                allowed_domains: Some(domains),
                widget_color: color,
                widget_position: position,
                widget_title: title,
                widget_texts: texts,
                ..AccountPatch::default()
            },
        )
        .await
        .map(|_| ()),
        _ => Err(ServiceError::Invalid(problems)),
    };
    match result {
        Ok(()) => Ok(redirect("/settings/account?saved=1")),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            let page = account_page(
                &req,
                &ctx,
                &signed_in,
                Some(AccountFormView {
                    name: form.name,
                    domains: form.allowed_domains,
                    color: form.widget_color.unwrap_or_default(),
                    position: form.widget_position.unwrap_or_default(),
                    title: form.widget_title.unwrap_or_default(),
                    texts: form.widget_texts.unwrap_or_default(),
                }),
                None,
                errors,
                false,
            )
            .await?;
            render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// The account form's values, as stored or as last typed.
pub struct AccountFormView {
    pub name: String,
    pub domains: String,
    pub color: String,
    pub position: String,
    pub title: String,
    pub texts: String,
}

// ---- users ----

pub struct UserRow {
    pub user: User,
    pub joined: String,
    pub is_self: bool,
    /// Whether the signed-in user may change this user (only owners change owners).
    pub can_edit: bool,
}

#[derive(Template)]
#[template(path = "settings/users.html")]
struct UsersPage {
    chrome: Chrome,
    tab: &'static str,
    users: Vec<UserRow>,
    roles: Vec<Role>,
    errors: Vec<String>,
    invited: Option<(String, String)>,
    saved: bool,
}

async fn users_page(
    ctx: &Context,
    signed_in: &SignedIn,
    errors: Vec<String>,
    invited: Option<(String, String)>,
    saved: bool,
) -> Result<UsersPage, PageError> {
    let actor = &signed_in.actor;
    let users = services::users::list_users(ctx, actor)
        .await?
        .into_iter()
        .map(|user| UserRow {
            joined: format_time(user.created_at),
            is_self: user.id == actor.user_id,
            can_edit: user.role != Role::Owner || actor.is_at_least(Role::Owner),
            user,
        })
        .collect();
    let roles = if actor.is_at_least(Role::Owner) {
        Role::ALL.to_vec()
    } else {
        vec![Role::Admin, Role::Agent]
    };
    Ok(UsersPage {
        chrome: Chrome::new(ctx, actor, &signed_in.session, "settings").await?,
        tab: "users",
        users,
        roles,
        errors,
        invited,
        saved,
    })
}

#[get("/settings/users")]
async fn get_users(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    admin(&signed_in)?;
    render(&users_page(&ctx, &signed_in, Vec::new(), None, query.saved.is_some()).await?)
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    name: String,
    role: String,
}

#[post("/settings/users")]
async fn post_invite_user(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<InviteForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let mut problems = Vec::new();
    let email = collect(&mut problems, EmailAddress::parse("email", &form.email));
    let name = collect(&mut problems, DisplayName::parse("name", &form.name));
    let role = collect(&mut problems, Role::parse("role", &form.role));
    let result = match (email, name, role) {
        (Some(email), Some(name), Some(role)) => {
            services::users::create_user(
                &ctx,
                actor,
                NewUser {
                    email,
                    name,
                    role,
                    password: None,
                },
            )
            .await
        }
        _ => Err(ServiceError::Invalid(problems)),
    };
    match result {
        Ok((user, temporary)) => {
            let invited = temporary.map(|password| (user.email, password));
            render(&users_page(&ctx, &signed_in, Vec::new(), invited, false).await?)
        }
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            render_with_status(
                &users_page(&ctx, &signed_in, errors, None, false).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

#[derive(Deserialize)]
struct UpdateUserForm {
    role: Option<String>,
    capacity: Option<String>,
    active: Option<String>,
}

#[post("/settings/users/{id}")]
async fn post_update_user(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<UpdateUserForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let user_id: UserId = path.parse().map_err(|_| ServiceError::NotFound)?;
    let mut problems = Vec::new();
    let mut patch = UserPatch::default();
    if let Some(role) = form.role.as_deref().filter(|role| !role.is_empty()) {
        patch.role = collect(&mut problems, Role::parse("role", role));
    }
    if let Some(capacity) = form
        .capacity
        .as_deref()
        .filter(|capacity| !capacity.is_empty())
    {
        let parsed = capacity
            .trim()
            .parse::<i64>()
            .map_err(|_| crate::domain::FieldError::new("capacity", "must be a whole number"))
            .and_then(|value| Capacity::parse("capacity", value));
        patch.capacity = collect(&mut problems, parsed);
    }
    patch.active = match form.active.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let result = if problems.is_empty() {
        services::users::update_user(&ctx, actor, user_id, patch)
            .await
            .map(|_| ())
    } else {
        Err(ServiceError::Invalid(problems))
    };
    match result {
        Ok(()) => Ok(redirect("/settings/users?saved=1")),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            render_with_status(
                &users_page(&ctx, &signed_in, errors, None, false).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

// ---- shortcuts ----

#[derive(Template)]
#[template(path = "settings/shortcuts.html")]
struct ShortcutsPage {
    chrome: Chrome,
    tab: &'static str,
    shortcuts: Vec<services::shortcuts::Shortcut>,
    errors: Vec<String>,
    saved: bool,
}

async fn shortcuts_page(
    ctx: &Context,
    signed_in: &SignedIn,
    errors: Vec<String>,
    saved: bool,
) -> Result<ShortcutsPage, PageError> {
    Ok(ShortcutsPage {
        chrome: Chrome::new(ctx, &signed_in.actor, &signed_in.session, "settings").await?,
        tab: "shortcuts",
        shortcuts: services::shortcuts::list(ctx, &signed_in.actor).await?,
        errors,
        saved,
    })
}

#[get("/settings/shortcuts")]
async fn get_shortcuts(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    admin(&signed_in)?;
    render(&shortcuts_page(&ctx, &signed_in, Vec::new(), query.saved.is_some()).await?)
}

#[derive(Deserialize)]
struct ShortcutForm {
    name: String,
    text: String,
}

#[post("/settings/shortcuts")]
async fn post_create_shortcut(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<ShortcutForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    match services::shortcuts::create(&ctx, actor, &form.name, &form.text).await {
        Ok(()) => Ok(redirect("/settings/shortcuts?saved=1")),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            render_with_status(
                &shortcuts_page(&ctx, &signed_in, errors, false).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

#[post("/settings/shortcuts/{id}/delete")]
async fn post_delete_shortcut(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let id: uuid::Uuid = path.parse().map_err(|_| ServiceError::NotFound)?;
    services::shortcuts::delete(&ctx, actor, id).await?;
    Ok(redirect("/settings/shortcuts?saved=1"))
}

// ---- API tokens ----

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "settings/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tab: &'static str,
    tokens: Vec<TokenRow>,
    errors: Vec<String>,
    created: Option<String>,
    saved: bool,
}

async fn tokens_page(
    ctx: &Context,
    signed_in: &SignedIn,
    errors: Vec<String>,
    created: Option<String>,
    saved: bool,
) -> Result<TokensPage, PageError> {
    let tokens = services::tokens::list_tokens(ctx, &signed_in.actor)
        .await?
        .into_iter()
        .map(|token| TokenRow {
            id: token.id.to_string(),
            name: token.name,
            prefix: token.prefix,
            created: format_time(token.created_at),
            last_used: token
                .last_used_at
                .map_or_else(|| "never".to_owned(), format_time),
            revoked: token.revoked_at.is_some(),
        })
        .collect();
    Ok(TokensPage {
        chrome: Chrome::new(ctx, &signed_in.actor, &signed_in.session, "settings").await?,
        tab: "tokens",
        tokens,
        errors,
        created,
        saved,
    })
}

#[get("/settings/tokens")]
async fn get_tokens(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    admin(&signed_in)?;
    render(&tokens_page(&ctx, &signed_in, Vec::new(), None, query.saved.is_some()).await?)
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
}

#[post("/settings/tokens")]
async fn post_create_token(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    match services::tokens::create_token(&ctx, actor, &form.name).await {
        Ok((_, secret)) => {
            render(&tokens_page(&ctx, &signed_in, Vec::new(), Some(secret), false).await?)
        }
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            render_with_status(
                &tokens_page(&ctx, &signed_in, errors, None, false).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

#[post("/settings/tokens/{id}/revoke")]
async fn post_revoke_token(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let token_id: ApiTokenId = path.parse().map_err(|_| ServiceError::NotFound)?;
    services::tokens::revoke_token(&ctx, actor, token_id).await?;
    Ok(redirect("/settings/tokens?saved=1"))
}
