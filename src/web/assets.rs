//! Static files compiled into the binary, so one binary is the whole product.

use actix_web::{HttpResponse, get, http::header, web};

const STYLESHEET: &str = include_str!("../../static/style.css");
const FAVICON: &str = include_str!("../../static/favicon.svg");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_asset);
}

#[get("/static/{name}")]
async fn get_asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match name.as_str() {
        "style.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
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
