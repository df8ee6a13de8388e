//! The widget socket: acks after commit, idempotent resends, resume, seq order, origins, errors.

use crate::{
    helpers::{TestApp, spawn_app},
    sockets::Socket,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn app_with_account() -> (TestApp, crate::helpers::TestAccount, String) {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    (app, account, token)
}

pub(crate) async fn api_json(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = app.api(token, method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.expect("json")
}

/// A visitor who wrote `text` and closed the widget: their token and conversation.
async fn visitor_who_left(app: &TestApp, key: &str, texts: &[&str]) -> (String, String) {
    let mut widget = Socket::widget(app, key).await;
    let welcome = widget.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let mut conversation_id = String::new();
    for (n, text) in texts.iter().enumerate() {
        let ack = widget.say(&format!("v-{}", n + 1), text).await;
        conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
    }
    widget.close().await;
    (visitor_token, conversation_id)
}

#[tokio::test]
async fn hello_makes_a_visitor_and_a_message_is_acked_then_listed() {
    let (app, account, token) = app_with_account().await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token");
    assert!(visitor_token.len() >= 32);
    assert_eq!(welcome["conversation"], Value::Null);
    assert_eq!(welcome["messages"], json!([]));
    assert_eq!(welcome["online"], false);
    assert_eq!(welcome["widget"]["title"], "Acme");

    let ack = widget.say("c-1", "Hello, do you ship to Prague?").await;
    assert_eq!(ack["seq"], 1);
    let conversation_id = ack["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_owned();

    let list = api_json(&app, &token, Method::GET, "/api/v1/conversations", None).await;
    let first = &list["conversations"][0];
    assert_eq!(first["id"], conversation_id);
    assert_eq!(first["status"], "open");
    assert_eq!(first["handler"], "none");
    assert_eq!(first["unread"], 1);
    assert_eq!(first["labels"], json!([]));
    assert_eq!(first["chatbot_counted"], false);
    assert_eq!(
        first["last_message"]["preview"],
        "Hello, do you ship to Prague?"
    );
    let messages = api_json(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        None,
    )
    .await;
    assert_eq!(messages["messages"][0]["id"], ack["id"]);
    assert_eq!(messages["messages"][0]["author"]["kind"], "visitor");
}

#[tokio::test]
async fn the_same_client_id_three_times_is_one_message() {
    let (app, account, token) = app_with_account().await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let first = widget.say("same", "once").await;
    let second = widget.say("same", "once").await;
    let third = widget.say("same", "once").await;
    assert_eq!(
        (first["id"].clone(), first["seq"].clone()),
        (second["id"].clone(), second["seq"].clone())
    );
    assert_eq!(first["id"], third["id"]);
    let conversation_id = first["conversation_id"].as_str().expect("id");
    let messages = api_json(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        None,
    )
    .await;
    assert_eq!(messages["messages"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_same_client_id_sent_concurrently_on_two_sockets_is_one_message() {
    let (app, account, token) = app_with_account().await;
    let mut first = Socket::widget(&app, &account.widget_key).await;
    let welcome = first.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let opening = first.say("opening", "hi").await;
    let mut second = Socket::widget(&app, &account.widget_key).await;
    second
        .hello(
            Some(&visitor_token),
            opening["conversation_id"].as_str(),
            Some(1),
        )
        .await;

    for round in 0..10 {
        let client_id = format!("dup-{round}");
        let (a, b) = tokio::join!(
            first.say(&client_id, "twice"),
            second.say(&client_id, "twice")
        );
        assert_eq!(a["id"], b["id"], "round {round}");
        assert_eq!(a["seq"], b["seq"], "round {round}");
    }
    assert_typed_writes_ran(&app).await;
    let conversation_id = opening["conversation_id"].as_str().expect("id");
    let messages = api_json(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        None,
    )
    .await;
    let seqs: Vec<i64> = messages["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_reconnecting_visitor_gets_exactly_the_fifty_messages_it_missed_in_order() {
    let (app, account, token) = app_with_account().await;
    let (visitor_token, conversation_id) =
        visitor_who_left(&app, &account.widget_key, &["anyone there?"]).await;

    for n in 1..=50 {
        api_json(
            &app,
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            Some(json!({"text": format!("reply {n}"), "client_id": format!("a-{n}")})),
        )
        .await;
    }
    api_json(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        Some(json!({"text": "agents only", "client_id": "note-1", "internal": true})),
    )
    .await;

    let mut again = Socket::widget(&app, &account.widget_key).await;
    let welcome = again
        .hello(Some(&visitor_token), Some(&conversation_id), Some(1))
        .await;
    assert_eq!(welcome["reset"], false);
    assert_eq!(welcome["conversation"]["id"], conversation_id);
    assert_eq!(welcome["conversation"]["handler"], "human");
    let texts: Vec<&str> = welcome["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    let expected: Vec<String> = (1..=50).map(|n| format!("reply {n}")).collect();
    assert_eq!(
        texts,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "no note, nothing twice, in order"
    );
    let seqs: Vec<i64> = welcome["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, (2..=51).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_senders_get_strictly_increasing_seq_without_gaps() {
    let (app, account, token) = app_with_account().await;
    let mut opener = Socket::widget(&app, &account.widget_key).await;
    let welcome = opener.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let first = opener.say("open", "start").await;
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();

    let mut tasks = Vec::new();
    for socket_no in 0..4 {
        let app_ref = app.clone();
        let key = account.widget_key.clone();
        let visitor_token = visitor_token.clone();
        let conversation_id = conversation_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut socket = Socket::open(
                &app_ref.address,
                &format!("/ws/widget?key={key}"),
                None,
                None,
            )
            .await
            .expect("socket");
            socket
                .hello(Some(&visitor_token), Some(&conversation_id), None)
                .await;
            let mut seqs = Vec::new();
            for n in 0..15 {
                let ack = socket.say(&format!("s{socket_no}-{n}"), "burst").await;
                seqs.push(ack["seq"].as_i64().expect("seq"));
            }
            seqs
        }));
    }
    let agent_app = app.clone();
    let agent_token = token.clone();
    let agent_conversation = conversation_id.clone();
    let agent = tokio::spawn(async move {
        let mut seqs = Vec::new();
        for n in 0..15 {
            let message = api_json(
                &agent_app,
                &agent_token,
                Method::POST,
                &format!("/api/v1/conversations/{agent_conversation}/messages"),
                Some(json!({"text": "agent burst", "client_id": format!("ag-{n}")})),
            )
            .await;
            seqs.push(message["seq"].as_i64().expect("seq"));
        }
        seqs
    });
    // Meanwhile the conversation is reassigned again and again: such changes must never
    // overwrite the seq counter that concurrent messages move.
    let churn_app = app.clone();
    let churn_token = token.clone();
    let churn_conversation = conversation_id.clone();
    let owner_id = app.user_id(&account.owner_email).await;
    let churn = tokio::spawn(async move {
        for round in 0..15 {
            let assignee = if round % 2 == 0 {
                json!(owner_id)
            } else {
                Value::Null
            };
            api_json(
                &churn_app,
                &churn_token,
                Method::POST,
                &format!("/api/v1/conversations/{churn_conversation}/assign"),
                Some(json!({"assignee_id": assignee})),
            )
            .await;
        }
    });
    let mut all = vec![1];
    for task in tasks {
        let seqs = task.await.expect("task");
        assert!(
            seqs.windows(2).all(|pair| pair[0] < pair[1]),
            "each sender sees increasing seq: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.extend(agent.await.expect("agent task"));
    churn.await.expect("churn task");
    all.sort_unstable();
    assert_eq!(all, (1..=76).collect::<Vec<_>>(), "no gaps, no duplicates");
    assert_typed_writes_ran(&app).await;
}

/// The race above went through the typed forms of the message path (SQLite's, or
/// PostgreSQL's single statements), not only the general one.
async fn assert_typed_writes_ran(app: &TestApp) {
    let metrics = crate::metrics::scrape(app).await;
    let typed = crate::metrics::value(&metrics, "frontdesk_message_typed_writes_total");
    assert!(typed > 0.0, "no typed write ran: {typed}");
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_the_upgrade_and_an_allowed_one_connects() {
    let (app, account, token) = app_with_account().await;
    api_json(
        &app,
        &token,
        Method::PATCH,
        "/api/v1/account",
        Some(json!({"allowed_domains": ["https://shop.example.com"]})),
    )
    .await;
    let path = format!("/ws/widget?key={}", account.widget_key);

    for origin in [Some("https://evil.example.com"), None] {
        match Socket::open(&app.address, &path, origin, None).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "{origin:?}");
            }
            Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
            Ok(_) => panic!("{origin:?} must be refused"),
        }
    }
    let mut allowed = Socket::open(&app.address, &path, Some("https://shop.example.com"), None)
        .await
        .expect("allowed origin");
    assert_eq!(allowed.hello(None, None, None).await["type"], "welcome");

    match Socket::open(&app.address, "/ws/widget?key=no-such-key", None, None).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404)
        }
        other => panic!("unknown key must be refused: {:?}", other.is_ok()),
    }
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_socket_keeps_working() {
    let (app, account, _) = app_with_account().await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget
        .send(json!({"type": "message", "client_id": "early", "text": "hi"}))
        .await;
    assert_eq!(widget.recv_type("error").await["code"], "hello_required");
    widget.hello(None, None, None).await;

    let cases = [
        ("not json at all", "malformed_frame"),
        ("[1,2,3]", "malformed_frame"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (r#"{"type":"message","client_id":"x1"}"#, "invalid_frame"),
        (
            r#"{"type":"message","client_id":"x2","text":"   "}"#,
            "empty_text",
        ),
        (r#"{"type":"rate","value":9}"#, "invalid_rating"),
        (
            r#"{"type":"identify","email":"not-an-email"}"#,
            "invalid_email",
        ),
        (
            r#"{"type":"choose","client_id":"x3","button_id":"b"}"#,
            "stale_button",
        ),
    ];
    for (frame, code) in cases {
        widget.send_raw(frame).await;
        let error = widget.recv_type("error").await;
        assert_eq!(error["code"], code, "{frame}");
    }
    let too_long = "x".repeat(5_001);
    widget
        .send(json!({"type": "message", "client_id": "long", "text": too_long}))
        .await;
    let error = widget.recv_type("error").await;
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("text_too_long"), Some("long"))
    );

    let ack = widget.say("fine", "still works").await;
    assert_eq!(ack["seq"], 1);
}

#[tokio::test]
async fn a_flood_of_frames_is_rate_limited_without_closing_the_socket() {
    let (app, account, _) = app_with_account().await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    for _ in 0..120 {
        widget.send(json!({"type": "typing", "on": true})).await;
    }
    let limited = widget
        .gets_within("error", Duration::from_secs(5))
        .await
        .expect("an error frame");
    assert_eq!(limited["code"], "rate_limited");
    tokio::time::sleep(Duration::from_secs(2)).await;
    widget.drain().await;
    assert_eq!(widget.say("after-flood", "ok").await["type"], "ack");
}

#[tokio::test]
async fn a_visitor_token_never_opens_another_visitors_conversation() {
    let (app, account, _) = app_with_account().await;
    let mut alice = Socket::widget(&app, &account.widget_key).await;
    let alice_token = alice.hello(None, None, None).await["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let alice_ack = alice.say("a1", "alice's secret").await;
    let mut bob = Socket::widget(&app, &account.widget_key).await;
    let bob_token = bob.hello(None, None, None).await["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    bob.say("b1", "bob here").await;

    let mut bob_again = Socket::widget(&app, &account.widget_key).await;
    let welcome = bob_again
        .hello(
            Some(&bob_token),
            alice_ack["conversation_id"].as_str(),
            Some(0),
        )
        .await;
    assert_ne!(welcome["conversation"]["id"], alice_ack["conversation_id"]);
    assert_eq!(welcome["reset"], true);
    let texts: Vec<&str> = welcome["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["bob here"]);

    let mut stranger = Socket::widget(&app, &account.widget_key).await;
    let welcome = stranger
        .hello(
            Some("guessed-token"),
            alice_ack["conversation_id"].as_str(),
            Some(0),
        )
        .await;
    assert_eq!(welcome["conversation"], Value::Null);
    assert_ne!(welcome["visitor_token"], alice_token.as_str());

    // A token of another account's widget is unknown there.
    let other = app.create_account("Other").await;
    let mut elsewhere = Socket::widget(&app, &other.widget_key).await;
    let welcome = elsewhere.hello(Some(&alice_token), None, None).await;
    assert_eq!(welcome["conversation"], Value::Null);
}

#[tokio::test]
async fn agent_replies_reach_the_visitor_live_and_notes_never_do() {
    let (app, account, token) = app_with_account().await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("q", "question").await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
    let messages_path = format!("/api/v1/conversations/{conversation_id}/messages");

    api_json(
        &app,
        &token,
        Method::POST,
        &messages_path,
        Some(json!({"text": "secret note", "client_id": "n1", "internal": true})),
    )
    .await;
    api_json(
        &app,
        &token,
        Method::POST,
        &messages_path,
        Some(json!({"text": "<img src=x onerror=alert(1)>", "client_id": "r1"})),
    )
    .await;
    let mut seen = Vec::new();
    loop {
        let frame = widget.recv_type("message").await;
        seen.push(frame["text"].as_str().expect("text").to_owned());
        if frame["author"]["kind"] == "agent" {
            assert_eq!(frame["author"]["name"], "Owner");
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("<img src=x onerror=alert(1)>")
    );
    assert!(!seen.iter().any(|text| text == "secret note"));

    let resolved = api_json(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/conversations/{conversation_id}/resolve"),
        None,
    )
    .await;
    assert_eq!(resolved["status"], "resolved");
    loop {
        let update = widget.recv_type("conversation").await;
        if update["status"] == "resolved" {
            assert_eq!(update["id"], conversation_id.as_str());
            break;
        }
        assert_eq!(
            update["handler"], "human",
            "the reply handed the conversation to people"
        );
    }

    widget
        .send(json!({"type": "rate", "value": 5, "comment": "great"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rated = api_json(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}"),
        None,
    )
    .await;
    assert_eq!(rated["rating"], 5);

    let next = widget.say("after", "one more thing").await;
    assert_ne!(
        next["conversation_id"],
        conversation_id.as_str(),
        "a message to a resolved conversation starts a new one"
    );
    assert_eq!(next["seq"], 1);
}

#[tokio::test]
async fn an_offline_message_becomes_a_conversation_with_the_visitors_email() {
    let (app, account, token) = app_with_account().await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    assert_eq!(widget.hello(None, None, None).await["online"], false);
    widget
        .send(json!({"type": "offline_message", "client_id": "off-1", "name": "Eva", "email": "Eva@Example.com", "text": "Call me back"}))
        .await;
    let ack = widget.recv_type("ack").await;
    assert_eq!(ack["client_id"], "off-1");
    let list = api_json(&app, &token, Method::GET, "/api/v1/conversations", None).await;
    let first = &list["conversations"][0];
    assert_eq!(first["offline"], true);
    assert_eq!(first["visitor"]["email"], "eva@example.com");
    assert_eq!(first["visitor"]["name"], "Eva");

    widget
        .send(
            json!({"type": "offline_message", "client_id": "off-2", "email": "nope", "text": "x"}),
        )
        .await;
    let error = widget.recv_type("error").await;
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("invalid_email"), Some("off-2"))
    );
}

/// Every conversation of the visitor whose first message is `text`'s conversation, by status.
async fn open_conversations_of(app: &TestApp, token: &str, visitor: &str) -> Vec<String> {
    let list = api_json(
        app,
        token,
        Method::GET,
        "/api/v1/conversations?status=open&limit=100",
        None,
    )
    .await;
    list["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["visitor"]["id"] == visitor)
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_visitor_keeps_one_open_conversation_and_every_action_lands_on_the_one_it_names() {
    let (app, account, token) = app_with_account().await;
    let flow_id =
        crate::chatbot_runtime::create_flow(&app, &token, &crate::chatbot_runtime::support_flow())
            .await;
    // Nobody online: "Talk to a person", then the offline form.
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    assert_eq!(welcome["online"], false);
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    widget.trigger_until(&flow_id, "menu").await;
    widget
        .send(json!({"type": "choose", "client_id": "c-1", "button_id": "human"}))
        .await;
    let ack = widget.recv_type("ack").await;
    let handed = ack["conversation_id"].as_str().expect("id").to_owned();
    widget
        .send(json!({"type": "offline_message", "client_id": "off-1", "email": "eva@example.com", "text": "Please call me"}))
        .await;
    let ack = widget.recv_type("ack").await;
    assert_eq!(
        ack["conversation_id"],
        handed.as_str(),
        "the offline form joins the open conversation"
    );
    let summary = api_json(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{handed}"),
        None,
    )
    .await;
    let visitor = summary["visitor"]["id"]
        .as_str()
        .expect("visitor")
        .to_owned();
    assert_eq!(summary["offline"], true);
    assert_eq!(
        open_conversations_of(&app, &token, &visitor).await,
        vec![handed.clone()]
    );

    // The agent answers and resolves; the visitor rates the conversation the widget shows.
    api_json(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/conversations/{handed}/messages"),
        Some(json!({"text": "Calling you now", "client_id": "r-1"})),
    )
    .await;
    api_json(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/conversations/{handed}/resolve"),
        None,
    )
    .await;
    // A newer conversation starts (another tab writes); the widget still rates the one it shows.
    let mut other_tab = Socket::widget(&app, &account.widget_key).await;
    other_tab.hello(Some(&visitor_token), None, None).await;
    let newer = other_tab.say("n-1", "one more thing").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(newer, handed);
    widget
        .send(json!({"type": "rate", "value": 5, "conversation_id": handed}))
        .await;
    // The rating is stored before its conversation frame goes out; other conversation
    // frames (the newer conversation's) may come first, so wait for this one's.
    loop {
        let frame = widget.recv_type("conversation").await;
        if frame["id"] == handed.as_str() && frame["status"] == "resolved" {
            let rated = api_json(
                &app,
                &token,
                Method::GET,
                &format!("/api/v1/conversations/{handed}"),
                None,
            )
            .await;
            if rated["rating"] == 5 {
                break;
            }
        }
    }
    let untouched = api_json(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{newer}"),
        None,
    )
    .await;
    assert_eq!(untouched["rating"], Value::Null);

    // Another visitor's conversation is never a target.
    let mut stranger = Socket::widget(&app, &account.widget_key).await;
    stranger.hello(None, None, None).await;
    stranger
        .send(json!({"type": "rate", "value": 1, "conversation_id": handed}))
        .await;
    assert_eq!(stranger.recv_type("error").await["code"], "no_conversation");
    stranger
        .send(json!({"type": "transcript_request", "email": "x@example.com", "client_id": "t-1", "conversation_id": handed}))
        .await;
    assert_eq!(stranger.recv_type("error").await["code"], "no_conversation");

    // Reopening (or replying in) the older conversation would leave two open: refused.
    for (path, body) in [
        (format!("/api/v1/conversations/{handed}/reopen"), None),
        (
            format!("/api/v1/conversations/{handed}/messages"),
            Some(json!({"text": "Hello again", "client_id": "r-2"})),
        ),
    ] {
        let (status, body) = app.call(&token, Method::POST, &path, body).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("newer_conversation")),
            "{path}: {body}"
        );
    }
    assert_eq!(
        open_conversations_of(&app, &token, &visitor).await,
        vec![newer.clone()]
    );
    // A note is still fine (it reopens nothing).
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{handed}/messages"),
            Some(json!({"text": "called back", "client_id": "note-1", "internal": true})),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_resume_without_conversation_id_replays_only_what_follows_last_seq_of_the_latest() {
    let (app, account, token) = app_with_account().await;
    let (visitor_token, conversation_id) =
        visitor_who_left(&app, &account.widget_key, &["first", "second"]).await;
    api_json(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        Some(json!({"text": "third", "client_id": "a-1"})),
    )
    .await;

    let mut again = Socket::widget(&app, &account.widget_key).await;
    let welcome = again.hello(Some(&visitor_token), None, Some(2)).await;
    assert_eq!(welcome["reset"], false, "{welcome}");
    assert_eq!(welcome["conversation"]["id"], conversation_id.as_str());
    let seqs: Vec<i64> = welcome["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, vec![3], "only the message after last_seq: {welcome}");

    // Naming a conversation that is not the latest: the whole latest, marked reset.
    let welcome = Socket::widget(&app, &account.widget_key)
        .await
        .hello(
            Some(&visitor_token),
            Some(&uuid::Uuid::now_v7().to_string()),
            Some(2),
        )
        .await;
    assert_eq!(welcome["reset"], true);
    assert_eq!(welcome["messages"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_widget_that_missed_fifteen_hundred_messages_gets_every_one_in_order_then_live() {
    let (app, account, token) = app_with_account().await;
    let (visitor_token, conversation_id) =
        visitor_who_left(&app, &account.widget_key, &["anyone?"]).await;
    // 1,500 replies while the widget is away, four writers at a time.
    const MISSED: i64 = 1500;
    let mut writers = Vec::new();
    for lane in 0..4 {
        let (app, token, conversation_id) = (app.clone(), token.clone(), conversation_id.clone());
        writers.push(tokio::spawn(async move {
            for n in (lane..MISSED).step_by(4) {
                api_json(
                    &app,
                    &token,
                    Method::POST,
                    &format!("/api/v1/conversations/{conversation_id}/messages"),
                    Some(json!({"text": format!("reply {n}"), "client_id": format!("a-{n}")})),
                )
                .await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    let mut again = Socket::widget(&app, &account.widget_key).await;
    let welcome = again
        .hello(Some(&visitor_token), Some(&conversation_id), Some(1))
        .await;
    let mut seqs: Vec<i64> = welcome["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    while seqs.last() != Some(&(MISSED + 1)) {
        let frame = again.recv_type("message").await;
        seqs.push(frame["seq"].as_i64().expect("seq"));
    }
    assert_eq!(
        seqs,
        (2..=MISSED + 1).collect::<Vec<_>>(),
        "every missed message once, in order"
    );
    // The next live message follows without a gap.
    api_json(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        Some(json!({"text": "live", "client_id": "live-1"})),
    )
    .await;
    let live = again.recv_type("message").await;
    assert_eq!(
        (live["seq"].as_i64(), live["text"].as_str()),
        (Some(MISSED + 2), Some("live"))
    );
}
