//! The billing section of the navigation: what the account has today; packages fill it in.

use super::{Chrome, format_time, render};
use crate::{
    domain::role::Role,
    services::{self, Context, accounts::Account},
    web::{auth::SignedIn, errors::PageError},
};
use actix_web::{HttpResponse, get, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_billing);
}

#[derive(Template)]
#[template(path = "billing/index.html")]
struct BillingPage {
    chrome: Chrome,
    account: Account,
    anchor: String,
}

#[get("/billing")]
async fn get_billing(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
) -> Result<HttpResponse, PageError> {
    signed_in.actor.require(Role::Owner)?;
    let account = services::accounts::get_account(&ctx, signed_in.actor.account_id).await?;
    render(&BillingPage {
        chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "billing").await?,
        anchor: format_time(account.billing_anchor),
        account,
    })
}
