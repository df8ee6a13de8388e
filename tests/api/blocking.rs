//! Blocking visitors: by token and by IP address, through the REST API and the inbox visitor
//! panel; a blocked widget is told `blocked` and closed, and nothing it says is stored.

use crate::{
    helpers::{TestApp, spawn_app},
    sockets::Socket,
};
use frontdesk::{
    domain::role::Role,
    storage::entities::{conversation, visitor},
};
use reqwest::Method;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// A visitor from `source` who says something: their socket, token, conversation and id.
async fn chatting_visitor(app: &TestApp, key: &str, source: Ipv4Addr) -> (Socket, String, String) {
    let mut widget = Socket::widget_from(app, key, source).await;
    let welcome = widget.hello(None, None, None).await;
    let token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let ack = widget.say("c-1", "Hello there").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    (widget, token, conversation)
}

async fn visitor_of(app: &TestApp, token: &str, conversation: &str) -> String {
    let (status, body) = app
        .call(
            token,
            Method::GET,
            &format!("/api/v1/conversations/{conversation}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["visitor"]["id"]
        .as_str()
        .expect("visitor id")
        .to_owned()
}

async fn visitors_stored(app: &TestApp) -> u64 {
    visitor::Entity::find()
        .count(&app.ctx.db)
        .await
        .expect("count visitors")
}

async fn conversations_stored(app: &TestApp) -> u64 {
    conversation::Entity::find()
        .count(&app.ctx.db)
        .await
        .expect("count conversations")
}

/// Sends hello and expects the `blocked` error frame followed by a close.
pub async fn refused_at_hello(socket: &mut Socket, token: Option<&str>) {
    socket
        .send(json!({
            "type": "hello", "visitor_token": token,
            "page": {"url": "https://shop.example.com/", "title": "Shop"},
        }))
        .await;
    let (frames, reason) = socket.until_closed().await;
    assert_blocked(&frames, &reason);
}

fn assert_blocked(frames: &[Value], reason: &str) {
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "error" && f["code"] == "blocked"),
        "a blocked error frame before the close: {frames:?}"
    );
    assert!(
        !frames.iter().any(|f| f["type"] == "welcome"),
        "no welcome for a blocked visitor: {frames:?}"
    );
    assert_eq!(reason, "blocked");
}

#[tokio::test]
async fn a_blocked_visitor_is_disconnected_and_refused_until_unblocked() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let (mut widget, visitor_token, conversation) =
        chatting_visitor(&app, &account.widget_key, Ipv4Addr::new(127, 0, 5, 1)).await;
    let visitor_id = visitor_of(&app, &owner, &conversation).await;

    let (status, block) = app
        .call(
            &owner,
            Method::POST,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            Some(json!({"reason": "Insults the team", "block_ip": false})),
        )
        .await;
    assert_eq!(status, 201, "{block}");
    assert_eq!(block["visitor_id"], visitor_id.as_str());
    assert_eq!(block["reason"], "Insults the team");
    assert_eq!(
        block["ip"],
        Value::Null,
        "block_ip false blocks only the token"
    );
    assert_eq!(block["blocked_by"]["name"], "Owner");

    // The open widget is told and closed.
    let (frames, reason) = widget.until_closed().await;
    assert_blocked(&frames, &reason);

    // Reconnecting with the same token, even from another address, is refused at hello and
    // stores nothing.
    let visitors = visitors_stored(&app).await;
    let conversations = conversations_stored(&app).await;
    let mut again =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 5, 2)).await;
    refused_at_hello(&mut again, Some(&visitor_token)).await;
    assert_eq!(visitors_stored(&app).await, visitors);
    assert_eq!(conversations_stored(&app).await, conversations);
    let (_, messages) = app
        .call(
            &owner,
            Method::GET,
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(messages["messages"].as_array().map(Vec::len), Some(1));

    // Unblocked, they chat again under the same token.
    let (status, _) = app
        .call(
            &owner,
            Method::DELETE,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut back =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 5, 1)).await;
    let welcome = back.hello(Some(&visitor_token), None, None).await;
    assert_eq!(welcome["visitor_token"], visitor_token.as_str());
    back.say("c-2", "Sorry about that").await;
    let (status, _) = app
        .call(
            &owner,
            Method::DELETE,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            None,
        )
        .await;
    assert_eq!(status, 404, "nothing left to unblock");
}

#[tokio::test]
async fn blocking_an_ip_refuses_new_visitors_from_that_address_and_no_other() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let blocked_ip = Ipv4Addr::new(127, 0, 6, 1);
    let (mut widget, _, conversation) =
        chatting_visitor(&app, &account.widget_key, blocked_ip).await;
    // A second visitor (another browser) behind the same address, connected right now.
    let mut neighbour = Socket::widget_from(&app, &account.widget_key, blocked_ip).await;
    neighbour.hello(None, None, None).await;
    let visitor_id = visitor_of(&app, &owner, &conversation).await;

    let (status, block) = app
        .call(
            &owner,
            Method::POST,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{block}");
    assert_eq!(
        block["ip"], "127.0.6.1",
        "the address is blocked by default"
    );
    let (frames, reason) = widget.until_closed().await;
    assert_blocked(&frames, &reason);
    let (frames, reason) = neighbour.until_closed().await;
    assert_blocked(&frames, &reason);

    // A new visitor token from the blocked address: refused, and no visitor row is made.
    let visitors = visitors_stored(&app).await;
    let mut stranger = Socket::widget_from(&app, &account.widget_key, blocked_ip).await;
    refused_at_hello(&mut stranger, None).await;
    assert_eq!(visitors_stored(&app).await, visitors);

    // Another address is not affected.
    let mut elsewhere =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 6, 2)).await;
    elsewhere.hello(None, None, None).await;
    elsewhere.say("e-1", "Hi from next door").await;
    assert_eq!(visitors_stored(&app).await, visitors + 1);

    // The list shows the block; lifting it by id lets the address in again.
    let (status, list) = app.call(&owner, Method::GET, "/api/v1/blocks", None).await;
    assert_eq!(status, 200);
    let blocks = list["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["ip"], "127.0.6.1");
    let id = blocks[0]["id"].as_str().expect("id");
    let (status, _) = app
        .call(
            &owner,
            Method::DELETE,
            &format!("/api/v1/blocks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut welcome_back = Socket::widget_from(&app, &account.widget_key, blocked_ip).await;
    welcome_back.hello(None, None, None).await;
}

#[tokio::test]
async fn the_block_api_validates_keeps_accounts_apart_and_lets_agents_lift_only_their_own_blocks() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let owner = app.token_for(&account.owner_email).await;
    let stranger = app.token_for(&other.owner_email).await;
    let agent_email = app.create_user(&account, Role::Agent).await;
    let agent = app.token_for(&agent_email).await;
    let (_w1, _, first) =
        chatting_visitor(&app, &account.widget_key, Ipv4Addr::new(127, 0, 8, 1)).await;
    let (_w2, _, second) =
        chatting_visitor(&app, &account.widget_key, Ipv4Addr::new(127, 0, 8, 2)).await;
    let first = visitor_of(&app, &owner, &first).await;
    let second = visitor_of(&app, &owner, &second).await;
    let block_path = |id: &str| format!("/api/v1/visitors/{id}/block");

    let (status, body) = app
        .call(
            &owner,
            Method::POST,
            &block_path(&first),
            Some(json!({"reason": "x".repeat(501)})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("validation_failed")),
        "{body}"
    );
    let (status, body) = app
        .call(
            &owner,
            Method::POST,
            &block_path(&first),
            Some(json!({"ban": true})),
        )
        .await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");
    let (status, _) = app
        .call(
            &owner,
            Method::POST,
            &block_path("not-a-uuid"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call(
            &stranger,
            Method::POST,
            &block_path(&first),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let (_, list) = app.call(&owner, Method::GET, "/api/v1/blocks", None).await;
    assert_eq!(
        list["blocks"],
        json!([]),
        "nothing was half-written by refused requests"
    );

    // The owner blocks one visitor; blocking again is a conflict.
    let (status, by_owner) = app
        .call(
            &owner,
            Method::POST,
            &block_path(&first),
            Some(json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .call(&owner, Method::POST, &block_path(&first), Some(json!({})))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("conflict")),
        "{body}"
    );

    // Another account sees none of it.
    let (_, theirs) = app
        .call(&stranger, Method::GET, "/api/v1/blocks", None)
        .await;
    assert_eq!(theirs["blocks"], json!([]));
    let owner_block = by_owner["id"].as_str().expect("id");
    let (status, _) = app
        .call(
            &stranger,
            Method::DELETE,
            &format!("/api/v1/blocks/{owner_block}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(&stranger, Method::DELETE, &block_path(&first), None)
        .await;
    assert_eq!(status, 404);

    // An agent may block, and lift their own block, but not the owner's.
    let (status, by_agent) = app
        .call(
            &agent,
            Method::POST,
            &block_path(&second),
            Some(json!({"block_ip": false})),
        )
        .await;
    assert_eq!(status, 201, "{by_agent}");
    let (status, body) = app
        .call(
            &agent,
            Method::DELETE,
            &format!("/api/v1/blocks/{owner_block}"),
            None,
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    let (status, _) = app
        .call(&agent, Method::DELETE, &block_path(&first), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(&agent, Method::DELETE, &block_path(&second), None)
        .await;
    assert_eq!(status, 204);
    let (_, list) = app.call(&agent, Method::GET, "/api/v1/blocks", None).await;
    assert_eq!(list["blocks"].as_array().map(Vec::len), Some(1));

    let (_, openapi) = app
        .call(&owner, Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert!(openapi["paths"]["/api/v1/visitors/{id}/block"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/blocks/{id}"]["delete"].is_object());
}

#[tokio::test]
async fn an_agent_blocks_and_unblocks_from_the_inbox_visitor_panel() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let client = app.signed_in(&agent).await;
    let (mut widget, _, conversation) =
        chatting_visitor(&app, &account.widget_key, Ipv4Addr::new(127, 0, 7, 1)).await;
    let page = format!("/inbox/{conversation}");

    let html = app.get(&client, &page).await.text().await.expect("html");
    let panel = &html[html.find("class=\"visitor-panel\"").expect("visitor panel")..];
    assert!(
        panel.contains("127.0.7.1"),
        "the panel shows the visitor's IP"
    );
    assert!(panel.contains("Also block their IP address 127.0.7.1"));
    assert!(panel.contains("checked"), "the IP is blocked by default");
    assert!(
        panel.contains("Hello there"),
        "the visitor's conversations stay listed"
    );

    let response = app
        .post_form(
            &client,
            &page,
            &format!("/inbox/{conversation}/block"),
            &[("reason", "Rude <b>words</b>"), ("block_ip", "1")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let (frames, reason) = widget.until_closed().await;
    assert_blocked(&frames, &reason);
    let html = app.get(&client, &page).await.text().await.expect("html");
    let panel = &html[html.find("class=\"visitor-panel\"").expect("visitor panel")..];
    assert!(panel.contains(">Blocked<") && panel.contains(">Unblock<"));
    assert!(
        panel.contains("Rude &#60;b&#62;words&#60;/b&#62;") && !panel.contains("<b>words"),
        "the reason is escaped: {panel}"
    );
    assert!(!panel.contains("Block visitor"));

    // Owners see it in Settings > Blocked visitors; agents have no settings.
    let owner = app.signed_in(&account.owner_email).await;
    let settings = app.get(&owner, "/settings/blocked").await;
    assert_eq!(settings.status().as_u16(), 200);
    let settings = settings.text().await.expect("html");
    assert!(settings.contains("127.0.7.1") && settings.contains("Rude &#60;b&#62;words"));
    assert!(settings.contains("Blocked visitors"));
    assert_eq!(
        app.get(&client, "/settings/blocked")
            .await
            .status()
            .as_u16(),
        403
    );

    // A form without its CSRF token changes nothing.
    let forged = client
        .post(app.url(&format!("/inbox/{conversation}/unblock")))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("POST");
    assert_ne!(forged.status().as_u16(), 303);

    let response = app
        .post_form(
            &client,
            &page,
            &format!("/inbox/{conversation}/unblock"),
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let html = app.get(&client, &page).await.text().await.expect("html");
    assert!(html.contains("Block visitor"));
    let mut back =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 7, 1)).await;
    back.hello(None, None, None).await;
}

#[tokio::test]
async fn the_settings_page_lifts_a_block() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner_token = app.token_for(&account.owner_email).await;
    let (_widget, _, conversation) =
        chatting_visitor(&app, &account.widget_key, Ipv4Addr::new(127, 0, 9, 1)).await;
    let visitor_id = visitor_of(&app, &owner_token, &conversation).await;
    let (_, block) = app
        .call(
            &owner_token,
            Method::POST,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            Some(json!({})),
        )
        .await;
    let id = block["id"].as_str().expect("id");
    let owner = app.signed_in(&account.owner_email).await;
    let response = app
        .post_form(
            &owner,
            "/settings/blocked",
            &format!("/settings/blocked/{id}/unblock"),
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let html = app
        .get(&owner, "/settings/blocked?saved=1")
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("Nobody is blocked."));
    let (_, list) = app
        .call(&owner_token, Method::GET, "/api/v1/blocks", None)
        .await;
    assert_eq!(list["blocks"], json!([]));
}
