//! A sample external bot for Frontdesk (docs/bots.md): verifies each event's signature
//! (refusing a tampered or stale one with 401), greets with buttons, echoes what the visitor
//! writes, hands over to people on "Talk to a person" and ends on "bye".
//!
//! Run: `FRONTDESK_BOT_SECRET=bsec_… cargo run --example echo_bot` (listens on
//! `ECHO_BOT_BIND`, default 127.0.0.1:9100), then register `http://127.0.0.1:9100/` as a bot.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::Server, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Events older than this are refused: a captured request cannot be replayed later.
const TOLERANCE_SECONDS: i64 = 300;

/// Whether `header` (`t=<unix>,v1=<hex>`) signs `body` with `secret`, within the tolerance.
pub fn verify(secret: &str, header: &str, body: &[u8], now_unix: i64) -> bool {
    let field = |name: &str| {
        header
            .split(',')
            .filter_map(|part| part.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_owned())
    };
    let (Some(t), Some(v1)) = (field("t"), field("v1")) else {
        return false;
    };
    let (Ok(timestamp), Ok(expected)) = (t.parse::<i64>(), hex::decode(&v1)) else {
        return false;
    };
    if (now_unix - timestamp).abs() > TOLERANCE_SECONDS {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&expected).is_ok()
}

/// What the bot does for one event.
pub fn answer(event: &Value) -> Value {
    let actions = match event["type"].as_str() {
        Some("conversation.assigned") => json!([
            {"type": "message", "text": "Hi! I'm the echo bot. Write anything, or pick:",
             "buttons": [{"id": "human", "label": "Talk to a person"},
                         {"id": "docs", "label": "Read the docs", "url": "https://example.com/docs"}]}
        ]),
        Some("button.clicked") if event["choice"]["button_id"] == "human" => json!([
            {"type": "message", "text": "Connecting you to our team."},
            {"type": "handover", "context": {"topic": "echo"},
             "summary": "The visitor asked for a person from the echo bot."}
        ]),
        Some("message.created") => {
            let text = event["message"]["text"].as_str().unwrap_or_default();
            if text.to_lowercase().contains("bye") {
                json!([{"type": "message", "text": "Bye!"}, {"type": "end"}])
            } else {
                json!([{"type": "typing"}, {"type": "message", "text": format!("You said: {text}")}])
            }
        }
        _ => json!([]),
    };
    json!({ "actions": actions })
}

async fn event(request: HttpRequest, body: web::Bytes, secret: web::Data<String>) -> HttpResponse {
    let header = request
        .headers()
        .get("Frontdesk-Signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    if !verify(secret.get_ref(), header, &body, now) {
        return HttpResponse::Unauthorized().json(json!({"error": "bad signature"}));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(event) => HttpResponse::Ok().json(answer(&event)),
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

/// The bot's HTTP server on `listener`, verifying with `secret`.
pub fn server(secret: String, listener: std::net::TcpListener) -> std::io::Result<Server> {
    let secret = web::Data::new(secret);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(secret.clone())
            .default_service(web::post().to(event))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

#[actix_web::main]
#[allow(dead_code)]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("FRONTDESK_BOT_SECRET").unwrap_or_default();
    if secret.is_empty() {
        eprintln!("set FRONTDESK_BOT_SECRET to the bot's secret (bsec_…)");
        std::process::exit(2);
    }
    let bind = std::env::var("ECHO_BOT_BIND").unwrap_or_else(|_| "127.0.0.1:9100".to_owned());
    let listener = std::net::TcpListener::bind(&bind)?;
    eprintln!("echo bot listening on http://{bind}/");
    server(secret, listener)?.await
}
