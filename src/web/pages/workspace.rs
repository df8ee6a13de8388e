//! The chatbot and billing sections of the navigation. Each shows what the account has today;
//! flows and packages fill them in.

use super::{Chrome, format_time, render};
use crate::{
    domain::role::Role,
    services::{self, Context, accounts::Account},
    web::{auth::SignedIn, errors::PageError},
};
use actix_web::{HttpResponse, get, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_chatbot).service(get_billing);
}

/// One line of the flow list.
pub struct FlowRow {
    pub name: String,
    pub enabled: bool,
    pub priority: i32,
    pub languages: String,
    pub steps: usize,
    pub unreachable: Vec<String>,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "chatbot/index.html")]
struct ChatbotPage {
    chrome: Chrome,
    account: Account,
    flows: Vec<FlowRow>,
}

#[derive(Template)]
#[template(path = "billing/index.html")]
struct BillingPage {
    chrome: Chrome,
    account: Account,
    anchor: String,
}

#[get("/chatbot")]
async fn get_chatbot(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
) -> Result<HttpResponse, PageError> {
    signed_in.actor.require(Role::Admin)?;
    let flows = services::flows::list(&ctx, &signed_in.actor)
        .await?
        .into_iter()
        .map(|flow| {
            let reachable = crate::domain::flow::validate::reachable(&flow.definition);
            let languages = &flow.definition.trigger.audience.languages;
            FlowRow {
                name: flow.definition.name.clone(),
                enabled: flow.definition.enabled,
                priority: flow.definition.priority,
                languages: if languages.is_empty() {
                    "all".to_owned()
                } else {
                    languages.join(", ")
                },
                steps: flow.definition.steps.len(),
                unreachable: flow
                    .definition
                    .steps
                    .keys()
                    .filter(|id| !reachable.contains(*id))
                    .cloned()
                    .collect(),
                updated: format_time(flow.updated_at),
            }
        })
        .collect();
    render(&ChatbotPage {
        chrome: Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "chatbot").await?,
        account: services::accounts::get_account(&ctx, signed_in.actor.account_id).await?,
        flows,
    })
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
