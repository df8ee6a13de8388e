//! Files in conversations (DESIGN section 12): uploads checked against the account's size
//! limit (413) and allowed types (415, from the content), attachments on visitor and agent
//! messages, downloads only for the account's agents and the conversation's visitor (404
//! otherwise), safe serving, signed expiring links in webhooks, erase and retention deleting
//! the stored files.

use crate::{
    helpers::{TestAccount, TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
    webhooks::{Receiver, add_endpoint, deliver},
};
use reqwest::{Method, multipart};
use serde_json::{Value, json};
use std::time::Duration;

/// A real 16x16 PNG.
pub const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 16, 0, 0, 0, 16, 8, 2,
    0, 0, 0, 144, 145, 104, 54, 0, 0, 0, 22, 73, 68, 65, 84, 120, 218, 99, 184, 163, 161, 65, 18,
    98, 24, 213, 48, 170, 97, 248, 106, 0, 0, 50, 4, 44, 16, 132, 36, 63, 218, 0, 0, 0, 0, 73, 69,
    78, 68, 174, 66, 96, 130,
];
/// A small PDF (the type comes from its `%PDF` signature).
pub const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
/// An SVG that would run script if it were rendered in the product's origin.
pub const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"document.title='pwned';alert(1)\"><script>document.title='pwned'</script><rect width=\"10\" height=\"10\"/></svg>\n";

/// A multipart body with `bytes` as the part `file` named `name`.
pub fn form(name: &str, bytes: &[u8]) -> multipart::Form {
    multipart::Form::new().part(
        "file",
        multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    )
}

/// A visitor uploads through the widget's endpoint; answers the status and JSON.
pub async fn visitor_upload(
    address: &str,
    widget_key: &str,
    visitor_token: &str,
    name: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{address}/widget/attachments?key={widget_key}&visitor_token={visitor_token}"
        ))
        .multipart(form(name, bytes))
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An agent uploads into a conversation through the REST API.
pub async fn agent_upload(
    address: &str,
    token: &str,
    conversation_id: &str,
    name: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{address}/api/v1/conversations/{conversation_id}/attachments"
        ))
        .bearer_auth(token)
        .multipart(form(name, bytes))
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

struct Chat {
    app: TestApp,
    account: TestAccount,
    owner: String,
    widget: Socket,
    visitor_token: String,
    conversation_id: String,
}

/// An account, its owner's token, and a visitor who wrote once.
async fn chat(app: TestApp) -> Chat {
    let account = app.create_account("Files").await;
    let owner = app.token_for(&account.owner_email).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let ack = widget.say("v-1", "Here is my invoice").await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
    Chat {
        app,
        account,
        owner,
        widget,
        visitor_token,
        conversation_id,
    }
}

/// Sends a message frame with attachments; answers the ack or the error frame.
async fn send_files(widget: &mut Socket, client_id: &str, text: &str, ids: &[&str]) -> Value {
    widget
        .send(json!({"type": "message", "client_id": client_id, "text": text, "attachments": ids}))
        .await;
    loop {
        let frame = widget.recv().await;
        if (frame["type"] == "ack" || frame["type"] == "error") && frame["client_id"] == client_id {
            return frame;
        }
    }
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).send().await.expect("GET")
}

/// Files in the test's local store.
fn stored_files(app: &TestApp) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { count(&path) } else { 1 }
                })
                .sum()
        })
    }
    count(&app.files)
}

#[tokio::test]
async fn a_visitor_sends_an_image_and_a_pdf_and_agents_and_only_that_visitor_can_download_them() {
    let mut c = chat(spawn_app().await).await;
    let (status, image) = visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        &c.visitor_token,
        "pasted.png",
        PNG,
    )
    .await;
    assert_eq!(status, 201, "{image}");
    assert_eq!(image["type"], "image/png");
    assert_eq!(image["size"], PNG.len());
    assert_eq!(image["name"], "pasted.png");
    let image_id = image["id"].as_str().expect("id").to_owned();
    assert_eq!(image["url"], format!("/files/{image_id}"));
    // The name says PNG; the content is a PDF: the content wins.
    let (status, pdf) = visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        &c.visitor_token,
        "../../invoice.png",
        PDF,
    )
    .await;
    assert_eq!(status, 201, "{pdf}");
    assert_eq!(pdf["type"], "application/pdf");
    assert_eq!(pdf["name"], "invoice.png", "no path in a file name");
    let pdf_id = pdf["id"].as_str().expect("id").to_owned();

    let ack = send_files(&mut c.widget, "v-2", "", &[&image_id, &pdf_id]).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["seq"], 2);
    // A resend is the same message; the files cannot be sent again in another one.
    let again = send_files(&mut c.widget, "v-2", "", &[&image_id, &pdf_id]).await;
    assert_eq!(
        (again["type"].clone(), again["id"].clone()),
        (json!("ack"), ack["id"].clone())
    );
    let reuse = send_files(&mut c.widget, "v-3", "again", &[&image_id]).await;
    assert_eq!(reuse["type"], "error");
    assert_eq!(reuse["code"], "invalid_attachment");

    // The REST API lists the message with both files, in order.
    let (status, list) = c
        .app
        .call(
            &c.owner,
            Method::GET,
            &format!("/api/v1/conversations/{}/messages", c.conversation_id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let sent = &list["messages"][1];
    assert_eq!(sent["text"], "");
    assert_eq!(sent["attachments"][0]["id"], image_id);
    assert_eq!(sent["attachments"][1]["id"], pdf_id);
    assert_eq!(sent["attachments"][1]["type"], "application/pdf");
    let (_, conversations) = c
        .app
        .call(&c.owner, Method::GET, "/api/v1/conversations", None)
        .await;
    assert_eq!(
        conversations["conversations"][0]["last_message"]["preview"],
        "📎 pasted.png, invoice.png"
    );

    // The agent downloads with the API token; the image is shown inline, the PDF downloaded.
    let image_url = c.app.url(&format!("/files/{image_id}"));
    let response = c
        .app
        .api(&c.owner, Method::GET, &format!("/files/{image_id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("inline")
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);
    let response = c
        .app
        .api(&c.owner, Method::GET, &format!("/files/{pdf_id}"))
        .send()
        .await
        .expect("GET");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PDF);

    // The visitor downloads with their token.
    let mine = get(&format!("{image_url}?visitor_token={}", c.visitor_token)).await;
    assert_eq!(mine.status().as_u16(), 200);
    // Nobody else: no credentials, another visitor, another account's agent.
    assert_eq!(get(&image_url).await.status().as_u16(), 404);
    let mut stranger = Socket::widget(&c.app, &c.account.widget_key).await;
    let theirs = stranger.hello(None, None, None).await;
    let stranger_token = theirs["visitor_token"].as_str().expect("token");
    let other = get(&format!("{image_url}?visitor_token={stranger_token}")).await;
    assert_eq!(other.status().as_u16(), 404);
    let elsewhere = c.app.create_account("Elsewhere").await;
    let their_owner = c.app.token_for(&elsewhere.owner_email).await;
    let response = c
        .app
        .api(&their_owner, Method::GET, &format!("/files/{image_id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.json::<Value>().await.expect("json")["error"]["code"],
        "not_found"
    );
    // A forged link.
    let forged = get(&format!("{image_url}?expires=9999999999&signature=00")).await;
    assert_eq!(forged.status().as_u16(), 404);

    // The emailed transcript lists the files with links that work without credentials.
    c.widget
        .send(json!({"type": "transcript_request", "email": "ann@example.com"}))
        .await;
    c.widget.recv_type("transcript_queued").await;
    use sea_orm::{ConnectionTrait, Statement};
    let rows = c
        .app
        .ctx
        .db
        .query_all_raw(Statement::from_string(
            c.app.ctx.db.get_database_backend(),
            "SELECT body_text FROM emails WHERE kind = 'transcript'",
        ))
        .await
        .expect("emails");
    let body: String = rows[0].try_get("", "body_text").expect("body");
    assert!(
        body.contains("[file] pasted.png (image/png, 79 bytes): "),
        "{body}"
    );
    let link = body
        .lines()
        .find(|line| line.contains("[file] invoice.png"))
        .and_then(|line| line.split(": ").nth(1))
        .expect("a link to the PDF");
    let path = &link[link.find("/files/").expect("a file path")..];
    let response = get(&c.app.url(path)).await;
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PDF);
}

#[tokio::test]
async fn the_openapi_document_has_the_upload_endpoint_and_the_attachment_shape() {
    let app = spawn_app().await;
    let doc: Value = get(&app.url("/api/v1/openapi.json"))
        .await
        .json()
        .await
        .expect("json");
    let upload = &doc["paths"]["/api/v1/conversations/{id}/attachments"]["post"];
    assert!(upload.is_object(), "documented");
    assert!(upload["responses"]["413"].is_object() && upload["responses"]["415"].is_object());
    assert!(doc["components"]["schemas"]["AttachmentView"]["properties"]["type"].is_object());
}

#[tokio::test]
async fn an_agent_reply_carries_a_file_to_the_visitor_and_a_stranger_cannot_use_its_id() {
    let mut c = chat(spawn_app().await).await;
    let (status, file) = agent_upload(
        &c.app.address,
        &c.owner,
        &c.conversation_id,
        "terms.pdf",
        PDF,
    )
    .await;
    assert_eq!(status, 201, "{file}");
    let id = file["id"].as_str().expect("id").to_owned();
    // Before it is sent the visitor cannot fetch it, and the visitor cannot send it.
    let url = c
        .app
        .url(&format!("/files/{id}?visitor_token={}", c.visitor_token));
    assert_eq!(get(&url).await.status().as_u16(), 404);
    let stolen = send_files(&mut c.widget, "v-2", "mine now", &[&id]).await;
    assert_eq!(stolen["code"], "invalid_attachment");
    // Another account's agent cannot upload into this conversation or send this file.
    let elsewhere = c.app.create_account("Elsewhere").await;
    let their_owner = c.app.token_for(&elsewhere.owner_email).await;
    let (status, _) = agent_upload(
        &c.app.address,
        &their_owner,
        &c.conversation_id,
        "x.pdf",
        PDF,
    )
    .await;
    assert_eq!(status, 404);

    let (status, reply) = c
        .app
        .call(
            &c.owner,
            Method::POST,
            &format!("/api/v1/conversations/{}/messages", c.conversation_id),
            Some(json!({"client_id": "a-1", "text": "Our terms", "attachments": [id]})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["attachments"][0]["name"], "terms.pdf");
    let frame = c.widget.recv_type("message").await;
    assert_eq!(frame["text"], "Our terms");
    assert_eq!(frame["attachments"][0]["id"], id);
    assert_eq!(frame["attachments"][0]["url"], format!("/files/{id}"));
    assert_eq!(
        get(&url).await.status().as_u16(),
        200,
        "sent: the visitor may fetch it"
    );
    // The same id in a second message is refused, as is a message with neither text nor files.
    let (status, refused) = c
        .app
        .call(
            &c.owner,
            Method::POST,
            &format!("/api/v1/conversations/{}/messages", c.conversation_id),
            Some(json!({"client_id": "a-2", "text": "", "attachments": [id]})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["details"][0]["field"], "attachments");
    let (status, _) = c
        .app
        .call(
            &c.owner,
            Method::POST,
            &format!("/api/v1/conversations/{}/messages", c.conversation_id),
            Some(json!({"client_id": "a-3", "text": ""})),
        )
        .await;
    assert_eq!(status, 422);
    // A reconnecting widget gets the file in its history.
    let mut again = Socket::widget(&c.app, &c.account.widget_key).await;
    let welcome = again.hello(Some(&c.visitor_token), None, None).await;
    let messages = welcome["messages"].as_array().expect("messages");
    let last = messages.last().expect("a message");
    assert_eq!(last["attachments"][0]["id"], id);
}

#[tokio::test]
async fn a_file_over_the_accounts_limit_is_413_and_a_refused_type_is_415() {
    let c = chat(spawn_app().await).await;
    let (status, account) = c
        .app
        .call(&c.owner, Method::GET, "/api/v1/account", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(account["max_file_bytes"], 10 * 1024 * 1024);
    assert!(
        account["allowed_types"]
            .as_array()
            .expect("list")
            .contains(&json!("application/pdf"))
    );
    let (status, account) = c
        .app
        .call(
            &c.owner,
            Method::PATCH,
            "/api/v1/account",
            Some(
                json!({"max_file_bytes": 1000, "allowed_types": ["image/png", "application/pdf"]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["max_file_bytes"], 1000);

    let big = [PDF, &vec![b'x'; 2000]].concat();
    for (status, body) in [
        visitor_upload(
            &c.app.address,
            &c.account.widget_key,
            &c.visitor_token,
            "big.pdf",
            &big,
        )
        .await,
        agent_upload(
            &c.app.address,
            &c.owner,
            &c.conversation_id,
            "big.pdf",
            &big,
        )
        .await,
    ] {
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "file_too_large");
    }
    // HTML named as a picture, and a GIF (an image, but not an allowed type now).
    let html = b"<!doctype html><html><script>alert(1)</script></html>";
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    for (name, bytes) in [("cat.png", &html[..]), ("cat.gif", &gif[..])] {
        let (status, body) = visitor_upload(
            &c.app.address,
            &c.account.widget_key,
            &c.visitor_token,
            name,
            bytes,
        )
        .await;
        assert_eq!(status, 415, "{name}: {body}");
        assert_eq!(body["error"]["code"], "file_type_refused");
    }
    // Bad limits are refused with the field named.
    let (status, body) = c
        .app
        .call(
            &c.owner,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({"max_file_bytes": 0, "allowed_types": ["pdf"]})),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(fields, ["max_file_bytes", "allowed_types"]);
    // An unknown widget key or visitor token uploads nothing.
    let (status, _) = visitor_upload(&c.app.address, "nope", &c.visitor_token, "a.png", PNG).await;
    assert_eq!(status, 404);
    let (status, _) =
        visitor_upload(&c.app.address, &c.account.widget_key, "nope", "a.png", PNG).await;
    assert_eq!(status, 404);
    assert_eq!(stored_files(&c.app), 0, "nothing refused was stored");
}

#[tokio::test]
async fn an_owner_sets_the_file_limits_in_settings() {
    let app = spawn_app().await;
    let account = app.create_account("Settings").await;
    let owner = app.token_for(&account.owner_email).await;
    let browser = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&browser, "/settings/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("name=\"max_file_mb\"") && page.contains("application/pdf"),
        "the form shows the limits"
    );
    let saved = app
        .post_form(
            &browser,
            "/settings/account",
            "/settings/account/files",
            &[
                ("max_file_mb", "2.5"),
                ("allowed_types", "image/*\napplication/pdf\n"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let (_, account_view) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(account_view["max_file_bytes"], 2_621_440);
    assert_eq!(
        account_view["allowed_types"],
        json!(["image/*", "application/pdf"])
    );
    let refused = app
        .post_form(
            &browser,
            "/settings/account",
            "/settings/account/files",
            &[("max_file_mb", "500"), ("allowed_types", "pdf")],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let (_, unchanged) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(unchanged["max_file_bytes"], 2_621_440, "nothing half-saved");
}

#[tokio::test]
async fn an_svg_with_script_is_served_as_a_sandboxed_download_never_as_a_page() {
    let c = chat(spawn_app().await).await;
    let (status, file) = visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        &c.visitor_token,
        "logo.svg",
        SVG,
    )
    .await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["type"], "image/svg+xml");
    let id = file["id"].as_str().expect("id");
    let response = get(&c
        .app
        .url(&format!("/files/{id}?visitor_token={}", c.visitor_token)))
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert!(
        headers["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_webhook_carries_a_signed_link_that_works_until_it_expires() {
    let app = spawn_app_with(|settings| {
        settings.test_clock = true;
        settings.file_link_minutes = 60;
    })
    .await;
    let receiver = Receiver::start().await;
    let account = app.create_account("Hooked").await;
    let owner = app.token_for(&account.owner_email).await;
    let (status, _) = app
        .call(
            &owner,
            Method::POST,
            "/api/v1/test-clock",
            Some(json!({"now": "2026-12-01T10:00:00Z"})),
        )
        .await;
    assert_eq!(status, 200);
    add_endpoint(&app, &owner, &receiver.url, json!(["message.created"])).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    let token = welcome["visitor_token"].as_str().expect("token");
    let (_, file) = visitor_upload(&app.address, &account.widget_key, token, "shot.png", PNG).await;
    let id = file["id"].as_str().expect("id");
    let ack = send_files(&mut widget, "v-1", "see this", &[id]).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    deliver(&app).await;
    let received = receiver
        .wait_until(Duration::from_secs(5), |got| !got.is_empty())
        .await;
    let event = received[0].json();
    let attachment = &event["data"]["message"]["attachments"][0];
    assert_eq!(attachment["id"], id);
    let link = attachment["download_url"].as_str().expect("a signed link");
    // The link names this server's public URL (unset here: the bind address); ask ours.
    let path = &link[link.find("/files/").expect("a file path")..];
    assert!(
        path.contains("expires=") && path.contains("signature="),
        "{path}"
    );
    let response = get(&app.url(path)).await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "the link works without credentials"
    );
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);
    // An hour later it has expired.
    app.call(
        &owner,
        Method::POST,
        "/api/v1/test-clock",
        Some(json!({"now": "2026-12-01T11:00:01Z"})),
    )
    .await;
    assert_eq!(get(&app.url(path)).await.status().as_u16(), 404);
    // A link whose expiry was moved is forged.
    let moved = path.replace("expires=", "expires=9");
    assert_eq!(get(&app.url(&moved)).await.status().as_u16(), 404);
    receiver.stop().await;
}

#[tokio::test]
async fn erasing_a_visitor_and_retention_delete_their_stored_files() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let mut c = chat(app).await;
    c.app
        .call(
            &c.owner,
            Method::POST,
            "/api/v1/test-clock",
            Some(json!({"now": "2026-11-01T10:00:00Z"})),
        )
        .await;
    let (_, sent) = visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        &c.visitor_token,
        "a.png",
        PNG,
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    send_files(&mut c.widget, "v-2", "", &[&sent_id]).await;
    // One never sent.
    visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        &c.visitor_token,
        "b.pdf",
        PDF,
    )
    .await;
    assert_eq!(stored_files(&c.app), 2);
    let (status, export) = c
        .app
        .call(
            &c.owner,
            Method::GET,
            &format!("/api/v1/visitors/{}/export", visitor_id(&c).await),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = export["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(export["attachments"][0]["download_url"].is_string());

    // Retention: another visitor's resolved conversation with a file goes after 7 days.
    let mut other = Socket::widget(&c.app, &c.account.widget_key).await;
    let welcome = other.hello(None, None, None).await;
    let other_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let (_, old) = visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        &other_token,
        "old.pdf",
        PDF,
    )
    .await;
    let ack = send_files(&mut other, "o-1", "old", &[old["id"].as_str().expect("id")]).await;
    let old_conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    let (status, _) = c
        .app
        .call(
            &c.owner,
            Method::POST,
            &format!("/api/v1/conversations/{old_conversation}/resolve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stored_files(&c.app), 3);
    c.app
        .call(
            &c.owner,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({"retention_days": 7})),
        )
        .await;
    c.app
        .call(
            &c.owner,
            Method::POST,
            "/api/v1/test-clock",
            Some(json!({"now": "2026-11-09T10:00:00Z"})),
        )
        .await;
    frontdesk::services::privacy::apply_retention(&c.app.ctx)
        .await
        .expect("retention");
    assert_eq!(
        stored_files(&c.app),
        2,
        "the resolved conversation's file is gone"
    );
    let url = c
        .app
        .url(&format!("/files/{}", old["id"].as_str().expect("id")));
    let response = c
        .app
        .api(&c.owner, Method::GET, &url.replace(&c.app.address, ""))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 404);

    // Erase: both of the first visitor's files go, sent or not.
    let visitor = visitor_id(&c).await;
    let (status, _) = c
        .app
        .call(
            &c.owner,
            Method::DELETE,
            &format!("/api/v1/visitors/{visitor}"),
            None,
        )
        .await;
    assert!(status == 200 || status == 204, "{status}");
    assert_eq!(
        stored_files(&c.app),
        0,
        "every file of the erased visitor is gone"
    );
    let response = c
        .app
        .api(&c.owner, Method::GET, &format!("/files/{sent_id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 404);
}

/// The visitor id of the chat's conversation.
async fn visitor_id(c: &Chat) -> String {
    let (_, conversation) = c
        .app
        .call(
            &c.owner,
            Method::GET,
            &format!("/api/v1/conversations/{}", c.conversation_id),
            None,
        )
        .await;
    conversation["visitor"]["id"]
        .as_str()
        .or_else(|| conversation["visitor_id"].as_str())
        .expect("visitor id")
        .to_owned()
}

#[tokio::test]
async fn a_blocked_visitor_uploads_nothing_and_a_visitors_burst_of_uploads_is_throttled() {
    let c = chat(spawn_app().await).await;
    let address = c.app.address.clone();
    let key = c.account.widget_key.clone();

    // A second visitor fills its burst of 20 uploads; the next is refused with 429 and
    // stores nothing, and the first visitor can still upload. One more upload comes back
    // every 3 s, so on a slow machine the burst may take a few more before the refusal:
    // as many as the time it took allows, and no more.
    let mut other = Socket::widget(&c.app, &key).await;
    let welcome = other.hello(None, None, None).await;
    let other_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let started = std::time::Instant::now();
    let mut accepted = 0_u64;
    loop {
        let (status, body) = visitor_upload(&address, &key, &other_token, "a.png", PNG).await;
        if status == 429 {
            break;
        }
        assert_eq!(status, 201, "upload {accepted}: {body}");
        accepted += 1;
        let refilled = started.elapsed().as_secs() / 3 + 1;
        assert!(
            accepted <= 20 + refilled,
            "{accepted} uploads in {:?} and none refused",
            started.elapsed()
        );
    }
    assert!(
        accepted >= 20,
        "the burst of 20 was refused after {accepted}"
    );
    refused_upload(&c, &other_token, 429, "rate_limited").await;
    let (status, body) = visitor_upload(&address, &key, &c.visitor_token, "a.png", PNG).await;
    assert_eq!(status, 201, "{body}");

    // Blocked: the visitor's upload is refused with 403 and stores nothing.
    let visitor_id = visitor_id(&c).await;
    let (status, block) = c
        .app
        .call(
            &c.owner,
            Method::POST,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            Some(json!({"reason": "Spam", "block_ip": false})),
        )
        .await;
    assert_eq!(status, 201, "{block}");
    refused_upload(&c, &c.visitor_token, 403, "blocked").await;
}

/// A visitor's upload is refused with `status` and `code`, and nothing is stored.
async fn refused_upload(c: &Chat, visitor_token: &str, status: u16, code: &str) {
    let stored = stored_files(&c.app);
    let (got, body) = visitor_upload(
        &c.app.address,
        &c.account.widget_key,
        visitor_token,
        "a.png",
        PNG,
    )
    .await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(
        stored_files(&c.app),
        stored,
        "a refused upload stores nothing"
    );
}
