//! `/demo`: a small shop website that embeds the widget of the demo account, the page a
//! newcomer opens to chat as a visitor. Like a customer's site, it sends no Content-Security-Policy
//! of ours (the embed snippet is an inline script).

use super::PageError;
use crate::services::{self, Context};
use actix_web::{HttpResponse, get, http::header, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_demo);
}

#[derive(Template)]
#[template(path = "demo/index.html")]
struct DemoPage {
    widget_key: Option<String>,
}

#[get("/demo")]
async fn get_demo(ctx: web::Data<Context>) -> Result<HttpResponse, PageError> {
    let page = DemoPage {
        widget_key: services::demo::widget_key(&ctx).await?,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}
