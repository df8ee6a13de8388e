//! Issue 14 (item 16): a visitor who gave no name is shown by a readable name generated from
//! their id ("Amber Otter"), the same in the inbox list, the conversation, the visitors page
//! and the API's `display_name`, with the id still visible for support.

use crate::{helpers::spawn_app, sockets::Socket};
use frontdesk::domain::visitor::generated_name;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_nameless_visitor_gets_the_same_readable_name_everywhere() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    widget
        .send(json!({"type": "page", "url": "https://shop.example.com/tea", "title": "Tea"}))
        .await;
    let ack = widget.say("m1", "hello?").await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();

    let (_, listed) = app
        .call(&token, Method::GET, "/api/v1/conversations", None)
        .await;
    let visitor = &listed["conversations"][0]["visitor"];
    let visitor_id: uuid::Uuid = visitor["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("visitor id");
    let name = generated_name(visitor_id);
    assert_eq!(visitor["display_name"], json!(name), "{visitor}");
    assert_eq!(visitor["name"], serde_json::Value::Null);
    assert!(
        name.split(' ').count() == 2 && !name.starts_with("Visitor"),
        "{name}"
    );

    let owner = app.signed_in(&account.owner_email).await;
    let list = app.get(&owner, "/inbox").await.text().await.expect("page");
    assert!(
        list.contains(&format!("<span class=\"name\">{name}</span>")),
        "{list}"
    );
    let page = app
        .get(&owner, &format!("/inbox/{conversation_id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(&format!("<h1>{name}</h1>")), "the title");
    assert!(
        page.contains(&format!("<span class=\"author\">{name}</span>")),
        "the visitor's bubbles"
    );
    assert!(
        page.contains(&visitor_id.to_string()),
        "the id stays visible"
    );
    assert!(
        !page.contains("Visitor 6")
            && !page.contains(&format!("Visitor {}", &visitor_id.to_string()[24..]))
    );
    let visitors = app
        .get(&owner, "/visitors")
        .await
        .text()
        .await
        .expect("page");
    assert!(visitors.contains(&name), "{visitors}");
    assert!(visitors.contains(&visitor_id.to_string()[24..]));
}
