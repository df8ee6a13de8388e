//! Webhooks (DESIGN section 7) received by a local HTTP receiver each test starts: signed
//! bodies that verify with the endpoint's secret, every conversation event and billing's,
//! retries after a 500 with the log to show it, delivery after a SIGKILL mid-retry, the API's
//! validation and tenancy.

use crate::{
    chatbot_runtime::{create_flow, support_flow},
    helpers::{TestApp, fresh_database, spawn_app, spawn_app_with},
    server_process::{Binary, free_port},
    sockets::Socket,
};
use actix_web::{HttpRequest, HttpResponse, web};
use frontdesk::domain::role::Role;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    failing: AtomicBool,
}

/// A webhook receiver on 127.0.0.1 that records every request and answers 200, or 500 while
/// told to fail.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let answered = if state.failing.load(Ordering::SeqCst) {
        500
    } else {
        200
    };
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    state.requests.lock().expect("lock").push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).expect("status")).finish()
}

impl Receiver {
    pub async fn start() -> Self {
        let state = web::Data::new(ReceiverState::default());
        let (port, handle) = crate::helpers::serve_on_free_port(state.clone(), receive);
        Self {
            url: format!("http://127.0.0.1:{port}/hooks"),
            state: state.into_inner(),
            handle,
        }
    }

    /// From now on answer 500 (`true`) or 200 (`false`).
    pub fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// Waits (up to `within`) until `done` holds for the requests received so far.
    pub async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver did not get what was expected: {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Whether `Frontdesk-Signature` is HMAC-SHA256 of `"<t>.<body>"` under `secret`, computed here.
pub fn verifies(secret: &str, signature: &str, body: &str) -> bool {
    let mut timestamp = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(timestamp), Some(v1)) = (timestamp, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
}

/// Runs the delivery job's work once, as the job would.
pub async fn deliver(app: &TestApp) -> usize {
    let client = frontdesk::services::webhooks::http_client().expect("client");
    frontdesk::services::webhooks::deliver_due(&app.ctx, &client)
        .await
        .expect("deliver")
}

/// Delivers until the receiver has `count` requests.
async fn deliver_until(app: &TestApp, receiver: &Receiver, count: usize) -> Vec<Received> {
    for _ in 0..50 {
        if receiver.received().len() >= count {
            break;
        }
        deliver(app).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver
        .wait_until(Duration::from_secs(2), |got| got.len() >= count)
        .await
}

pub async fn add_endpoint(app: &TestApp, token: &str, url: &str, events: Value) -> Value {
    let (status, endpoint) = app
        .call(
            token,
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": url, "events": events, "description": "test receiver"})),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint
}

fn kinds(received: &[Received]) -> Vec<String> {
    received.iter().map(Received::kind).collect()
}

#[tokio::test]
async fn conversation_and_message_events_arrive_signed_with_the_endpoint_secret() {
    let app = spawn_app().await;
    let account = app.create_account("Hooked").await;
    let token = app.token_for(&account.owner_email).await;
    let receiver = Receiver::start().await;
    let endpoint = add_endpoint(
        &app,
        &token,
        &receiver.url,
        json!([
            "conversation.created",
            "message.created",
            "conversation.resolved"
        ]),
    )
    .await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 20,
        "{secret}"
    );

    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("v-1", "Hello there").await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
    let mut received = deliver_until(&app, &receiver, 2).await;
    received.sort_by_key(Received::kind);
    assert_eq!(
        kinds(&received),
        ["conversation.created", "message.created"]
    );
    let created = received[0].json();
    assert_eq!(created["data"]["conversation"]["id"], conversation_id);
    assert_eq!(created["data"]["conversation"]["status"], "open");
    assert_eq!(created["account_id"], account.account_id.to_string());
    let message = received[1].json();
    assert_eq!(message["data"]["conversation_id"], conversation_id);
    assert_eq!(message["data"]["message"]["text"], "Hello there");
    assert_eq!(message["data"]["message"]["author"]["kind"], "visitor");
    for request in &received {
        let body = request.json();
        assert_eq!(request.header("frontdesk-event"), body["type"]);
        assert_eq!(request.header("content-type"), "application/json");
        assert!(
            request
                .header("frontdesk-delivery")
                .parse::<uuid::Uuid>()
                .is_ok()
        );
        let signature = request.header("frontdesk-signature");
        assert!(
            verifies(&secret, signature, &request.body),
            "the signature verifies: {signature}"
        );
        assert!(!verifies("whsec_wrong", signature, &request.body));
    }
    assert!(
        !verifies(
            &secret,
            received[1].header("frontdesk-signature"),
            &received[1].body.replace("Hello there", "Hello therf")
        ),
        "a tampered body does not verify"
    );

    // An agent's reply is sent; an internal note is not; the resolve is.
    let path = format!("/api/v1/conversations/{conversation_id}");
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"text": "A note for us", "client_id": "n-1", "internal": true})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"text": "Hi, how can I help?", "client_id": "a-1"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .call(&token, Method::POST, &format!("{path}/resolve"), None)
        .await;
    assert_eq!(status, 200);
    let received = deliver_until(&app, &receiver, 4).await;
    // Deliveries go out concurrently: order is not promised (receivers order by `created_at`
    // and a message's `seq`).
    let mut got = kinds(&received);
    got.sort();
    assert_eq!(
        got,
        [
            "conversation.created",
            "conversation.resolved",
            "message.created",
            "message.created",
        ]
    );
    let reply = received
        .iter()
        .map(Received::json)
        .find(|body| body["data"]["message"]["author"]["kind"] == "agent")
        .expect("the agent's reply");
    assert_eq!(reply["data"]["message"]["text"], "Hi, how can I help?");
    assert!(
        received.iter().all(|r| !r.body.contains("A note for us")),
        "an internal note is never sent"
    );
    let resolved = received
        .iter()
        .map(Received::json)
        .find(|body| body["type"] == "conversation.resolved")
        .expect("resolved");
    assert_eq!(resolved["data"]["conversation"]["id"], conversation_id);
    assert_eq!(resolved["data"]["conversation"]["status"], "resolved");
    // Nothing else is due: each delivery went out once.
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(receiver.received().len(), 4);
    receiver.stop().await;
}

#[tokio::test]
async fn an_account_without_subscribed_endpoints_records_no_conversation_events() {
    let app = spawn_app().await;
    let account = app.create_account("Quiet").await;
    let token = app.token_for(&account.owner_email).await;
    // Subscribed to billing only: messages write no event rows.
    add_endpoint(
        &app,
        &token,
        "http://127.0.0.1:9/never",
        json!(["billing.invoice_created"]),
    )
    .await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget.say("q-1", "Anyone there?").await;
    widget.say("q-2", "Hello?").await;
    let events =
        frontdesk::storage::billing::events(&app.ctx.db, account.account_id.as_uuid(), 100)
            .await
            .expect("events");
    // (Opening the account billed its first period: that billing event is always kept.)
    let conversational: Vec<_> = events
        .iter()
        .filter(|event| !event.kind.starts_with("billing."))
        .collect();
    assert!(conversational.is_empty(), "{conversational:?}");
    assert!(
        events
            .iter()
            .any(|event| event.kind == "billing.invoice_created"),
        "billing events are recorded with or without listeners"
    );
}

#[tokio::test]
async fn a_bot_handover_sends_conversation_escalated() {
    let app = spawn_app().await;
    let account = app.create_account("Botty").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let receiver = Receiver::start().await;
    add_endpoint(
        &app,
        &token,
        &receiver.url,
        json!(["conversation.escalated"]),
    )
    .await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget
        .send(json!({"type": "trigger", "flow_id": flow_id}))
        .await;
    let greeting = widget.recv_type("message").await;
    let conversation_id = greeting["conversation_id"].as_str().expect("id").to_owned();
    widget
        .send(json!({"type": "choose", "client_id": "h-1", "button_id": "human"}))
        .await;
    loop {
        let frame = widget.recv().await;
        if frame["type"] == "ack" && frame["client_id"] == "h-1" {
            break;
        }
        assert_ne!(frame["type"], "error", "{frame}");
    }
    let received = deliver_until(&app, &receiver, 1).await;
    assert_eq!(kinds(&received), ["conversation.escalated"]);
    let conversation = &received[0].json()["data"]["conversation"];
    assert_eq!(conversation["id"], conversation_id);
    assert_eq!(conversation["handler"], "human");
    assert_eq!(conversation["outcome"], "escalated_to_human");
    receiver.stop().await;
}

#[tokio::test]
async fn billing_events_reach_subscribed_endpoints() {
    use frontdesk::storage::entities::chatbot_usage;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let app = spawn_app().await;
    let account = app.create_account("Counted").await;
    let token = app.token_for(&account.owner_email).await;
    let receiver = Receiver::start().await;
    add_endpoint(&app, &token, &receiver.url, json!(["*"])).await;
    // One chatbot conversation left this period: counting one reaches the limit.
    let (_, allowance) =
        frontdesk::services::billing::allowance(&app.ctx, account.account_id.as_uuid())
            .await
            .expect("allowance");
    let used = i32::try_from(allowance.limit).expect("limit") - 1;
    chatbot_usage::Entity::update_many()
        .col_expr(chatbot_usage::Column::Used, Expr::value(used))
        .filter(chatbot_usage::Column::AccountId.eq(account.account_id.as_uuid()))
        .exec(&app.ctx.db)
        .await
        .expect("set usage");
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("b-1", "hello").await;
    let conversation = ack["conversation_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    frontdesk::services::chatbot::record_interaction(
        &app.ctx,
        account.account_id,
        conversation,
        None,
    )
    .await
    .expect("count");
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            "/api/v1/billing/packages",
            Some(json!({"quantity": 1})),
        )
        .await;
    assert_eq!(status, 201);
    let received = deliver_until(&app, &receiver, 5).await;
    let kinds = kinds(&received);
    for kind in [
        "conversation.created",
        "message.created",
        "chatbot.limit_warning",
        "chatbot.limit_reached",
        "billing.invoice_created",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "{kind} once in {kinds:?}"
        );
    }
    let reached = received
        .iter()
        .find(|r| r.kind() == "chatbot.limit_reached")
        .expect("reached")
        .json();
    assert_eq!(reached["data"]["used"], reached["data"]["limit"]);
    receiver.stop().await;
}

#[tokio::test]
async fn a_delivery_answered_with_500_is_retried_with_backoff_and_logged_until_delivered() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let clock = app.ctx.test_clock.clone().expect("test clock");
    let start = chrono::Utc::now();
    clock.set(start);
    let account = app.create_account("Flaky").await;
    let token = app.token_for(&account.owner_email).await;
    let receiver = Receiver::start().await;
    receiver.fail(true);
    let endpoint = add_endpoint(&app, &token, &receiver.url, json!(["*"])).await;
    let id = endpoint["id"].as_str().expect("id");
    let (status, queued) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["status"], "pending");
    assert_eq!(queued["event"], "webhook.test");
    assert_eq!(queued["attempts"], 0);

    assert_eq!(deliver(&app).await, 1);
    let log = |app: TestApp, token: String| async move {
        let (status, body) = app
            .call(
                &token,
                Method::GET,
                &format!("/api/v1/webhooks/{id}/deliveries"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        body["deliveries"][0].clone()
    };
    let failed = log(app.clone(), token.clone()).await;
    assert_eq!(failed["status"], "pending");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["last_status_code"], 500);
    assert_eq!(receiver.received()[0].answered, 500);
    // The next attempt waits out the backoff (60 s by default, plus up to a fifth).
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(failed["next_attempt_at"].clone()).expect("next attempt");
    let wait = next - start;
    assert!(
        wait >= chrono::Duration::seconds(60) && wait <= chrono::Duration::seconds(73),
        "{wait}"
    );
    clock.set(start + chrono::Duration::seconds(30));
    assert_eq!(deliver(&app).await, 0, "not due yet");
    assert_eq!(receiver.received().len(), 1);

    receiver.fail(false);
    clock.set(start + chrono::Duration::seconds(75));
    assert_eq!(deliver(&app).await, 1);
    let delivered = log(app.clone(), token.clone()).await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["attempts"], 2);
    assert_eq!(delivered["last_status_code"], 200);
    assert_eq!(delivered["next_attempt_at"], Value::Null);
    let received = receiver.received();
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 200]
    );
    assert_eq!(
        received[0].header("frontdesk-delivery"),
        received[1].header("frontdesk-delivery"),
        "a retry is the same delivery (receivers dedupe on it)"
    );
    assert_eq!(received[0].body, received[1].body, "the same event");
    assert_eq!(deliver(&app).await, 0, "delivered once");
    receiver.stop().await;
}

#[tokio::test]
async fn webhooks_api_validates_input_and_keeps_accounts_and_agents_out() {
    let app = spawn_app().await;
    let account = app.create_account("Owner").await;
    let token = app.token_for(&account.owner_email).await;
    for (body, field) in [
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "ftp://example.com/hooks"}), "url"),
        (json!({"url": ""}), "url"),
        (
            json!({"url": "https://example.com/hooks", "events": ["message.created", "nope"]}),
            "events",
        ),
    ] {
        let (status, error) = app
            .call(&token, Method::POST, "/api/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["error"]["code"], "validation_failed");
        assert_eq!(error["error"]["details"][0]["field"], field, "{error}");
    }
    let endpoint = add_endpoint(&app, &token, "https://example.com/hooks", Value::Null).await;
    assert_eq!(endpoint["events"], json!(["*"]));
    let id = endpoint["id"].as_str().expect("id");
    let (status, listed) = app
        .call(&token, Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["webhooks"][0]["secret"], endpoint["secret"]);

    let other = app.create_account("Other").await;
    let other_token = app.token_for(&other.owner_email).await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/webhooks/{id}")),
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
    ] {
        let (status, _) = app.call(&other_token, method.clone(), &path, None).await;
        assert_eq!(status, 404, "{method} {path} from another account");
    }
    let (_, theirs) = app
        .call(&other_token, Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(theirs["webhooks"], json!([]));

    let agent = app.create_user(&account, Role::Agent).await;
    let agent_token = app.token_for(&agent).await;
    let (status, _) = app
        .call(&agent_token, Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            &agent_token,
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "https://example.com/x"})),
        )
        .await;
    assert_eq!(status, 403);
    let agent_client = app.signed_in(&agent).await;
    let page = app.get(&agent_client, "/settings/webhooks").await;
    assert_eq!(page.status().as_u16(), 403);

    let (status, _) = app
        .call(
            &token,
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(&token, Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_settings_page_adds_an_endpoint_and_queues_a_test_event() {
    let app = spawn_app().await;
    let account = app.create_account("Paged").await;
    let owner = app.signed_in(&account.owner_email).await;
    let response = app
        .post_form(
            &owner,
            "/settings/webhooks",
            "/settings/webhooks",
            &[("url", "not a url")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let response = app
        .post_form(
            &owner,
            "/settings/webhooks",
            "/settings/webhooks",
            &[
                ("url", "https://example.com/hooks"),
                ("event", "message.created"),
                ("event", "conversation.resolved"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let token = app.token_for(&account.owner_email).await;
    let (_, listed) = app
        .call(&token, Method::GET, "/api/v1/webhooks", None)
        .await;
    let endpoint = &listed["webhooks"][0];
    assert_eq!(
        endpoint["events"],
        json!(["message.created", "conversation.resolved"])
    );
    let id = endpoint["id"].as_str().expect("id");
    let html = app
        .get(&owner, "/settings/webhooks")
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains(endpoint["secret"].as_str().expect("secret")));
    let response = app
        .post_form(
            &owner,
            "/settings/webhooks",
            &format!("/settings/webhooks/{id}/test"),
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let html = app
        .get(&owner, "/settings/webhooks?sent=1")
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains("Test event queued"));
    assert!(html.contains("data-status=\"pending\"") && html.contains("webhook.test"));
}

// --- A restart mid-retry (the real binary, killed with SIGKILL) -------------------------

#[tokio::test]
async fn a_delivery_still_arrives_after_the_server_is_killed_mid_retry() {
    let (database_url, _dir) = fresh_database().await;
    let binary = Binary::new(&database_url)
        .env("FRONTDESK_JOBS", "1")
        .env("FRONTDESK_WEBHOOK_RETRY_BASE_SECONDS", "2")
        .env("FRONTDESK_WEBHOOK_POLL_MILLIS", "100");
    let (_, token) = binary.account_with_token("Restarted", "r@example.com");
    let receiver = Receiver::start().await;
    receiver.fail(true);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = binary.serve(port).await;
    let endpoint: Value = client
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .expect("add endpoint")
        .json()
        .await
        .expect("json");
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let response = client
        .post(format!("{base}/api/v1/webhooks/{id}/test"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("test event");
    assert_eq!(response.status().as_u16(), 202);
    // The first attempt fails with a 500 and is recorded as such.
    receiver
        .wait_until(Duration::from_secs(10), |got| !got.is_empty())
        .await;
    let deliveries = format!("{base}/api/v1/webhooks/{id}/deliveries");
    let mut logged = Value::Null;
    for _ in 0..100 {
        logged = client
            .get(&deliveries)
            .bearer_auth(&token)
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        if logged["deliveries"][0]["last_status_code"] == 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(logged["deliveries"][0]["status"], "pending", "{logged}");
    assert_eq!(logged["deliveries"][0]["last_status_code"], 500, "{logged}");
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reap the server");
    let before_restart = receiver.received().len();
    assert!(receiver.received().iter().all(|r| r.answered == 500));

    receiver.fail(false);
    let mut restarted = binary.serve(port).await;
    let received = receiver
        .wait_until(Duration::from_secs(20), |got| {
            got.iter().any(|r| r.answered == 200)
        })
        .await;
    assert!(received.len() > before_restart);
    let delivery = received[0].header("frontdesk-delivery").to_owned();
    assert!(
        received
            .iter()
            .all(|r| r.header("frontdesk-delivery") == delivery && r.kind() == "webhook.test"),
        "every attempt is the same delivery"
    );
    let mut logged = Value::Null;
    for _ in 0..100 {
        logged = client
            .get(&deliveries)
            .bearer_auth(&token)
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        if logged["deliveries"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(logged["deliveries"][0]["status"], "delivered", "{logged}");
    assert_eq!(logged["deliveries"][0]["last_status_code"], 200);
    restarted.kill().expect("stop the server");
    restarted.wait().expect("reap the server");
    receiver.stop().await;
}
