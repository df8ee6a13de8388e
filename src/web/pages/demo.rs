//! `/demo`: a small shop website, the page a newcomer opens to chat as a visitor.

use super::{PageError, render};
use actix_web::{HttpResponse, get, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_demo);
}

#[derive(Template)]
#[template(path = "demo/index.html")]
struct DemoPage {}

#[get("/demo")]
async fn get_demo() -> Result<HttpResponse, PageError> {
    render(&DemoPage {})
}
