//! The bench's accounts on the server under test, made as an operator would: `account create
//! --json` and `token create --json` through the CLI, an agent signed in through the login
//! form for the inbox socket, a chatbot flow or an external bot through the REST API.

use super::{
    baseline::{BOT_MENU, BOT_PRICING},
    client::{self, Ws},
    server::FrontdeskEnv,
};
use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "bench password 2026";
/// The plan bench accounts are on; its chatbot allowance is raised so S3 never runs out.
const PLAN: &str = "SOLO";
const CHATBOT_CONVERSATIONS: &str = "100000000";
/// How long the bench waits for an answer frame while setting up.
pub const SETUP_WAIT: Duration = Duration::from_secs(30);

/// One account: its widget key, and its owner (an agent of the inbox) with an API token.
#[derive(Clone, Debug)]
pub struct BenchAccount {
    pub widget_key: String,
    pub email: String,
    pub token: String,
}

/// Raises the plan's chatbot conversations; accounts created afterwards get the allowance.
pub fn allow_chatbot(env: &FrontdeskEnv) -> anyhow::Result<()> {
    env.cli_json(&[
        "plan",
        "set",
        PLAN,
        "--chatbot-conversations",
        CHATBOT_CONVERSATIONS,
        "--json",
    ])?;
    Ok(())
}

/// Creates `count` accounts named after `label`.
pub fn create(env: &FrontdeskEnv, label: &str, count: usize) -> anyhow::Result<Vec<BenchAccount>> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    (0..count)
        .map(|n| {
            let email = format!("bench-{label}-{n}-{}@example.com", &run[..8]);
            let name = format!("Bench {label} {n}");
            let created = env.cli_json(&[
                "account",
                "create",
                "--name",
                &name,
                "--plan",
                PLAN,
                "--owner-email",
                &email,
                "--owner-password",
                PASSWORD,
                "--json",
            ])?;
            let widget_key = text(&created, "widget_key")?;
            let token = text(
                &env.cli_json(&["token", "create", "--email", &email, "--json"])?,
                "token",
            )?;
            Ok(BenchAccount {
                widget_key,
                email,
                token,
            })
        })
        .collect()
}

fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {field} in {value}"))
}

/// The value of the login page's `csrf_token` field.
fn csrf(html: &str) -> anyhow::Result<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).context("no CSRF field on /login")? + marker.len();
    let end = html[start..].find('"').context("unterminated CSRF field")? + start;
    Ok(html[start..end].to_owned())
}

/// Posts the sign-in form with the CSRF token of a fresh `/login` page, as a browser does;
/// the caller's client keeps the session cookie and judges the answer.
pub(crate) async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .context("GET /login")?
        .text()
        .await
        .context("reading /login")?;
    http.post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf(&page)?.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .context("POST /login")
}

/// Signs the account's owner in through the form and opens the inbox socket `/ws/agent`.
pub async fn agent_socket(
    server: SocketAddr,
    account: &BenchAccount,
    n: usize,
) -> anyhow::Result<Ws> {
    let base = format!("http://{server}");
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building an HTTP client")?;
    let response = sign_in(&http, &base, &account.email, PASSWORD).await?;
    anyhow::ensure!(
        response.status().as_u16() == 303,
        "signing in {} answered {}",
        account.email,
        response.status()
    );
    let url: url::Url = base.parse().context("the server's URL")?;
    let cookie = reqwest::cookie::CookieStore::cookies(&*jar, &url)
        .context("no session cookie after signing in")?
        .to_str()
        .context("the session cookie")?
        .to_owned();
    client::connect(
        server,
        "/ws/agent",
        n,
        &[("origin", base.clone()), ("cookie", cookie)],
    )
    .await
}

/// Creates an enabled flow whose menu has buttons (Pricing <-> Back loop); answers its id.
pub async fn create_flow(server: SocketAddr, token: &str) -> anyhow::Result<String> {
    let (menu, price, pricing_label) = BOT_MENU;
    let (pricing, back, back_label) = BOT_PRICING;
    let flow = json!({
      "name": "Bench", "enabled": true, "priority": 10, "welcome": "Hi! Can I help?",
      "trigger": {"when": {"type": "delay", "seconds": 0}},
      "start": "menu",
      "steps": {
        "menu": {"type": "message", "text": menu, "buttons": [
            {"id": price, "label": pricing_label, "next": "pricing"},
            {"id": "human", "label": "Talk to a person", "next": "handover"}]},
        "pricing": {"type": "message", "text": pricing, "buttons": [
            {"id": back, "label": back_label, "next": "menu"}]},
        "handover": {"type": "handover", "message": "Connecting you."}
      }
    });
    created_id(server, token, "/api/v1/flows", &flow).await
}

/// Registers the bench's bare bot at `url` and a routing rule that gives it every new
/// conversation (the bench visitors are on /pricing); answers the bot's id.
pub async fn create_bot(server: SocketAddr, token: &str, url: &str) -> anyhow::Result<String> {
    let bot = json!({"name": "Bench bot", "url": url, "timeout_ms": 5000});
    let bot_id = created_id(server, token, "/api/v1/bots", &bot).await?;
    let team_id = created_id(server, token, "/api/v1/teams", &json!({"name": "Bench"})).await?;
    let rule = json!({"name": "Everyone to the bench bot",
        "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}],
        "team_id": team_id, "target": {"bot_id": bot_id}});
    created_id(server, token, "/api/v1/routing-rules", &rule).await?;
    Ok(bot_id)
}

/// POSTs `body` to the REST API's `path` as the owner; answers the created thing's `id`.
async fn created_id(
    server: SocketAddr,
    token: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(format!("http://{server}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("reading the answer of POST {path}"))?;
    anyhow::ensure!(
        status.as_u16() == 201,
        "POST {path} answered {status}: {body}"
    );
    text(&body, "id")
}

/// Sends a frame as JSON text.
pub async fn send(ws: &mut Ws, frame: &Value) -> anyhow::Result<()> {
    ws.send(Message::text(frame.to_string()))
        .await
        .context("sending a frame")
}

/// Waits for the first frame `wanted` accepts; an `error` frame or a close is an error.
pub async fn wait_for(ws: &mut Ws, wanted: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + SETUP_WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("no answer from the server in time")?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value =
                    serde_json::from_str(&text).context("a frame that is not JSON")?;
                if frame["type"] == "error" {
                    anyhow::bail!("the server answered an error: {frame}");
                }
                if wanted(&frame) {
                    return Ok(frame);
                }
            }
            Some(Ok(Message::Close(reason))) => {
                anyhow::bail!("the server closed the socket: {reason:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error).context("reading a frame"),
            None => anyhow::bail!("the socket ended"),
        }
    }
}

/// A visitor's widget socket after `hello` was answered by `welcome`.
pub async fn visitor(
    server: SocketAddr,
    widget_key: &str,
    n: usize,
) -> anyhow::Result<(Ws, Value)> {
    let mut ws = client::connect(server, &format!("/ws/widget?key={widget_key}"), n, &[]).await?;
    send(
        &mut ws,
        &json!({"type": "hello", "page": {"url": "https://shop.example.com/pricing", "title": "Pricing"}, "language": "en", "device": "desktop"}),
    )
    .await?;
    let welcome = wait_for(&mut ws, |frame| frame["type"] == "welcome").await?;
    Ok((ws, welcome))
}
