//! The message path's typed form (docs/decisions.md, "Typed statements for the common case"):
//! a visitor's message into a conversation that people already have is written by a few typed
//! statements on the writer's own connection (SQLite) or by one statement (PostgreSQL)
//! instead of the general path. What
//! it writes must read back exactly as the general path's rows do, a resend must still find
//! its original, and every case it does not cover (a webhook endpoint, a new conversation)
//! must still go the general way. An agent's reply into a conversation people have (its first
//! reply, which assigns and records the first response, among them) has a typed form too.

use crate::{
    agent_socket::session_cookie,
    chatbot_runtime::{create_flow, support_flow},
    helpers::{TestApp, spawn_app, spawn_app_with},
    metrics::{scrape, value},
    sockets::Socket,
    webhooks::{Receiver, add_endpoint, deliver},
};
use reqwest::Method;
use serde_json::{Value, json};

/// `frontdesk_message_typed_writes_total` as `/metrics` shows it.
async fn typed_writes(app: &TestApp) -> f64 {
    value(&scrape(app).await, "frontdesk_message_typed_writes_total")
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    app.call(token, Method::POST, path, Some(body)).await
}

/// A visitor of the account who wrote "Hello" (client_id `m-1`): their socket and the ack.
async fn visitor_says_hello(app: &TestApp, widget_key: &str) -> (Socket, Value) {
    let mut widget = Socket::widget(app, widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("m-1", "Hello").await;
    (widget, ack)
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.call(token, Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn a_message_into_a_conversation_people_have_reads_back_as_the_general_path_writes_it() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    // The first message starts the conversation: the general path (it routes, reports, and
    // publishes the new conversation).
    let (mut widget, first) = visitor_says_hello(&app, &account.widget_key).await;
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();
    assert_eq!(
        typed_writes(&app).await,
        0.0,
        "a new conversation is not the common case"
    );
    // An agent's reply assigns it to people.
    app.reply(&token, &conversation_id, "r-1", "How can I help?")
        .await;

    let before = typed_writes(&app).await;
    let second = widget.say("m-2", "  My order\n is late  ").await;
    let third = widget.say("m-3", "Number 42").await;
    assert_eq!(
        typed_writes(&app).await,
        before + 2.0,
        "two messages into a conversation people have took the typed form"
    );
    assert_eq!(second["conversation_id"], first["conversation_id"]);
    assert_eq!(
        (second["seq"].as_i64(), third["seq"].as_i64()),
        (Some(3), Some(4))
    );

    // Read back through the product's other connection: the same rows the general path writes.
    let messages = get(
        &app,
        &token,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
    )
    .await;
    let items = messages["messages"].as_array().expect("messages");
    let seqs: Vec<i64> = items.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let typed = &items[2];
    assert_eq!(typed["id"], second["id"]);
    assert_eq!(typed["client_id"], "m-2");
    assert_eq!(typed["text"], "  My order\n is late  ", "stored as written");
    assert_eq!(typed["author"]["kind"], "visitor");
    let general = &items[0];
    let keys = |message: &Value| {
        message
            .as_object()
            .map(|fields| fields.keys().cloned().collect::<Vec<_>>())
    };
    assert_eq!(
        keys(typed),
        keys(general),
        "the same fields as the general path's message"
    );
    assert_eq!(typed["author"], general["author"]);
    let (a, b) = (general["at"].as_str(), typed["at"].as_str());
    assert!(
        a.is_some() && b.is_some() && a <= b,
        "times in order: {general} then {typed}"
    );
    let conversation = get(
        &app,
        &token,
        &format!("/api/v1/conversations/{conversation_id}"),
    )
    .await;
    assert_eq!(conversation["status"], "open");
    assert_eq!(
        conversation["unread"], 2,
        "the reply reset the unread count, and two visitor messages followed"
    );
    assert_eq!(conversation["last_message"]["preview"], "Number 42");
    assert_eq!(conversation["last_message"]["at"], items[3]["at"]);

    // A resend of a typed message finds its original (the unique index, then the general
    // path's lookup) and stores nothing.
    let resent = widget.say("m-3", "Number 42").await;
    assert_eq!(
        (resent["id"].clone(), resent["seq"].clone()),
        (third["id"].clone(), third["seq"].clone())
    );
    let after = get(
        &app,
        &token,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
    )
    .await;
    assert_eq!(after["messages"].as_array().map(Vec::len), Some(4));

    // Nobody answered yet, but the account has no teams: routing has nothing to do, so a
    // second visitor's second message is the common case too. Once the account has a team,
    // an unassigned conversation's message goes the general way (it may be routed).
    let mut quiet = Socket::widget(&app, &account.widget_key).await;
    quiet.hello(None, None, None).await;
    quiet.say("q-1", "Anyone?").await;
    let before = typed_writes(&app).await;
    let unanswered = quiet.say("q-2", "Hello?").await;
    assert_eq!(unanswered["seq"], 2);
    assert_eq!(
        typed_writes(&app).await,
        before + 1.0,
        "an unassigned conversation of an account without teams is the common case"
    );
    let (status, team) = app
        .call(
            &token,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Support", "shared_queue": true})),
        )
        .await;
    assert_eq!(status, 201, "{team}");
    let before = typed_writes(&app).await;
    quiet.say("q-3", "Still there?").await;
    assert_eq!(
        typed_writes(&app).await,
        before,
        "with a team, an unassigned conversation's message may be routed: the general path"
    );
    let routed = get(
        &app,
        &token,
        &format!(
            "/api/v1/conversations/{}",
            unanswered["conversation_id"].as_str().unwrap_or_default()
        ),
    )
    .await;
    assert_eq!(
        routed["team_id"], team["id"],
        "the general path routed it to the team: {routed}"
    );

    // With a webhook endpoint the general path runs, and the event is queued.
    let receiver = Receiver::start().await;
    add_endpoint(&app, &token, &receiver.url, json!(["message.created"])).await;
    let before = typed_writes(&app).await;
    let fourth = widget.say("m-4", "Still waiting").await;
    assert_eq!(
        typed_writes(&app).await,
        before,
        "an account with webhooks is not the common case"
    );
    deliver(&app).await;
    let received = receiver.received();
    assert!(
        received
            .iter()
            .any(|event| event.json()["data"]["message"]["id"] == fourth["id"]),
        "message.created for the message: {received:?}"
    );
    receiver.stop().await;
}

/// The widget's `message` frame of the message with this id (other frames are skipped).
async fn message_frame(widget: &mut Socket, id: &Value) -> Value {
    loop {
        let frame = widget.recv_type("message").await;
        if &frame["id"] == id {
            return frame;
        }
    }
}

#[tokio::test]
async fn an_agents_replies_read_back_as_the_general_path_writes_them_and_the_rest_stays_general() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let owner = app.user_id(&account.owner_email).await;
    let cookie = session_cookie(&app, &account.owner_email).await;
    let mut inbox = Socket::open(&app.address, "/ws/agent", Some(&app.address), Some(&cookie))
        .await
        .expect("inbox socket");
    let (mut widget, first) = visitor_says_hello(&app, &account.widget_key).await;
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();
    let conversation_path = format!("/api/v1/conversations/{conversation_id}");
    let messages_path = format!("{conversation_path}/messages");
    let created = inbox.recv_type("conversation").await;
    assert!(
        created["assignee"].is_null(),
        "nobody has it yet: {created}"
    );

    // The first reply assigns the conversation to its writer and records the first response,
    // typed as well; the assignment goes out live as the general path sends it.
    let before = typed_writes(&app).await;
    let answered = app
        .reply(&token, &conversation_id, "r-1", "Hi, how can I help?")
        .await;
    assert_eq!(
        typed_writes(&app).await,
        before + 1.0,
        "a first reply to a connected visitor took the typed form"
    );
    message_frame(&mut widget, &answered["id"]).await;
    let assigned = loop {
        let summary = inbox.recv_type("conversation").await;
        if summary["id"] == conversation_id.as_str() && !summary["assignee"].is_null() {
            break summary;
        }
    };
    assert_eq!(assigned["assignee"]["id"], owner.to_string(), "{assigned}");
    let widget_view = widget.recv_type("conversation").await;
    assert_eq!(widget_view["id"], conversation_id.as_str());
    assert_eq!(widget_view["handler"], "human");
    let conversation = get(&app, &token, &conversation_path).await;
    assert_eq!(conversation["assignee"]["id"], owner.to_string());
    let report = get(&app, &token, "/api/v1/reports").await;
    assert_eq!(
        report["total"]["first_responses"], 1,
        "the first response is recorded once: {report}"
    );

    // The visitor writes (one unread), and the agent's second reply is the common case.
    widget.say("m-2", "My order is late").await;
    let before = typed_writes(&app).await;
    let typed = app
        .reply(&token, &conversation_id, "r-2", "  Let me look\n into it  ")
        .await;
    assert_eq!(
        typed_writes(&app).await,
        before + 1.0,
        "a further reply took the typed form"
    );
    assert_eq!(typed["seq"], 4);
    let live = message_frame(&mut widget, &typed["id"]).await;
    assert_eq!(live["seq"], 4, "the visitor gets it live: {live}");
    assert_eq!(live["author"]["kind"], "agent");

    // Read back through the product's other connection, in order.
    let listed = get(&app, &token, &messages_path).await;
    let items = listed["messages"].as_array().expect("messages");
    let seqs: Vec<i64> = items.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let (first_row, typed_row) = (&items[1], &items[3]);
    assert_eq!(first_row["id"], answered["id"]);
    assert_eq!(typed_row["id"], typed["id"]);
    assert_eq!(
        typed_row["text"], "  Let me look\n into it  ",
        "stored as written"
    );
    let conversation = get(&app, &token, &conversation_path).await;
    assert_eq!(
        conversation["unread"], 0,
        "a reply reads the conversation: {conversation}"
    );
    assert_eq!(
        conversation["last_message"]["preview"],
        "Let me look into it"
    );
    assert_eq!(conversation["last_message"]["at"], typed_row["at"]);
    assert_eq!(conversation["status"], "open");

    // A resend of the typed reply answers the original (200, not 201) and stores nothing.
    let (status, resent) = post(
        &app,
        &token,
        &messages_path,
        json!({"client_id": "r-2", "text": "  Let me look\n into it  "}),
    )
    .await;
    assert_eq!(status, 200, "{resent}");
    assert_eq!(
        (resent["id"].clone(), resent["seq"].clone()),
        (typed["id"].clone(), typed["seq"].clone())
    );
    // The visitor's client_id is not the agent's to take.
    let (status, taken) = post(
        &app,
        &token,
        &messages_path,
        json!({"client_id": "m-2", "text": "Mine"}),
    )
    .await;
    assert_eq!(status, 422, "{taken}");
    assert_eq!(taken["error"]["details"][0]["field"], "client_id");
    assert_eq!(
        get(&app, &token, &messages_path).await["messages"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    // A note is not the common case (it keeps the unread count and the preview).
    let before = typed_writes(&app).await;
    let (status, note) = post(
        &app,
        &token,
        &messages_path,
        json!({"client_id": "n-1", "text": "Checking the courier", "internal": true}),
    )
    .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(
        typed_writes(&app).await,
        before,
        "a note takes the general path"
    );

    // A resolved conversation: the reply reopens it, the general way.
    let (status, resolved) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    let before = typed_writes(&app).await;
    let general = app
        .reply(&token, &conversation_id, "r-3", "One more thing")
        .await;
    assert_eq!(
        typed_writes(&app).await,
        before,
        "reopening is not the common case"
    );
    let conversation = get(&app, &token, &conversation_path).await;
    assert_eq!(
        conversation["status"], "open",
        "the reply reopened it: {conversation}"
    );
    // Read back through the product's other connection: the typed replies have the general
    // reply's fields, author and all.
    let listed = get(&app, &token, &messages_path).await;
    let items = listed["messages"].as_array().expect("messages");
    let row = |id: &Value| {
        items
            .iter()
            .find(|message| &message["id"] == id)
            .unwrap_or_else(|| panic!("no message {id} in {listed}"))
    };
    let general_row = row(&general["id"]);
    let keys = |message: &Value| {
        message
            .as_object()
            .map(|fields| fields.keys().cloned().collect::<Vec<_>>())
    };
    for typed_row in [row(&answered["id"]), row(&typed["id"])] {
        assert_eq!(keys(typed_row), keys(general_row));
        assert_eq!(
            typed_row["author"], general_row["author"],
            "the same agent, named alike"
        );
    }
    let report = get(&app, &token, "/api/v1/reports").await;
    assert_eq!(report["total"]["first_responses"], 1, "{report}");

    // (A further reply to a visitor who has left is emailed, the general way: the email
    // test `email::a_reply_to_a_visitor_who_left_is_emailed_once_per_burst_and_the_inbox_says_so` replies twice after the
    // visitor closed the widget and finds both emailed.)
}

#[tokio::test]
async fn rule_5_an_agents_reply_while_a_bot_they_transferred_to_runs_escalates_it() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let (mut widget, first) = visitor_says_hello(&app, &account.widget_key).await;
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();
    let conversation_path = format!("/api/v1/conversations/{conversation_id}");
    // Answered and assigned: an agent's further reply would be the typed form's case...
    app.reply(&token, &conversation_id, "r-1", "Hi, one moment")
        .await;
    // ...but the agent hands the conversation to a bot flow, which runs.
    let (status, moved) = post(
        &app,
        &token,
        &format!("{conversation_path}/transfer"),
        json!({"flow_id": flow_id}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    let menu = loop {
        let said = widget.recv_type("message").await;
        if said["text"] == "What do you need?" {
            break said;
        }
    };
    let before = typed_writes(&app).await;
    app.reply(&token, &conversation_id, "r-2", "Actually, I can help")
        .await;
    assert_eq!(
        typed_writes(&app).await,
        before,
        "a reply while a bot runs is the general path"
    );
    let conversation = get(&app, &token, &conversation_path).await;
    assert_eq!(
        conversation["outcome"], "escalated_to_human",
        "{conversation}"
    );
    assert_eq!(conversation["handler"], "human");
    // The bot stopped: its buttons are stale.
    widget
        .send(
            json!({"type": "choose", "client_id": "c-1", "button_id": "price",
                     "step_id": menu["step_id"]}),
        )
        .await;
    assert_eq!(widget.recv_type("error").await["code"], "stale_button");
}

/// Sets the test clock (the app was spawned with it).
async fn set_clock(app: &TestApp, token: &str, now: &str) {
    let (status, body) = post(app, token, "/api/v1/test-clock", json!({ "now": now })).await;
    assert_eq!(status, 200, "{body}");
}

/// The typed forms move a visitor's `last_seen_at` at most once a minute (SQLite's moves it
/// itself; PostgreSQL's leaves a message of a visitor last seen over a minute ago to the
/// general path, which moves it): a visitor who writes on after a pause is seen at their new
/// message's time, and one writing again within the minute is not rewritten.
#[tokio::test]
async fn a_visitor_writing_after_a_pause_is_seen_at_the_time_of_their_message() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    set_clock(&app, &token, "2027-03-01T10:00:00Z").await;
    let (mut widget, first) = visitor_says_hello(&app, &account.widget_key).await;
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();
    app.reply(&token, &conversation_id, "r-1", "How can I help?")
        .await;
    let conversation = get(
        &app,
        &token,
        &format!("/api/v1/conversations/{conversation_id}"),
    )
    .await;
    let visitor_id = conversation["visitor"]["id"]
        .as_str()
        .expect("visitor")
        .to_owned();
    let last_seen = || async {
        let export = get(
            &app,
            &token,
            &format!("/api/v1/visitors/{visitor_id}/export"),
        )
        .await;
        export["visitor"]["last_seen_at"]
            .as_str()
            .map(str::to_owned)
    };

    set_clock(&app, &token, "2027-03-01T10:05:00Z").await;
    let before = typed_writes(&app).await;
    let later = widget.say("m-2", "Back again").await;
    assert_eq!(later["seq"], 3, "{later}");
    let seen = last_seen().await.expect("last_seen_at");
    assert!(
        seen.starts_with("2027-03-01T10:05:00"),
        "seen at the message after the pause: {seen}"
    );
    set_clock(&app, &token, "2027-03-01T10:05:30Z").await;
    widget.say("m-3", "Within the minute").await;
    assert_eq!(
        last_seen().await.as_deref(),
        Some(seen.as_str()),
        "within a minute the visitor's row is not rewritten"
    );
    let typed = typed_writes(&app).await - before;
    let sqlite = app.database_url.starts_with("sqlite");
    assert_eq!(
        typed,
        if sqlite { 2.0 } else { 1.0 },
        "after the pause PostgreSQL's message went the general way, SQLite's stayed typed"
    );
}
