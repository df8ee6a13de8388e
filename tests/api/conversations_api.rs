//! The conversations REST API: cursor pages, filters, replies and notes, tenancy, inactivity.

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
};
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app.api(token, Method::GET, path).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .api(token, Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A visitor with a name who writes one message; returns the conversation id.
async fn visitor_writes(app: &TestApp, widget_key: &str, name: &str, text: &str) -> String {
    let mut widget = Socket::widget(app, widget_key).await;
    widget.hello(None, None, None).await;
    widget.send(json!({"type": "identify", "name": name, "email": format!("{}@example.com", name.to_lowercase())})).await;
    let ack = widget.say(&format!("{name}-1"), text).await;
    widget.close().await;
    ack["conversation_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_list_pages_by_cursor_newest_activity_first() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let mut ids = Vec::new();
    for name in ["Ann", "Ben", "Cid", "Dan", "Eve"] {
        ids.push(visitor_writes(&app, &account.widget_key, name, "hello").await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/conversations?limit=2&cursor={cursor}"),
            None => "/api/v1/conversations?limit=2".to_owned(),
        };
        let (status, page) = get(&app, &token, &path).await;
        assert_eq!(status, 200);
        pages += 1;
        seen.extend(
            page["conversations"]
                .as_array()
                .expect("array")
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every conversation once, newest first");
    assert_eq!(pages, 3);

    let (status, body) = get(&app, &token, "/api/v1/conversations?cursor=garbage").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, _) = get(&app, &token, "/api/v1/conversations?status=closed").await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn filters_find_by_status_assignee_search_and_tag() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let agent_email = app.create_user(&account, Role::Agent).await;
    let agent = app.token_for(&agent_email).await;
    let agent_id = app.user_id(&agent_email).await;
    let ann = visitor_writes(&app, &account.widget_key, "Ann", "my parcel is late").await;
    let ben = visitor_writes(&app, &account.widget_key, "Ben", "price of sencha?").await;

    assert_eq!(
        post(
            &app,
            &owner,
            &format!("/api/v1/conversations/{ann}/assign"),
            json!({"assignee_id": agent_id})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &app,
            &owner,
            &format!("/api/v1/conversations/{ben}/resolve"),
            json!({})
        )
        .await
        .0,
        200
    );
    let (status, tagged) = post(
        &app,
        &owner,
        &format!("/api/v1/conversations/{ben}/tags"),
        json!({"tags": ["Pricing", "vip", "vip"]}),
    )
    .await;
    assert_eq!(
        (status, tagged["tags"].clone()),
        (200, json!(["pricing", "vip"]))
    );

    let ids = |body: &Value| -> Vec<String> {
        body["conversations"]
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        ids(&get(&app, &owner, "/api/v1/conversations?status=resolved")
            .await
            .1),
        vec![ben.as_str()]
    );
    assert_eq!(
        ids(&get(&app, &owner, "/api/v1/conversations?status=open")
            .await
            .1),
        vec![ann.as_str()]
    );
    assert_eq!(
        ids(&get(&app, &agent, "/api/v1/conversations?assignee=me")
            .await
            .1),
        vec![ann.as_str()]
    );
    assert_eq!(
        ids(
            &get(&app, &owner, "/api/v1/conversations?assignee=unassigned")
                .await
                .1
        ),
        vec![ben.as_str()]
    );
    assert_eq!(
        ids(&get(&app, &owner, "/api/v1/conversations?q=PARCEL").await.1),
        vec![ann.as_str()]
    );
    assert_eq!(
        ids(&get(&app, &owner, "/api/v1/conversations?q=ben@example")
            .await
            .1),
        vec![ben.as_str()]
    );
    assert_eq!(
        ids(&get(&app, &owner, "/api/v1/conversations?tag=vip").await.1),
        vec![ben.as_str()]
    );

    let (_, reopened) = post(
        &app,
        &owner,
        &format!("/api/v1/conversations/{ben}/reopen"),
        json!({}),
    )
    .await;
    assert_eq!(reopened["status"], "open");
    let (status, _) = post(
        &app,
        &owner,
        &format!("/api/v1/conversations/{ann}/assign"),
        json!({"assignee_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(status, 422, "only users of the account can be assigned");
}

#[tokio::test]
async fn replies_and_notes_through_the_api_are_idempotent_by_client_id() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let id = visitor_writes(&app, &account.widget_key, "Ann", "hi").await;
    let path = format!("/api/v1/conversations/{id}/messages");

    let (status, first) = post(
        &app,
        &token,
        &path,
        json!({"text": "Hello Ann", "client_id": "r-1"}),
    )
    .await;
    assert_eq!((status, first["seq"].as_i64()), (201, Some(2)));
    let (status, again) = post(
        &app,
        &token,
        &path,
        json!({"text": "Hello Ann", "client_id": "r-1"}),
    )
    .await;
    assert_eq!((status, again["id"].clone()), (200, first["id"].clone()));
    let (status, note) = post(
        &app,
        &token,
        &path,
        json!({"text": "VIP customer", "client_id": "n-1", "internal": true}),
    )
    .await;
    assert_eq!((status, note["internal"].clone()), (201, json!(true)));
    let (status, invalid) = post(
        &app,
        &token,
        &path,
        json!({"text": " ", "client_id": "r-2"}),
    )
    .await;
    assert_eq!(
        (status, invalid["error"]["details"][0]["field"].as_str()),
        (422, Some("text"))
    );

    // The visitor's message used client_id "Ann-1": an agent cannot take it over.
    let (status, taken) = post(
        &app,
        &token,
        &path,
        json!({"text": "hijack", "client_id": "Ann-1"}),
    )
    .await;
    assert_eq!(
        (status, taken["error"]["details"][0]["field"].as_str()),
        (422, Some("client_id"))
    );

    let (_, conversation) = get(&app, &token, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(conversation["handler"], "human");
    assert_eq!(
        conversation["assignee"]["name"], "Owner",
        "the first reply assigns its writer"
    );
    assert_eq!(conversation["unread"], 0);
    let (_, after) = get(&app, &token, &format!("{path}?after_seq=2")).await;
    let texts: Vec<&str> = after["messages"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    // Ann gave her email and has left the chat: the reply was emailed, and a note says so.
    assert_eq!(
        texts,
        [
            "Emailed to ann@example.com: the visitor is not connected to the chat.",
            "VIP customer"
        ]
    );
}

#[tokio::test]
async fn another_accounts_conversations_answer_404() {
    let app = spawn_app().await;
    let a = app.create_account("A").await;
    let b = app.create_account("B").await;
    let b_token = app.token_for(&b.owner_email).await;
    let id = visitor_writes(&app, &a.widget_key, "Ann", "private").await;
    for path in [
        format!("/api/v1/conversations/{id}"),
        format!("/api/v1/conversations/{id}/messages"),
    ] {
        assert_eq!(get(&app, &b_token, &path).await.0, 404, "{path}");
    }
    for (path, body) in [
        (
            format!("/api/v1/conversations/{id}/messages"),
            json!({"text": "hi", "client_id": "x"}),
        ),
        (format!("/api/v1/conversations/{id}/resolve"), json!({})),
        (
            format!("/api/v1/conversations/{id}/tags"),
            json!({"tags": ["x"]}),
        ),
    ] {
        assert_eq!(post(&app, &b_token, &path, body).await.0, 404, "{path}");
    }
    let (_, list) = get(&app, &b_token, "/api/v1/conversations").await;
    assert_eq!(list["conversations"], json!([]));
    let a_token = app.token_for(&a.owner_email).await;
    let (_, conversation) = get(&app, &a_token, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(
        conversation["status"], "open",
        "B's attempts changed nothing"
    );
}

#[tokio::test]
async fn the_inactivity_timeout_resolves_conversations_of_visitors_who_left() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let gone = visitor_writes(&app, &account.widget_key, "Ann", "bye").await;
    let mut staying = Socket::widget(&app, &account.widget_key).await;
    staying.hello(None, None, None).await;
    let stays = staying.say("s-1", "still here").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let timeout = chrono::Duration::minutes(30);
    assert_eq!(
        frontdesk::services::conversations::resolve_inactive(&app.ctx, timeout)
            .await
            .expect("job"),
        0,
        "nobody idle yet"
    );
    let later = chrono::Utc::now() + chrono::Duration::minutes(31);
    let (status, _) = post(
        &app,
        &token,
        "/api/v1/test-clock",
        json!({"now": later.to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        frontdesk::services::conversations::resolve_inactive(&app.ctx, timeout)
            .await
            .expect("job"),
        1
    );
    assert_eq!(
        get(&app, &token, &format!("/api/v1/conversations/{gone}"))
            .await
            .1["status"],
        "resolved"
    );
    assert_eq!(
        get(&app, &token, &format!("/api/v1/conversations/{stays}"))
            .await
            .1["status"],
        "open",
        "connected visitors stay"
    );
}
