//! The inbox as agents use it through its forms and fragments, shortcuts and the away switch.

use crate::{
    helpers::{TestApp, spawn_app},
    sockets::Socket,
};
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn conversation(app: &TestApp, widget_key: &str) -> (Socket, String) {
    let mut widget = Socket::widget(app, widget_key).await;
    widget.hello(None, None, None).await;
    widget
        .send(json!({"type": "identify", "name": "Zora Visitor", "email": "zora@example.com"}))
        .await;
    let ack = widget.say("z-1", "Where is my order 1042?").await;
    (
        widget,
        ack["conversation_id"].as_str().expect("id").to_owned(),
    )
}

#[tokio::test]
async fn an_agent_works_a_conversation_through_the_inbox_forms() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let client = app.signed_in(&agent).await;
    let (mut widget, id) = conversation(&app, &account.widget_key).await;
    let page = format!("/inbox/{id}");

    let list = app.get(&client, "/inbox").await.text().await.expect("html");
    assert!(list.contains("Zora Visitor") && list.contains("Where is my order 1042?"));
    let searched = app
        .get(&client, "/inbox?status=open&q=1042")
        .await
        .text()
        .await
        .expect("html");
    assert!(searched.contains("Zora Visitor"));
    let missed = app
        .get(&client, "/inbox?status=open&q=nothing-like-this")
        .await
        .text()
        .await
        .expect("html");
    assert!(!missed.contains("Zora Visitor"));

    let html = app.get(&client, &page).await.text().await.expect("html");
    let marker = "name=\"client_id\" value=\"";
    let start = html.find(marker).expect("client id") + marker.len();
    let client_id = html[start..start + 36].to_owned();
    let note = app
        .post_form(
            &client,
            &page,
            &format!("/inbox/{id}/messages"),
            &[
                ("client_id", "note-1"),
                ("text", "check the warehouse"),
                ("internal", "1"),
            ],
        )
        .await;
    assert_eq!(note.status().as_u16(), 303);
    let reply = app
        .post_form(
            &client,
            &page,
            &format!("/inbox/{id}/messages"),
            &[("client_id", &client_id), ("text", "It ships today.")],
        )
        .await;
    assert_eq!(reply.status().as_u16(), 303);
    loop {
        let received = widget.recv_type("message").await;
        assert_ne!(
            received["text"], "check the warehouse",
            "the note never reaches the visitor"
        );
        if received["author"]["kind"] == "agent" {
            assert_eq!(received["text"], "It ships today.");
            break;
        }
    }

    let transcript = app
        .get(&client, &format!("{page}/fragment"))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        !transcript.contains("<html"),
        "a fragment is a block, not a page"
    );
    assert!(
        transcript.contains("Internal note")
            && transcript.contains("check the warehouse")
            && transcript.contains("It ships today.")
    );

    assert_eq!(
        app.post_form(
            &client,
            &page,
            &format!("/inbox/{id}/tags"),
            &[("tags", "Orders, vip")]
        )
        .await
        .status()
        .as_u16(),
        303
    );
    assert_eq!(
        app.post_form(&client, &page, &format!("/inbox/{id}/resolve"), &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let resolved = app
        .get(&client, "/inbox?status=resolved")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        resolved.contains("Zora Visitor")
            && resolved.contains("#orders")
            && resolved.contains("#vip")
    );
    while widget.recv_type("conversation").await["status"] != "resolved" {}
    assert_eq!(
        app.post_form(&client, &page, &format!("/inbox/{id}/reopen"), &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let reopened = app
        .get(&client, "/inbox?status=open")
        .await
        .text()
        .await
        .expect("html");
    assert!(reopened.contains("Zora Visitor"));

    let fragment = app
        .get(&client, "/inbox/fragments/list?status=open")
        .await
        .text()
        .await
        .expect("html");
    assert!(fragment.contains("Zora Visitor") && !fragment.contains("<html"));
}

#[tokio::test]
async fn a_reply_form_without_csrf_is_refused_and_other_accounts_get_404() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let (_widget, id) = conversation(&app, &account.widget_key).await;
    let owner = app.signed_in(&account.owner_email).await;
    let response = owner
        .post(app.url(&format!("/inbox/{id}/messages")))
        .form(&[("client_id", "x"), ("text", "forged")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);

    let stranger = app.signed_in(&other.owner_email).await;
    assert_eq!(
        app.get(&stranger, &format!("/inbox/{id}"))
            .await
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        app.get(&stranger, &format!("/inbox/{id}/fragment"))
            .await
            .status()
            .as_u16(),
        404
    );
    let forged = app
        .post_form(&stranger, "/inbox", &format!("/inbox/{id}/resolve"), &[])
        .await;
    assert_eq!(forged.status().as_u16(), 404);
    let token = app.token_for(&account.owner_email).await;
    let messages: Value = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(
        messages["messages"].as_array().map(Vec::len),
        Some(1),
        "nothing was written"
    );
}

#[tokio::test]
async fn shortcuts_made_in_settings_reach_the_reply_box() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let (_widget, id) = conversation(&app, &account.widget_key).await;
    let owner = app.signed_in(&account.owner_email).await;
    let created = app
        .post_form(
            &owner,
            "/settings/shortcuts",
            "/settings/shortcuts",
            &[("name", "/Shipping"), ("text", "We ship in 2 days.")],
        )
        .await;
    assert_eq!(created.status().as_u16(), 303);
    let again = app
        .post_form(
            &owner,
            "/settings/shortcuts",
            "/settings/shortcuts",
            &[("name", "shipping"), ("text", "dup")],
        )
        .await;
    assert_eq!(again.status().as_u16(), 422);
    assert!(
        again
            .text()
            .await
            .expect("html")
            .contains("/shipping exists already")
    );
    let html = app
        .get(&owner, &format!("/inbox/{id}"))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("&quot;name&quot;:&quot;shipping&quot;")
            || html.contains("&#34;name&#34;:&#34;shipping&#34;"),
        "shortcut data on the reply box"
    );

    let agent = app.create_user(&account, Role::Agent).await;
    let agent_client = app.signed_in(&agent).await;
    assert_eq!(
        app.get(&agent_client, "/settings/shortcuts")
            .await
            .status()
            .as_u16(),
        403
    );
}

#[tokio::test]
async fn the_away_switch_turns_the_widget_offline() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let client = app.signed_in(&agent).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    // Going away needs no open inbox socket; the stored status changes and the visitors page renders.
    let response = app
        .post_form(&client, "/inbox", "/account/status", &[("status", "away")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let page = app
        .get(&client, "/visitors")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("You: away"),
        "the header shows the away state"
    );
    assert!(
        page.contains("shop.example.com/pricing"),
        "the connected visitor is listed with their page"
    );
    assert!(
        widget
            .gets_within("status", Duration::from_millis(300))
            .await
            .is_none(),
        "no inbox was open, so nothing changed for visitors"
    );
}
