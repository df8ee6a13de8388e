//! The inbox socket: session and same-origin checks, live events, presence reaching widgets.

use crate::{
    helpers::{PASSWORD, sign_in_at, spawn_app},
    sockets::Socket,
};
use frontdesk::domain::role::Role;
use reqwest::{Client, cookie::CookieStore, redirect::Policy};
use serde_json::json;
use std::{sync::Arc, time::Duration};

/// Signs in and returns the `Cookie` header a browser would send.
pub async fn session_cookie(app: &crate::helpers::TestApp, email: &str) -> String {
    session_cookie_at(&app.address, email, PASSWORD).await
}

/// Signs in on the server at `address` and returns the `Cookie` header a browser would send.
pub async fn session_cookie_at(address: &str, email: &str, password: &str) -> String {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .build()
        .expect("client");
    assert_eq!(
        sign_in_at(address, &client, email, password)
            .await
            .status()
            .as_u16(),
        303
    );
    let url = address.parse().expect("url");
    jar.cookies(&url)
        .expect("cookie")
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn the_inbox_socket_needs_a_session_and_the_same_origin() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let cookie = session_cookie(&app, &account.owner_email).await;
    let refusals = [
        (None, Some(app.address.as_str()), 401),
        (Some(cookie.as_str()), Some("https://evil.example.com"), 403),
        (Some(cookie.as_str()), None, 403),
    ];
    for (cookie, origin, status) in refusals {
        match Socket::open(&app.address, "/ws/agent", origin, cookie).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status)
            }
            other => panic!("expected {status}, got ok={}", other.is_ok()),
        }
    }
}

#[tokio::test]
async fn agents_see_visitors_and_messages_live_and_their_presence_reaches_the_widget() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent_email = app.create_user(&account, Role::Agent).await;
    let other = app.create_account("Other").await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    assert_eq!(widget.hello(None, None, None).await["online"], false);

    let cookie = session_cookie(&app, &agent_email).await;
    let mut inbox = Socket::open(&app.address, "/ws/agent", Some(&app.address), Some(&cookie))
        .await
        .expect("inbox socket");
    assert_eq!(
        widget.recv_type("status").await["online"],
        true,
        "the widget learns an agent is online"
    );
    let other_cookie = session_cookie(&app, &other.owner_email).await;
    let mut other_inbox = Socket::open(
        &app.address,
        "/ws/agent",
        Some(&app.address),
        Some(&other_cookie),
    )
    .await
    .expect("socket");

    widget
        .send(json!({"type": "page", "url": "https://shop.example.com/tea", "title": "Tea"}))
        .await;
    let visitor = inbox.recv_type("visitor").await;
    assert_eq!(visitor["url"], "https://shop.example.com/tea");
    let ack = widget.say("m1", "is anyone there?").await;
    let pushed = inbox.recv_type("message").await;
    assert_eq!(pushed["message"]["id"], ack["id"]);
    assert_eq!(pushed["message"]["text"], "is anyone there?");
    let created = inbox.recv_type("conversation").await;
    assert_eq!(created["id"], ack["conversation_id"]);

    inbox
        .send(json!({"type": "typing", "conversation_id": ack["conversation_id"], "on": true}))
        .await;
    let typing = widget.recv_type("typing").await;
    assert_eq!(
        (typing["on"].as_bool(), typing["author"]["kind"].as_str()),
        (Some(true), Some("agent"))
    );

    assert!(
        other_inbox
            .gets_within("message", Duration::from_millis(500))
            .await
            .is_none(),
        "other accounts hear nothing"
    );

    // Going away turns the widget offline.
    let token = app.token_for(&agent_email).await;
    let agent_id = app.user_id(&agent_email).await;
    let response = app
        .api(
            &token,
            reqwest::Method::PATCH,
            &format!("/api/v1/agents/{agent_id}"),
        )
        .json(&json!({"status": "away"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(widget.recv_type("status").await["online"], false);
}
