//! Data protection (issue 17): a visitor's export holds their contact, messages and ratings;
//! erasing removes text, contact fields and addresses while every report, insight and billing
//! total stays equal; the erased visitor's token starts a new visitor; retention erases only
//! old resolved conversations; the audit log lists exports and erasures for owners.

use crate::{
    chatbot_runtime::{create_flow, support_flow},
    helpers::{TestAccount, TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
};
use frontdesk::{
    domain::role::Role,
    storage::entities::{conversation, message, visitor, visitor_page},
};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

const SECRET_TEXT: &str = "my order 4711 never arrived";
const NOTE_TEXT: &str = "internal: customer sounds upset";

struct Chat {
    widget: Socket,
    token: String,
    visitor_id: String,
    conversation_id: String,
}

async fn ok(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, body) = app.call(token, method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

/// A visitor from 127.0.0.`source` who identifies, clicks the bot's button (a counted chatbot
/// conversation), writes, gets a reply and a note, is resolved and rates the chat.
async fn full_chat(
    app: &TestApp,
    account: &TestAccount,
    owner: &str,
    flow_id: &str,
    source: u8,
) -> Chat {
    let mut widget =
        Socket::widget_from(app, &account.widget_key, Ipv4Addr::new(127, 0, 0, source)).await;
    let welcome = widget.hello(None, None, None).await;
    let token = welcome["visitor_token"].as_str().expect("token").to_owned();
    widget
        .send(
            json!({"type": "identify", "name": "Jana Novak", "email": "jana@example.com",
            "phone": "+420123456789", "variables": {"plan": {"label": "Plan", "value": "gold"}}}),
        )
        .await;
    widget.trigger_until(flow_id, "menu").await;
    widget
        .send(json!({"type": "choose", "client_id": "c-1", "button_id": "price"}))
        .await;
    loop {
        let frame = widget.recv().await;
        if frame["type"] == "ack" && frame["client_id"] == "c-1" {
            break;
        }
        assert_ne!(frame["type"], "error", "{frame}");
    }
    let ack = widget.say("v-1", SECRET_TEXT).await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
    let messages = format!("/api/v1/conversations/{conversation_id}/messages");
    ok(
        app,
        owner,
        Method::POST,
        &messages,
        Some(json!({"text": "Sorry, let me check", "client_id": "a-1"})),
    )
    .await;
    ok(
        app,
        owner,
        Method::POST,
        &messages,
        Some(json!({"text": NOTE_TEXT, "client_id": "a-2", "internal": true})),
    )
    .await;
    ok(
        app,
        owner,
        Method::POST,
        &format!("/api/v1/conversations/{conversation_id}/resolve"),
        None,
    )
    .await;
    widget
        .send(json!({"type": "rate", "value": 5, "comment": "great help"}))
        .await;
    let mut rated = false;
    for _ in 0..100 {
        let found = ok(
            app,
            owner,
            Method::GET,
            &format!("/api/v1/conversations/{conversation_id}"),
            None,
        )
        .await;
        if found["rating"] == 5 {
            rated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(rated, "the rating was stored");
    let found = ok(
        app,
        owner,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}"),
        None,
    )
    .await;
    let visitor_id = found["visitor"]["id"].as_str().expect("visitor").to_owned();
    Chat {
        widget,
        token,
        visitor_id,
        conversation_id,
    }
}

struct Setup {
    app: TestApp,
    account: TestAccount,
    owner: String,
    flow_id: String,
}

async fn setup(app: TestApp) -> Setup {
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &owner, &support_flow()).await;
    Setup {
        app,
        account,
        owner,
        flow_id,
    }
}

/// Every total the product shows: reports, chatbot insights, billing usage and the ledger.
async fn totals(s: &Setup) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        "/api/v1/reports",
        "/api/v1/chatbot/insights",
        "/api/v1/billing",
        "/api/v1/billing/ledger",
    ] {
        all.push(ok(&s.app, &s.owner, Method::GET, path, None).await);
    }
    all
}

fn texts(export: &Value) -> Vec<String> {
    export["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .flat_map(|c| c["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_export_holds_the_visitors_contact_messages_and_ratings_but_not_internal_notes() {
    let s = setup(spawn_app().await).await;
    let chat = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 71).await;
    let admin = s
        .app
        .token_for(&s.app.create_user(&s.account, Role::Admin).await)
        .await;
    let export = ok(
        &s.app,
        &admin,
        Method::GET,
        &format!("/api/v1/visitors/{}/export", chat.visitor_id),
        None,
    )
    .await;
    assert_eq!(export["visitor"]["id"], chat.visitor_id.as_str());
    assert_eq!(export["visitor"]["name"], "Jana Novak");
    assert_eq!(export["visitor"]["email"], "jana@example.com");
    assert_eq!(export["visitor"]["phone"], "+420123456789");
    assert_eq!(export["visitor"]["variables"]["plan"]["value"], "gold");
    assert_eq!(export["visitor"]["last_ip"], "127.0.0.71");
    let texts = texts(&export);
    assert!(texts.iter().any(|t| t == SECRET_TEXT), "{texts:?}");
    assert!(
        texts.iter().any(|t| t == "Sorry, let me check"),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t == "Pricing"), "the click: {texts:?}");
    assert!(
        !texts.iter().any(|t| t == NOTE_TEXT),
        "no internal notes: {texts:?}"
    );
    assert_eq!(
        export["conversations"][0]["id"],
        chat.conversation_id.as_str()
    );
    assert_eq!(
        export["conversations"][0]["labels"],
        json!(["joined_by_chatbot"])
    );
    assert_eq!(
        export["ratings"],
        json!([{"conversation_id": chat.conversation_id, "rating": 5, "comment": "great help"}])
    );
    assert_eq!(export["attachments"], json!([]));
    assert_eq!(
        export["pages"][0]["url"],
        "https://shop.example.com/pricing"
    );
    let kinds: Vec<&str> = export["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "chatbot.triggered",
        "conversation.started",
        "conversation.resolved",
        "conversation.rated",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn agents_cannot_export_or_erase_and_another_accounts_visitor_is_not_found() {
    let s = setup(spawn_app().await).await;
    let chat = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 72).await;
    let agent = s
        .app
        .token_for(&s.app.create_user(&s.account, Role::Agent).await)
        .await;
    let export = format!("/api/v1/visitors/{}/export", chat.visitor_id);
    let erase = format!("/api/v1/visitors/{}", chat.visitor_id);
    let (status, body) = s.app.call(&agent, Method::GET, &export, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, _) = s.app.call(&agent, Method::DELETE, &erase, None).await;
    assert_eq!(status, 403);
    let other = s.app.create_account("Other").await;
    let other_owner = s.app.token_for(&other.owner_email).await;
    let (status, body) = s.app.call(&other_owner, Method::GET, &export, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, _) = s.app.call(&other_owner, Method::DELETE, &erase, None).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .app
        .call(
            &s.owner,
            Method::GET,
            "/api/v1/visitors/not-a-uuid/export",
            None,
        )
        .await;
    assert_eq!(status, 404);
    // Nothing was erased by the refused calls.
    let stored = visitor_row(&s.app, &chat.visitor_id).await;
    assert_eq!(stored.email.as_deref(), Some("jana@example.com"));
}

async fn visitor_row(app: &TestApp, id: &str) -> visitor::Model {
    visitor::Entity::find_by_id(id.parse::<uuid::Uuid>().expect("uuid"))
        .one(&app.ctx.db)
        .await
        .expect("query")
        .expect("the visitor row stays")
}

async fn messages_stored(app: &TestApp, conversation_id: &str) -> u64 {
    message::Entity::find()
        .filter(
            message::Column::ConversationId
                .eq(conversation_id.parse::<uuid::Uuid>().expect("uuid")),
        )
        .count(&app.ctx.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn erasing_a_visitor_removes_text_contact_and_ip_and_keeps_every_total() {
    let s = setup(spawn_app().await).await;
    let mut chat = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 73).await;
    // A second visitor whose data must stay.
    let other = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 74).await;
    let before = totals(&s).await;
    assert_eq!(
        before[2]["chatbot"]["used"], 2,
        "both chats counted: {}",
        before[2]
    );
    assert!(messages_stored(&s.app, &chat.conversation_id).await > 0);

    let (status, body) = s
        .app
        .call(
            &s.owner,
            Method::DELETE,
            &format!("/api/v1/visitors/{}", chat.visitor_id),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");

    assert_eq!(
        totals(&s).await,
        before,
        "reports, insights, billing and ledger are unchanged"
    );
    assert_eq!(
        messages_stored(&s.app, &chat.conversation_id).await,
        0,
        "messages deleted"
    );
    let listed = ok(
        &s.app,
        &s.owner,
        Method::GET,
        &format!("/api/v1/conversations/{}/messages", chat.conversation_id),
        None,
    )
    .await;
    assert_eq!(listed["messages"], json!([]));
    let erased = visitor_row(&s.app, &chat.visitor_id).await;
    assert_eq!(
        (
            erased.name,
            erased.email,
            erased.phone,
            erased.last_ip,
            erased.current_url
        ),
        (None, None, None, None, None)
    );
    assert_eq!(erased.variables, "{}");
    assert!(erased.erased_at.is_some());
    let pages = visitor_page::Entity::find()
        .filter(visitor_page::Column::VisitorId.eq(erased.id))
        .count(&s.app.ctx.db)
        .await
        .expect("count");
    assert_eq!(pages, 0, "pages visited deleted");
    let row =
        conversation::Entity::find_by_id(chat.conversation_id.parse::<uuid::Uuid>().expect("uuid"))
            .one(&s.app.ctx.db)
            .await
            .expect("query")
            .expect("the conversation row stays for the counts");
    assert_eq!(
        (row.rating, row.rating_comment, row.last_message_preview),
        (Some(5), None, None)
    );
    assert!(row.joined_by_chatbot);
    // The other visitor keeps everything.
    assert!(messages_stored(&s.app, &other.conversation_id).await > 0);
    assert_eq!(
        visitor_row(&s.app, &other.visitor_id)
            .await
            .email
            .as_deref(),
        Some("jana@example.com")
    );
    // The erased visitor's open widget was told and closed.
    let (frames, _) = chat.widget.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "error" && f["code"] == "visitor_erased"),
        "{frames:?}"
    );
    // Exporting or erasing again finds nothing.
    let (status, _) = s
        .app
        .call(
            &s.owner,
            Method::GET,
            &format!("/api/v1/visitors/{}/export", chat.visitor_id),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_erased_visitors_old_token_starts_a_new_visitor() {
    let s = setup(spawn_app().await).await;
    let chat = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 75).await;
    let (status, _) = s
        .app
        .call(
            &s.owner,
            Method::DELETE,
            &format!("/api/v1/visitors/{}", chat.visitor_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut widget = Socket::widget(&s.app, &s.account.widget_key).await;
    let welcome = widget.hello(Some(&chat.token), None, None).await;
    let fresh = welcome["visitor_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    assert_ne!(fresh, chat.token, "a new visitor with a new token");
    let ack = widget.say("n-1", "hello again").await;
    let conversation = ok(
        &s.app,
        &s.owner,
        Method::GET,
        &format!(
            "/api/v1/conversations/{}",
            ack["conversation_id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    assert_ne!(conversation["visitor"]["id"], chat.visitor_id.as_str());
    assert_ne!(conversation["id"], chat.conversation_id.as_str());
    let count = visitor::Entity::find()
        .count(&s.app.ctx.db)
        .await
        .expect("count");
    assert_eq!(count, 2, "the erased row and the new visitor");
}

#[tokio::test]
async fn the_audit_log_lists_exports_and_erasures_newest_first_for_owners_only() {
    let s = setup(spawn_app().await).await;
    let chat = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 76).await;
    ok(
        &s.app,
        &s.owner,
        Method::GET,
        &format!("/api/v1/visitors/{}/export", chat.visitor_id),
        None,
    )
    .await;
    let (status, _) = s
        .app
        .call(
            &s.owner,
            Method::DELETE,
            &format!("/api/v1/visitors/{}", chat.visitor_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let first = ok(
        &s.app,
        &s.owner,
        Method::GET,
        "/api/v1/audit-log?limit=1",
        None,
    )
    .await;
    let entry = &first["entries"][0];
    assert_eq!(entry["action"], "visitor.erased");
    assert_eq!(entry["visitor_id"], chat.visitor_id.as_str());
    assert_eq!(entry["actor"]["name"], "Owner");
    assert!(
        entry["details"]["messages"].as_u64().unwrap_or(0) >= 3,
        "{entry}"
    );
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = ok(
        &s.app,
        &s.owner,
        Method::GET,
        &format!("/api/v1/audit-log?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(second["entries"][0]["action"], "visitor.exported");
    assert_eq!(second["entries"][0]["visitor_id"], chat.visitor_id.as_str());
    assert_eq!(second["next_cursor"], Value::Null);
    for role in [Role::Admin, Role::Agent] {
        let token = s
            .app
            .token_for(&s.app.create_user(&s.account, role).await)
            .await;
        let (status, _) = s
            .app
            .call(&token, Method::GET, "/api/v1/audit-log", None)
            .await;
        assert_eq!(status, 403, "{role:?}");
    }
    let other = s.app.create_account("Other").await;
    let other_owner = s.app.token_for(&other.owner_email).await;
    let theirs = ok(&s.app, &other_owner, Method::GET, "/api/v1/audit-log", None).await;
    assert_eq!(theirs["entries"], json!([]), "scoped by account");
}

async fn set_clock(s: &Setup, now: &str) {
    ok(
        &s.app,
        &s.owner,
        Method::POST,
        "/api/v1/test-clock",
        Some(json!({"now": now})),
    )
    .await;
}

#[tokio::test]
async fn retention_erases_only_old_resolved_conversations_and_keeps_every_total() {
    let s = setup(spawn_app_with(|settings| settings.test_clock = true).await).await;
    set_clock(&s, "2026-11-01T10:00:00Z").await;
    let old = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 81).await;
    set_clock(&s, "2026-11-09T10:00:00Z").await;
    let recent = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 82).await;
    set_clock(&s, "2026-11-01T10:00:00Z").await;
    let mut open = Socket::widget(&s.app, &s.account.widget_key).await;
    open.hello(None, None, None).await;
    let ack = open.say("o-1", "still waiting").await;
    let open_id = ack["conversation_id"].as_str().expect("id").to_owned();

    let (status, body) = s
        .app
        .call(
            &s.owner,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({"retention_days": 0})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let account = ok(
        &s.app,
        &s.owner,
        Method::PATCH,
        "/api/v1/account",
        Some(json!({"retention_days": 7})),
    )
    .await;
    assert_eq!(account["retention_days"], 7);

    set_clock(&s, "2026-11-12T10:00:00Z").await;
    let before = totals(&s).await;
    let run = frontdesk::services::privacy::apply_retention(&s.app.ctx)
        .await
        .expect("retention");
    assert_eq!(
        run.conversations, 1,
        "only the conversation resolved 11 days ago"
    );
    assert_eq!(
        totals(&s).await,
        before,
        "reports, insights, billing and ledger are unchanged"
    );
    assert_eq!(messages_stored(&s.app, &old.conversation_id).await, 0);
    assert!(
        messages_stored(&s.app, &recent.conversation_id).await > 0,
        "resolved 3 days ago"
    );
    assert!(
        messages_stored(&s.app, &open_id).await > 0,
        "open conversations stay"
    );
    let listed = ok(
        &s.app,
        &s.owner,
        Method::GET,
        "/api/v1/conversations?status=resolved",
        None,
    )
    .await;
    let ids: Vec<&str> = listed["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![recent.conversation_id.as_str()],
        "the erased one is no longer listed"
    );
    let again = frontdesk::services::privacy::apply_retention(&s.app.ctx)
        .await
        .expect("retention");
    assert_eq!(again.conversations, 0, "nothing is erased twice");
    let log = ok(&s.app, &s.owner, Method::GET, "/api/v1/audit-log", None).await;
    assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(log["entries"][0]["action"], "retention.deleted");
    assert_eq!(log["entries"][0]["actor"], Value::Null);
    assert_eq!(log["entries"][0]["details"]["conversations"], 1);
    // Null keeps conversations forever again.
    let account = ok(
        &s.app,
        &s.owner,
        Method::PATCH,
        "/api/v1/account",
        Some(json!({"retention_days": null})),
    )
    .await;
    assert_eq!(account["retention_days"], Value::Null);
}

#[tokio::test]
async fn the_visitor_panel_downloads_the_export_and_erases_after_confirmation_for_owners_only() {
    let s = setup(spawn_app().await).await;
    let chat = full_chat(&s.app, &s.account, &s.owner, &s.flow_id, 77).await;
    let page = format!("/inbox/{}", chat.conversation_id);
    let agent = s
        .app
        .signed_in(&s.app.create_user(&s.account, Role::Agent).await)
        .await;
    let html = s.app.get(&agent, &page).await.text().await.expect("page");
    assert!(!html.contains("Erase visitor"), "agents see no erase form");
    let response = s
        .app
        .get(&agent, &format!("/visitors/{}/export", chat.visitor_id))
        .await;
    assert_eq!(response.status().as_u16(), 403);

    let owner = s.app.signed_in(&s.account.owner_email).await;
    let html = s.app.get(&owner, &page).await.text().await.expect("page");
    assert!(
        html.contains(&format!("/visitors/{}/export", chat.visitor_id)),
        "export link"
    );
    assert!(html.contains("Erase visitor"));
    let download = s
        .app
        .get(&owner, &format!("/visitors/{}/export", chat.visitor_id))
        .await;
    assert_eq!(download.status().as_u16(), 200);
    let disposition = download
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let export: Value = download.json().await.expect("json");
    assert_eq!(export["visitor"]["email"], "jana@example.com");

    let action = format!("/inbox/{}/erase-visitor", chat.conversation_id);
    let unconfirmed = s.app.post_form(&owner, &page, &action, &[]).await;
    assert_eq!(unconfirmed.status().as_u16(), 422, "the box must be ticked");
    assert!(
        visitor_row(&s.app, &chat.visitor_id)
            .await
            .erased_at
            .is_none()
    );
    let erased = s
        .app
        .post_form(&owner, &page, &action, &[("confirm", "1")])
        .await;
    assert_eq!(erased.status().as_u16(), 303);
    let row = visitor_row(&s.app, &chat.visitor_id).await;
    assert!(row.erased_at.is_some());
    assert_eq!(row.email, None);

    let log = s.app.get(&owner, "/settings/audit-log").await;
    assert_eq!(log.status().as_u16(), 200);
    let html = log.text().await.expect("page");
    assert!(
        html.contains("Erased a visitor") && html.contains("Exported a visitor"),
        "{html}"
    );
    assert!(html.contains(&chat.visitor_id));
    let admin = s
        .app
        .signed_in(&s.app.create_user(&s.account, Role::Admin).await)
        .await;
    assert_eq!(
        s.app
            .get(&admin, "/settings/audit-log")
            .await
            .status()
            .as_u16(),
        403
    );
    let html = s
        .app
        .get(&admin, "/settings/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        !html.contains("/settings/audit-log"),
        "the tab is for owners"
    );
}

#[tokio::test]
async fn the_account_settings_form_sets_and_clears_the_retention_period() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let owner = app.signed_in(&account.owner_email).await;
    let action = "/settings/account/identity";
    let saved = app
        .post_form(
            &owner,
            "/settings/account",
            action,
            &[("retention_days", "30")],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let shown = ok(&app, &token, Method::GET, "/api/v1/account", None).await;
    assert_eq!(shown["retention_days"], 30);
    let html = app
        .get(&owner, "/settings/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains(
        "name=\"retention_days\" min=\"1\" max=\"3650\" inputmode=\"numeric\" value=\"30\""
    ));
    let refused = app
        .post_form(
            &owner,
            "/settings/account",
            action,
            &[("retention_days", "0")],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let cleared = app
        .post_form(
            &owner,
            "/settings/account",
            action,
            &[("retention_days", "")],
        )
        .await;
    assert_eq!(cleared.status().as_u16(), 303);
    let shown = ok(&app, &token, Method::GET, "/api/v1/account", None).await;
    assert_eq!(shown["retention_days"], Value::Null);
}
