//! The baseline servers the scenarios are compared with, on the same actix-web and actix-ws
//! stack as Frontdesk but doing nothing else: B1 a bare echo, B2 a bare broadcast relay
//! (visitors' frames forwarded to the agent sockets of their group), and the bare external
//! bot of "S3 external bot" (each event answered in its HTTP response). Run as their own
//! process by `frontdesk bench baseline-server echo|relay|bot --bind ADDR`.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, get, post, web};
use actix_ws::AggregatedMessage;
use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::broadcast;

/// Frames a relay's agent socket may fall behind, as in Frontdesk's hub.
const CHANNEL_CAPACITY: usize = 256;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Kind {
    /// B1: every text frame comes back on the same socket.
    Echo,
    /// B2: `/relay/visitor?group=G` frames go to every `/relay/agent?group=G` socket.
    Relay,
    /// S3's external bot: `POST /bot` events answered in the response with the bench flow's
    /// next step (menu <-> pricing), the signature not checked.
    Bot,
}

/// The bench bot's two messages, as the bench flow's `menu` and `pricing` steps say them.
pub const BOT_MENU: (&str, &str, &str) = ("What do you need?", "price", "Pricing");
pub const BOT_PRICING: (&str, &str, &str) = ("Plans start at 19.", "back", "Back");

/// The relay's groups (an account's agents, in Frontdesk's terms).
#[derive(Default)]
struct Groups {
    channels: Mutex<HashMap<u32, broadcast::Sender<Arc<str>>>>,
}

impl Groups {
    fn sender(&self, group: u32) -> broadcast::Sender<Arc<str>> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        channels
            .entry(group)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .clone()
    }
}

#[derive(Deserialize)]
struct GroupQuery {
    group: u32,
}

#[get("/readyz")]
async fn ready() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> actix_web::Result<(
    HttpResponse,
    actix_ws::Session,
    actix_ws::AggregatedMessageStream,
)> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    Ok((response, session, stream.aggregate_continuations()))
}

/// Answers each text frame with what `answer` makes of it, and pings with pongs, until the
/// peer leaves.
fn answer_texts(
    mut session: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    mut answer: impl FnMut(&str) -> String + 'static,
) {
    actix_web::rt::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let sent = match message {
                AggregatedMessage::Text(text) => session.text(answer(&text)).await,
                AggregatedMessage::Ping(bytes) => session.pong(&bytes).await,
                AggregatedMessage::Close(_) => break,
                _ => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
        let _ = session.close(None).await;
    });
}

#[get("/echo")]
async fn echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = upgrade(&req, body)?;
    answer_texts(session, stream, str::to_owned);
    Ok(response)
}

#[get("/relay/visitor")]
async fn relay_visitor(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<GroupQuery>,
    groups: web::Data<Groups>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = upgrade(&req, body)?;
    let sender = groups.sender(query.group);
    // Forward to the group's agents, then acknowledge (as Frontdesk acks).
    answer_texts(session, stream, move |text| {
        let _ = sender.send(Arc::from(text));
        "{\"type\":\"ack\"}".to_owned()
    });
    Ok(response)
}

#[get("/relay/agent")]
async fn relay_agent(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<GroupQuery>,
    groups: web::Data<Groups>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = upgrade(&req, body)?;
    let mut frames = groups.sender(query.group).subscribe();
    actix_web::rt::spawn(async move {
        loop {
            let sent = tokio::select! {
                frame = frames.recv() => match frame {
                    Ok(frame) => session.text(frame.to_string()).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                message = stream.next() => match message {
                    Some(Ok(AggregatedMessage::Ping(bytes))) => session.pong(&bytes).await,
                    Some(Ok(AggregatedMessage::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => Ok(()),
                },
            };
            if sent.is_err() {
                break;
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

#[post("/bot")]
async fn bot_event(event: web::Json<serde_json::Value>) -> HttpResponse {
    let (text, button_id, label) = match (
        event["type"].as_str(),
        event["choice"]["button_id"].as_str(),
    ) {
        (Some("button.clicked"), Some("price")) => BOT_PRICING,
        (Some("button.clicked" | "conversation.assigned"), _) => BOT_MENU,
        _ => return HttpResponse::Ok().json(serde_json::json!({"actions": []})),
    };
    HttpResponse::Ok().json(serde_json::json!({"actions": [
        {"type": "message", "text": text, "buttons": [{"id": button_id, "label": label}]}
    ]}))
}

/// Serves a baseline until killed.
pub async fn serve(kind: Kind, bind: std::net::SocketAddr) -> anyhow::Result<()> {
    let groups = web::Data::new(Groups::default());
    HttpServer::new(move || {
        let app = App::new().app_data(groups.clone()).service(ready);
        match kind {
            Kind::Echo => app.service(echo),
            Kind::Relay => app.service(relay_visitor).service(relay_agent),
            Kind::Bot => app.service(bot_event),
        }
    })
    .bind(bind)
    .with_context(|| format!("binding {bind}"))?
    .run()
    .await
    .context("serving the baseline")
}
