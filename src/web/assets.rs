//! Static files compiled into the binary, so one binary is the whole product.

use actix_web::{HttpResponse, get, http::header, web};

const STYLESHEET: &str = include_str!("../../static/style.css");
const FAVICON: &str = include_str!("../../static/favicon.svg");
const WIDGET: &str = include_str!("../../static/widget.js");
const INBOX_SCRIPT: &str = include_str!("../../static/inbox.js");
const FLOW_PREVIEW_SCRIPT: &str = include_str!("../../static/flow-preview.js");
/// Browsers recheck the widget script this often; short, so a deploy reaches every site soon.
const WIDGET_MAX_AGE_SECS: u32 = 300;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_asset).service(get_widget);
}

/// The embeddable widget, loaded by `<script src=".../widget.js">` on customers' websites.
#[get("/widget.js")]
async fn get_widget() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={WIDGET_MAX_AGE_SECS}"),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(WIDGET)
}

#[get("/static/{name}")]
async fn get_asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match name.as_str() {
        "style.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        "inbox.js" => (INBOX_SCRIPT, "text/javascript; charset=utf-8"),
        "flow-preview.js" => (FLOW_PREVIEW_SCRIPT, "text/javascript; charset=utf-8"),
        _ => {
            return HttpResponse::NotFound()
                .content_type("text/plain")
                .body("not found");
        }
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
