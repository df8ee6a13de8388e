//! Email over SMTP: notifications (offline message, new conversation) and the visitor's
//! transcript reach a local SMTP sink with the right content; failures are retried from the
//! durable outbox, across a restart too.

use crate::{
    helpers::{TestAccount, TestApp, fresh_database, spawn_app_with},
    smtp_sink::{Mode, Received, SmtpSink},
    sockets::Socket,
};
use frontdesk::{mailer::Mailer, services};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const NOTIFY: &str = "alerts@acme.example";

/// An app whose mail goes to `sink`; the tests send the outbox themselves (`deliver`).
async fn app_with_sink(sink: &SmtpSink) -> (TestApp, TestAccount, String) {
    let url = sink.url();
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(frontdesk::config::Secret::new(url));
        s.public_url = Some("https://desk.acme.example".to_owned());
        s.mail_from = "Acme Desk <desk@acme.example>".to_owned();
        s.email_retry_ms = 50;
    })
    .await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    (app, account, token)
}

/// One round of the email job, as `jobs::email` runs it.
async fn deliver(app: &TestApp) -> usize {
    let mailer = Mailer::from_settings(&app.ctx.settings).expect("mailer");
    services::email::deliver_due(&app.ctx, &mailer)
        .await
        .expect("deliver due emails")
}

async fn set_notifications(app: &TestApp, token: &str, notifications: Value) -> Value {
    let (status, body) = app
        .call(
            token,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({ "notifications": notifications })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn outbox(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app.call(token, Method::GET, "/api/v1/emails", None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a list").clone()
}

fn only(received: &[Received]) -> &Received {
    assert_eq!(received.len(), 1, "{received:#?}");
    &received[0]
}

#[tokio::test]
async fn notification_settings_are_shown_validated_and_changed_through_the_account_api() {
    let sink = SmtpSink::start().await;
    let (app, _, token) = app_with_sink(&sink).await;
    let (_, account) = app.call(&token, Method::GET, "/api/v1/account", None).await;
    assert_eq!(
        account["notifications"],
        json!({"email": null, "new_conversation": true, "offline_message": true})
    );
    let (status, error) = app
        .call(
            &token,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({"notifications": {"email": "not an address"}})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(error["error"]["details"][0]["field"], "notifications.email");
    let changed = set_notifications(
        &app,
        &token,
        json!({"email": " Alerts@Acme.example ", "new_conversation": false}),
    )
    .await;
    assert_eq!(
        changed["notifications"],
        json!({"email": NOTIFY, "new_conversation": false, "offline_message": true})
    );
    // Other account fields alone keep the notifications.
    let (_, renamed) = app
        .call(
            &token,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({"name": "Acme Ltd"})),
        )
        .await;
    assert_eq!(renamed["notifications"]["email"], NOTIFY);
    let cleared = set_notifications(&app, &token, json!({"email": ""})).await;
    assert_eq!(cleared["notifications"]["email"], Value::Null);
}

#[tokio::test]
async fn an_offline_message_is_emailed_to_the_notification_address_with_reply_to_the_visitor() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    set_notifications(&app, &token, json!({"email": NOTIFY})).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget
        .send(
            json!({"type": "offline_message", "client_id": "off-1", "name": "Ann",
            "email": "Ann@Example.com", "text": "Do you ship to Brno?\nI need it by Friday."}),
        )
        .await;
    let ack = widget.recv_type("ack").await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();

    assert_eq!(deliver(&app).await, 1);
    let received = sink.wait_for(1).await;
    let email = only(&received);
    assert_eq!(email.rcpt_to, vec![NOTIFY.to_owned()]);
    assert_eq!(email.mail_from, "desk@acme.example");
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Offline message from ann@example.com")
    );
    assert_eq!(email.header("Reply-To").as_deref(), Some("ann@example.com"));
    assert_eq!(
        email.header("From").as_deref(),
        Some("\"Acme Desk\" <desk@acme.example>")
    );
    let body = email.body();
    assert!(body.contains("Ann (ann@example.com)"), "{body}");
    assert!(
        body.contains("Do you ship to Brno?\nI need it by Friday."),
        "{body}"
    );
    assert!(
        body.contains("Page: https://shop.example.com/pricing"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "https://desk.acme.example/inbox/{conversation_id}"
        )),
        "{body}"
    );
    let emails = outbox(&app, &token).await;
    assert_eq!(
        (
            emails[0]["kind"].as_str(),
            emails[0]["status"].as_str(),
            emails[0]["attempts"].as_i64()
        ),
        (Some("offline_message"), Some("sent"), Some(1))
    );
    // Sent once: the next round has nothing to do.
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_new_conversation_notifies_once_with_the_first_message_and_not_when_turned_off() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    set_notifications(&app, &token, json!({"email": NOTIFY})).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("m-1", "Hi, is the blue kettle in stock?").await;
    widget.say("m-2", "And in red?").await;
    assert_eq!(deliver(&app).await, 1);
    let received = sink.wait_for(1).await;
    let email = only(&received);
    assert_eq!(email.rcpt_to, vec![NOTIFY.to_owned()]);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("New conversation from a visitor: Hi, is the blue kettle in stock?")
    );
    assert_eq!(email.header("Reply-To"), None);
    let body = email.body();
    assert!(body.contains("Hi, is the blue kettle in stock?"), "{body}");
    assert!(!body.contains("And in red?"), "{body}");
    let conversation_id = ack["conversation_id"].as_str().expect("id");
    assert!(
        body.contains(&format!(
            "https://desk.acme.example/inbox/{conversation_id}"
        )),
        "{body}"
    );

    // Turned off: a new conversation of another visitor queues nothing.
    set_notifications(&app, &token, json!({"new_conversation": false})).await;
    let mut other = Socket::widget(&app, &account.widget_key).await;
    other.hello(None, None, None).await;
    other.say("o-1", "Hello?").await;
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(outbox(&app, &token).await.len(), 1);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn without_a_notification_address_no_email_is_queued() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget.say("m-1", "Hello").await;
    widget
        .send(json!({"type": "offline_message", "client_id": "off-1", "email": "ann@example.com", "text": "Call me"}))
        .await;
    widget.recv_type("ack").await;
    assert!(outbox(&app, &token).await.is_empty());
    assert_eq!(deliver(&app).await, 0);
}

#[tokio::test]
async fn a_transcript_is_emailed_to_the_visitor_with_every_visible_message_and_no_internal_note() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    set_notifications(
        &app,
        &token,
        json!({"email": NOTIFY, "new_conversation": false}),
    )
    .await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("m-1", "Where is my order 1234?").await;
    let path = format!(
        "/api/v1/conversations/{}/messages",
        ack["conversation_id"].as_str().expect("id")
    );
    let (status, reply) = app
        .call(
            &token,
            Method::POST,
            &path,
            Some(json!({"text": "It left our warehouse today.", "client_id": "a-1"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let agent_name = reply["author"]["name"].as_str().expect("agent name");
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &path,
            Some(json!({"text": "SECRET: customer is on the watch list", "client_id": "n-1", "internal": true})),
        )
        .await;
    assert_eq!(status, 201);

    widget
        .send(json!({"type": "transcript_request", "email": "Ann@Example.com"}))
        .await;
    let queued = widget.recv_type("transcript_queued").await;
    assert_eq!(queued["email"], "Ann@Example.com");
    assert_eq!(deliver(&app).await, 1);
    let received = sink.wait_for(1).await;
    let email = only(&received);
    assert_eq!(email.rcpt_to, vec!["ann@example.com".to_owned()]);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Your conversation with Acme")
    );
    assert_eq!(email.header("Reply-To").as_deref(), Some(NOTIFY));
    let body = email.body();
    assert!(body.contains("You:\n  Where is my order 1234?"), "{body}");
    assert!(
        body.contains(&format!("{agent_name}:\n  It left our warehouse today.")),
        "{body}"
    );
    assert!(!body.contains("SECRET"), "{body}");
    assert!(!body.contains("watch list"), "{body}");
}

#[tokio::test]
async fn a_bad_transcript_address_is_an_error_frame_and_queues_nothing() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    // No conversation yet: nothing to send.
    widget
        .send(json!({"type": "transcript_request", "email": "ann@example.com"}))
        .await;
    assert_eq!(widget.recv_type("error").await["code"], "no_conversation");
    widget.say("m-1", "Hello").await;
    for bad in ["nope", "ann@example.com\r\nBcc: x@evil.example", ""] {
        widget
            .send(json!({"type": "transcript_request", "email": bad}))
            .await;
        assert_eq!(
            widget.recv_type("error").await["code"],
            "invalid_email",
            "{bad:?}"
        );
    }
    assert!(outbox(&app, &token).await.is_empty());
    assert_eq!(deliver(&app).await, 0);
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn transcripts_are_limited_per_conversation_and_hour() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget.say("m-1", "Hello").await;
    for _ in 0..services::email::MAX_TRANSCRIPTS_PER_WINDOW {
        widget
            .send(json!({"type": "transcript_request", "email": "ann@example.com"}))
            .await;
        widget.recv_type("transcript_queued").await;
    }
    widget
        .send(json!({"type": "transcript_request", "email": "ann@example.com"}))
        .await;
    assert_eq!(
        widget.recv_type("error").await["code"],
        "too_many_transcripts"
    );
    assert_eq!(
        outbox(&app, &token).await.len() as u64,
        services::email::MAX_TRANSCRIPTS_PER_WINDOW
    );
}

#[tokio::test]
async fn an_email_the_server_refuses_for_now_is_retried_later_and_delivered() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::RefuseTemporarily);
    let (app, account, token) = app_with_sink(&sink).await;
    set_notifications(&app, &token, json!({"email": NOTIFY})).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget.say("m-1", "Anyone there?").await;

    assert_eq!(deliver(&app).await, 0);
    let emails = outbox(&app, &token).await;
    assert_eq!(
        (emails[0]["status"].as_str(), emails[0]["attempts"].as_i64()),
        (Some("pending"), Some(1))
    );
    assert!(
        emails[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("451")),
        "{emails:?}"
    );
    // Not before its retry time (50 ms doubling in these tests)...
    sink.set_mode(Mode::Accept);
    tokio::time::sleep(Duration::from_millis(120)).await;
    // ...then the server is back and the email goes out.
    assert_eq!(deliver(&app).await, 1);
    let received = sink.wait_for(1).await;
    assert!(only(&received).body().contains("Anyone there?"));
    let emails = outbox(&app, &token).await;
    assert_eq!(
        (emails[0]["status"].as_str(), emails[0]["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
}

#[tokio::test]
async fn an_email_the_server_refuses_for_good_is_failed_without_retries() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::RefuseForGood);
    let (app, account, token) = app_with_sink(&sink).await;
    set_notifications(&app, &token, json!({"email": NOTIFY})).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget.say("m-1", "Hello").await;
    deliver(&app).await;
    let emails = outbox(&app, &token).await;
    assert_eq!(emails[0]["status"], "failed");
    assert!(
        emails[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("550"))
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    let before = sink.connections();
    deliver(&app).await;
    assert_eq!(sink.connections(), before, "a failed email is not retried");
}

#[tokio::test]
async fn without_an_smtp_server_emails_are_marked_skipped() {
    let app = spawn_app_with(|s| s.smtp_url = None).await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    set_notifications(&app, &token, json!({"email": NOTIFY})).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget.say("m-1", "Hello").await;
    assert_eq!(deliver(&app).await, 0);
    let emails = outbox(&app, &token).await;
    assert_eq!(
        (emails.len(), emails[0]["status"].as_str()),
        (1, Some("skipped"))
    );
}

mod restart {
    //! The real binary with its email job: an email queued while the SMTP server is down
    //! survives a kill and is delivered by the restarted server.

    use super::*;
    use crate::server_process::{Binary, free_port};

    async fn emails(address: &str, token: &str) -> Vec<Value> {
        reqwest::Client::new()
            .get(format!("{address}/api/v1/emails"))
            .bearer_auth(token)
            .send()
            .await
            .expect("list emails")
            .json()
            .await
            .expect("json")
    }

    #[tokio::test]
    async fn an_email_queued_while_smtp_is_down_is_delivered_after_a_restart() {
        let (database_url, _dir) = fresh_database().await;
        let sink = SmtpSink::start().await;
        sink.set_mode(Mode::HangUp);
        let binary = Binary::new(&database_url)
            .env("FRONTDESK_SMTP_URL", sink.url())
            .env("FRONTDESK_EMAIL_POLL_MS", "100")
            // A second attempt must not be in flight when the test kills the server: its
            // lease (2 minutes) would hold the email past the test's wait. Five seconds give
            // the test time to see the first attempt and kill before the next, even on a busy
            // machine (one second was missed under a full parallel suite), and the restarted
            // server sends it within the sink's wait.
            .env("FRONTDESK_EMAIL_RETRY_MS", "5000");
        let (created, token) = binary.account_with_token("Durable", "d@example.com");
        let key = created["widget_key"].as_str().expect("key").to_owned();
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let mut server = binary.serve(port).await;
        let (status, _) = reqwest::Client::new()
            .patch(format!("{address}/api/v1/account"))
            .bearer_auth(&token)
            .json(&json!({"notifications": {"email": NOTIFY}}))
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .expect("patch account");
        assert_eq!(status, 200);
        let mut widget = Socket::open(&address, &format!("/ws/widget?key={key}"), None, None)
            .await
            .expect("widget socket");
        widget.hello(None, None, None).await;
        widget
            .send(json!({"type": "offline_message", "client_id": "off-1", "email": "ann@example.com", "text": "Please call me back"}))
            .await;
        widget.recv_type("ack").await;
        // The job tries (the server hangs up) and keeps the email for later. The attempt has
        // ended once its error is recorded: `attempts` counts from the claim, and a server
        // killed between the claim and the outcome holds the email for its lease (2 minutes).
        let mut tried = false;
        for _ in 0..200 {
            let list = emails(&address, &token).await;
            if list[0]["attempts"].as_i64().unwrap_or(0) >= 1 && !list[0]["last_error"].is_null() {
                assert_eq!(list[0]["status"], "pending");
                tried = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(tried, "the email job never tried");
        server.kill().expect("kill the server");
        server.wait().expect("reap the server");
        drop(widget);

        sink.set_mode(Mode::Accept);
        let mut server = binary.serve(port).await;
        let received = sink.wait_for(1).await;
        server.kill().expect("kill the server");
        server.wait().expect("reap the server");
        let email = only(&received);
        assert_eq!(email.rcpt_to, vec![NOTIFY.to_owned()]);
        assert_eq!(email.header("Reply-To").as_deref(), Some("ann@example.com"));
        assert!(email.body().contains("Please call me back"));
    }
}

#[tokio::test]
async fn the_account_settings_page_saves_the_notification_address_and_toggles() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    let owner = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&owner, "/settings/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Email notifications"), "{page}");
    assert!(page.contains("action=\"/settings/account/notifications\""));

    let refused = app
        .post_form(
            &owner,
            "/settings/account",
            "/settings/account/notifications",
            &[
                ("notification_email", "nope"),
                ("notify_offline_message", "on"),
            ],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let html = refused.text().await.expect("page");
    assert!(html.contains("must be an email address"), "{html}");
    assert!(html.contains("value=\"nope\""), "the typed address is kept");

    let saved = app
        .post_form(
            &owner,
            "/settings/account",
            "/settings/account/notifications",
            &[
                ("notification_email", NOTIFY),
                ("notify_offline_message", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let (_, account_json) = app.call(&token, Method::GET, "/api/v1/account", None).await;
    assert_eq!(
        account_json["notifications"],
        json!({"email": NOTIFY, "new_conversation": false, "offline_message": true})
    );
    let page = app
        .get(&owner, "/settings/account?saved=1")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(&format!("value=\"{NOTIFY}\"")));

    // Agents may not change it.
    let agent_email = app
        .create_user(&account, frontdesk::domain::role::Role::Agent)
        .await;
    let agent = app.signed_in(&agent_email).await;
    let forbidden = agent
        .post(app.url("/settings/account/notifications"))
        .form(&[("notification_email", "x@example.com")])
        .send()
        .await
        .expect("post");
    assert!(
        [403, 400].contains(&forbidden.status().as_u16()),
        "{}",
        forbidden.status()
    );
    let (_, unchanged) = app.call(&token, Method::GET, "/api/v1/account", None).await;
    assert_eq!(unchanged["notifications"]["email"], NOTIFY);
}

#[tokio::test]
async fn the_openapi_document_describes_the_email_endpoints_and_fields() {
    let app = crate::helpers::spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/api/v1/emails"]["get"].is_object());
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["AccountView"]["properties"]["notifications"].is_object(),
        "{}",
        schemas["AccountView"]
    );
    assert!(schemas["AccountPatchBody"]["properties"]["notifications"].is_object());
    assert!(schemas["NotificationSettings"]["properties"]["offline_message"].is_object());
    assert!(schemas["EmailView"]["properties"]["status"].is_object());
}

#[tokio::test]
async fn a_reply_to_a_visitor_who_left_is_emailed_once_per_burst_and_the_inbox_says_so() {
    let sink = SmtpSink::start().await;
    let (app, account, token) = app_with_sink(&sink).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget
        .send(json!({"type": "offline_message", "client_id": "off-1", "name": "Eva", "email": "eva@example.com", "text": "Do you ship to Norway?"}))
        .await;
    let conversation = widget.recv_type("ack").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // While the visitor is connected, a reply is not emailed.
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &path,
            Some(json!({"text": "Looking it up", "client_id": "r-0"})),
        )
        .await;
    assert_eq!(status, 201);
    widget.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        outbox(&app, &token)
            .await
            .iter()
            .all(|e| e["kind"] != "reply")
    );

    // The visitor left: two replies in a row are one email with the whole conversation.
    for (n, text) in ["Yes, we ship to Norway.", "It takes 3 days."]
        .iter()
        .enumerate()
    {
        let (status, body) = app
            .call(
                &token,
                Method::POST,
                &path,
                Some(json!({"text": text, "client_id": format!("r-{}", n + 1)})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let sent = deliver(&app).await;
    let received = sink.wait_for(1).await;
    let replies: Vec<&Received> = received
        .iter()
        .filter(|mail| {
            mail.header("Subject")
                .is_some_and(|s| s.contains("replied to you"))
        })
        .collect();
    assert_eq!((sent, replies.len()), (1, 1), "{received:#?}");
    let reply = replies[0];
    assert_eq!(reply.rcpt_to, vec!["eva@example.com".to_owned()]);
    let body = reply.body();
    for line in [
        "Do you ship to Norway?",
        "Looking it up",
        "Yes, we ship to Norway.",
        "It takes 3 days.",
        "Continue the chat: https://shop.example.com/pricing",
    ] {
        assert!(body.contains(line), "{line:?} in {body}");
    }
    let (_, messages) = app
        .call(&token, Method::GET, &format!("{path}?after_seq=0"), None)
        .await;
    let notes: Vec<&Value> = messages["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["author"]["kind"] == "system" && m["internal"] == true)
        .collect();
    assert_eq!(
        notes.len(),
        2,
        "one note under each emailed reply: {messages}"
    );
    assert!(
        notes[0]["text"]
            .as_str()
            .expect("text")
            .contains("Emailed to eva@example.com")
    );
    let emails = outbox(&app, &token).await;
    let statuses: Vec<&str> = emails
        .iter()
        .filter(|e| e["kind"] == "reply")
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses.contains(&"skipped") && statuses.contains(&"sent"),
        "{statuses:?}"
    );
}
