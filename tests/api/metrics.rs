//! `GET /metrics`: open sockets, stored messages, delivery and transaction latencies, chatbot
//! conversations and webhook failures as Prometheus text, and the optional scrape token.
//! Every application has its own registry, so the figures are exact.

use crate::{
    agent_socket::session_cookie,
    chatbot_runtime::{create_flow, support_flow},
    helpers::{TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
    webhooks::{add_endpoint, deliver},
};
use frontdesk::{config::Secret, domain::role::Role};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// The body of `GET /metrics` (open: no token set).
pub async fn scrape(app: &TestApp) -> String {
    let response = reqwest::get(app.url("/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("metrics text")
}

/// The value of one series (`name{labels}` exactly as rendered); NaN when it is absent.
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Scrapes until `series` has `expected` (sockets close on their own task), failing after 5 s.
async fn eventually(app: &TestApp, series: &str, expected: f64) {
    let mut last = f64::NAN;
    for _ in 0..100 {
        last = value(&scrape(app).await, series);
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{series} stayed {last}, expected {expected}");
}

#[tokio::test]
async fn metrics_count_open_sockets_stored_messages_and_their_latencies() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let agent_email = app.create_user(&account, Role::Agent).await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "frontdesk_widget_sockets"), 0.0);
    assert_eq!(value(&text, "frontdesk_agent_sockets"), 0.0);
    assert_eq!(value(&text, "frontdesk_build_info{version=\"0.1.0\"}"), 1.0);
    #[cfg(target_os = "linux")]
    assert!(
        value(&text, "process_resident_memory_bytes") > 0.0,
        "{text}"
    );

    let cookie = session_cookie(&app, &agent_email).await;
    let mut inbox = Socket::open(&app.address, "/ws/agent", Some(&app.address), Some(&cookie))
        .await
        .expect("inbox socket");
    let mut widgets = Vec::new();
    for _ in 0..3 {
        let mut widget = Socket::widget(&app, &account.widget_key).await;
        widget.hello(None, None, None).await;
        widgets.push(widget);
    }
    eventually(&app, "frontdesk_agent_sockets", 1.0).await;
    assert_eq!(value(&scrape(&app).await, "frontdesk_widget_sockets"), 3.0);

    let mut conversation_id = String::new();
    for (n, widget) in widgets.iter_mut().enumerate() {
        for m in 0..2 {
            let ack = widget.say(&format!("w{n}-{m}"), "Hello there").await;
            conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
        }
    }
    // A resend is answered with the original: nothing new is stored.
    widgets[0].say("w0-0", "Hello there").await;
    // The inbox heard all six.
    let mut heard = 0;
    while heard < 6 {
        let frame = inbox.recv_type("message").await;
        if frame["message"]["author"]["kind"] == "visitor" {
            heard += 1;
        }
    }
    app.reply(&token, &conversation_id, "r-1", "How can I help?")
        .await;

    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "frontdesk_messages_total{kind=\"visitor\"}"),
        6.0
    );
    assert_eq!(
        value(&text, "frontdesk_messages_total{kind=\"agent\"}"),
        1.0
    );
    assert_eq!(value(&text, "frontdesk_messages_total{kind=\"bot\"}"), 0.0);
    assert_eq!(
        value(&text, "frontdesk_message_delivery_seconds_count"),
        6.0,
        "one delivery per stored visitor message"
    );
    assert!(value(&text, "frontdesk_message_delivery_seconds_sum") > 0.0);
    assert_eq!(
        value(
            &text,
            "frontdesk_message_delivery_seconds_bucket{le=\"+Inf\"}"
        ),
        6.0
    );
    assert_eq!(
        value(
            &text,
            "frontdesk_db_transaction_seconds_count{operation=\"visitor_message\"}"
        ),
        6.0,
        "the resend rolled back: not a committed transaction"
    );
    assert_eq!(
        value(
            &text,
            "frontdesk_db_transaction_seconds_count{operation=\"agent_message\"}"
        ),
        1.0
    );
    assert!(
        value(
            &text,
            "frontdesk_db_statement_seconds_count{statement=\"insert\"}"
        ) >= 7.0,
        "every message is an insert"
    );
    if app.database_url.starts_with("sqlite") {
        // The token's first use is recorded through the writer too, after its request answered.
        eventually(&app, "frontdesk_message_writes_total", 10.0).await;
    }
    let text = scrape(&app).await;
    let (batches, writes) = (
        value(&text, "frontdesk_message_write_batches_total"),
        value(&text, "frontdesk_message_writes_total"),
    );
    if app.database_url.starts_with("sqlite") {
        assert_eq!(
            writes, 10.0,
            "seven messages went through the writer, the resend twice (its insert hit the \
             unique index, and its retry found the original), and the token's first use once"
        );
        assert!((1.0..=writes).contains(&batches), "{batches} batches");
    } else {
        assert_eq!(
            (batches, writes),
            (0.0, 0.0),
            "no group commit on PostgreSQL"
        );
    }

    for widget in widgets.drain(1..) {
        widget.close().await;
    }
    eventually(&app, "frontdesk_widget_sockets", 1.0).await;
    inbox.close().await;
    eventually(&app, "frontdesk_agent_sockets", 0.0).await;
    widgets.remove(0).close().await;
    eventually(&app, "frontdesk_widget_sockets", 0.0).await;
}

/// Clicks a button; answers once its `ack` arrives.
async fn click(widget: &mut Socket, client_id: &str, button_id: &str) {
    widget
        .send(json!({"type": "choose", "client_id": client_id, "button_id": button_id}))
        .await;
    loop {
        let frame = widget.recv().await;
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["type"] == "ack" && frame["client_id"] == client_id {
            return;
        }
    }
}

#[tokio::test]
async fn a_chatbot_conversation_is_counted_once_at_the_first_click_and_its_messages_by_author() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget
        .send(json!({"type": "trigger", "flow_id": flow_id}))
        .await;
    let greeting = widget.recv_type("message").await;
    let conversation_id = greeting["conversation_id"].as_str().expect("id").to_owned();
    assert_eq!(
        value(&scrape(&app).await, "frontdesk_chatbot_conversations_total"),
        0.0,
        "a trigger alone counts nothing"
    );

    click(&mut widget, "c-1", "price").await;
    click(&mut widget, "c-2", "back").await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "frontdesk_chatbot_conversations_total"), 1.0);
    assert_eq!(
        value(
            &text,
            "frontdesk_db_transaction_seconds_count{operation=\"button_click\"}"
        ),
        2.0
    );
    // The counter by author equals what the conversation holds.
    let (status, listed) = app
        .call(
            &token,
            Method::GET,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let messages = listed["messages"].as_array().cloned().unwrap_or_default();
    for kind in ["visitor", "bot", "system"] {
        let stored = messages
            .iter()
            .filter(|message| message["author"]["kind"] == kind)
            .count();
        assert_eq!(
            value(
                &text,
                &format!("frontdesk_messages_total{{kind=\"{kind}\"}}")
            ),
            stored as f64,
            "{kind}"
        );
    }
    assert_eq!(
        value(&text, "frontdesk_messages_total{kind=\"visitor\"}"),
        2.0,
        "one per click"
    );
    assert_eq!(
        value(&text, "frontdesk_message_delivery_seconds_count"),
        0.0,
        "clicks are not message frames"
    );
}

#[tokio::test]
async fn failed_webhook_attempts_are_counted_and_a_delivery_given_up_once() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let clock = app.ctx.test_clock.clone().expect("test clock");
    let mut now = chrono::Utc::now();
    clock.set(now);
    let account = app.create_account("Hooked").await;
    let token = app.token_for(&account.owner_email).await;
    // A port nobody listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let endpoint = add_endpoint(&app, &token, &format!("http://{closed}/hook"), json!(["*"])).await;
    let id = endpoint["id"].as_str().expect("id");
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 202);

    assert_eq!(deliver(&app).await, 1);
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "frontdesk_webhook_attempts_total{result=\"failed\"}"),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "frontdesk_webhook_attempts_total{result=\"delivered\"}"
        ),
        0.0
    );
    assert_eq!(
        value(&text, "frontdesk_webhook_deliveries_given_up_total"),
        0.0
    );
    // Past every backoff (at most 6 hours) until the last attempt fails.
    let mut attempts = 1;
    while attempts < frontdesk::domain::webhook::MAX_ATTEMPTS {
        now += chrono::Duration::hours(8);
        clock.set(now);
        attempts += i32::try_from(deliver(&app).await).expect("small");
    }
    let (_, log) = app
        .call(
            &token,
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(log["deliveries"][0]["status"], "failed", "{log}");
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "frontdesk_webhook_attempts_total{result=\"failed\"}"),
        f64::from(frontdesk::domain::webhook::MAX_ATTEMPTS)
    );
    assert_eq!(
        value(&text, "frontdesk_webhook_deliveries_given_up_total"),
        1.0
    );
}

#[tokio::test]
async fn with_a_token_set_metrics_answer_only_that_bearer_token() {
    const TOKEN: &str = "scrape-me-please-0123456789";
    let app =
        spawn_app_with(|settings| settings.metrics_token = Some(Secret::new(TOKEN.into()))).await;
    let client = reqwest::Client::new();
    let get = |auth: Option<&str>| {
        let mut request = client.get(app.url("/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for refused in [None, Some("Bearer wrong-token-0123456789"), Some(TOKEN)] {
        let response = get(refused).await.expect("GET /metrics");
        assert_eq!(response.status().as_u16(), 401, "{refused:?}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let body: Value = response.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let response = get(Some(&format!("Bearer {TOKEN}")))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4")
    );
    let text = response.text().await.expect("text");
    assert_eq!(value(&text, "frontdesk_widget_sockets"), 0.0);
}
