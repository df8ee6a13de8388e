//! Chatbot flows through the REST API: create, export, import, replace, delete, validation, tenancy.

use crate::helpers::spawn_app;
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn support_flow() -> Value {
    json!({
      "name": "Support", "enabled": true, "priority": 10,
      "welcome": "Hi! Can I help you find something?",
      "trigger": {
        "when": {"type": "delay", "seconds": 5},
        "where": {"match": "any", "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}]},
        "audience": {"visitors": "all", "languages": ["en"], "devices": ["desktop", "mobile"]},
        "schedule": {"agents": "any", "business_hours": "any"},
        "frequency": "once_per_session"
      },
      "start": "menu",
      "steps": {
        "menu": {"type": "message", "text": "What do you need?", "buttons": [
            {"id": "price", "label": "Pricing", "next": "pricing"},
            {"id": "human", "label": "Talk to a person", "next": "handover"}]},
        "pricing": {"type": "message", "text": "Plans start at ...", "buttons": [
            {"id": "back", "label": "Back", "next": "menu"},
            {"id": "done", "label": "That helped", "next": "bye"},
            {"id": "docs", "label": "Open docs", "url": "https://example.com/docs"}]},
        "email": {"type": "collect", "field": "email", "prompt": "Your email?", "next": "handover"},
        "tagit": {"type": "tag", "tags": ["pricing"], "next": "menu"},
        "handover": {"type": "handover", "message": "Connecting you to our team.", "context": {"topic": "sales"}},
        "bye": {"type": "end", "message": "Glad I could help!"}
      }
    })
}

#[tokio::test]
async fn flows_are_created_exported_reimported_replaced_and_deleted() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;

    let created = app
        .api(&token, Method::POST, "/api/v1/flows")
        .json(&support_flow())
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status().as_u16(), 201);
    let exported: Value = created.json().await.expect("json");
    let id = exported["id"].as_str().expect("id").to_owned();
    assert_eq!(exported["steps"]["menu"]["buttons"][1]["next"], "handover");

    // The export imports again as a new flow.
    let copy = app
        .api(&token, Method::POST, "/api/v1/flows")
        .json(&exported)
        .send()
        .await
        .expect("POST");
    assert_eq!(copy.status().as_u16(), 201);
    let list: Value = app
        .api(&token, Method::GET, "/api/v1/flows")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(list["flows"].as_array().map(Vec::len), Some(2));

    let mut changed = exported.clone();
    changed["name"] = json!("Support (en)");
    changed["priority"] = json!(20);
    let replaced = app
        .api(&token, Method::PUT, &format!("/api/v1/flows/{id}"))
        .json(&changed)
        .send()
        .await
        .expect("PUT");
    assert_eq!(replaced.status().as_u16(), 200);
    let got: Value = app
        .api(&token, Method::GET, &format!("/api/v1/flows/{id}"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (got["name"].as_str(), got["priority"].as_i64()),
        (Some("Support (en)"), Some(20))
    );
    assert_eq!(got["created_at"], exported["created_at"]);

    let deleted = app
        .api(&token, Method::DELETE, &format!("/api/v1/flows/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status().as_u16(), 204);
    let gone = app
        .api(&token, Method::GET, &format!("/api/v1/flows/{id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(gone.status().as_u16(), 404);
}

#[tokio::test]
async fn an_invalid_flow_lists_every_problem_with_its_path_and_stores_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let mut bad = support_flow();
    bad["steps"]["pricing"]["buttons"][1]["next"] = json!("pricng");
    bad["start"] = json!("nowhere");
    let response = app
        .api(&token, Method::POST, "/api/v1/flows")
        .json(&bad)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.expect("json");
    let problems: Vec<String> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["field"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        problems.contains(&"steps.pricing.buttons[1].next: no step \"pricng\"".to_owned()),
        "{problems:?}"
    );
    assert!(
        problems.contains(&"start: no step \"nowhere\"".to_owned()),
        "{problems:?}"
    );
    let list: Value = app
        .api(&token, Method::GET, "/api/v1/flows")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(list["flows"], json!([]));
}

#[tokio::test]
async fn flows_belong_to_their_account_and_to_admins() {
    let app = spawn_app().await;
    let a = app.create_account("A").await;
    let b = app.create_account("B").await;
    let a_token = app.token_for(&a.owner_email).await;
    let created: Value = app
        .api(&a_token, Method::POST, "/api/v1/flows")
        .json(&support_flow())
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    let b_token = app.token_for(&b.owner_email).await;
    for method in [Method::GET, Method::DELETE] {
        let response = app
            .api(&b_token, method.clone(), &format!("/api/v1/flows/{id}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 404, "{method}");
    }
    let agent = app.create_user(&a, Role::Agent).await;
    let agent_token = app.token_for(&agent).await;
    let response = app
        .api(&agent_token, Method::POST, "/api/v1/flows")
        .json(&support_flow())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn the_chatbot_page_lists_flows_and_their_unreachable_steps() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let created = app
        .api(&token, Method::POST, "/api/v1/flows")
        .json(&support_flow())
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status().as_u16(), 201);
    let client = app.signed_in(&account.owner_email).await;
    let html = app
        .get(&client, "/chatbot")
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("Support"));
    assert!(
        html.contains("Unreachable: email, tagit"),
        "steps nothing leads to are pointed out"
    );
}

#[tokio::test]
async fn targeting_is_bounded_per_flow_and_enabled_flows_per_account() {
    let app = spawn_app().await;
    let account = app.create_account("Bounded").await;
    let token = app.token_for(&account.owner_email).await;

    let mut crowded = support_flow();
    let conditions: Vec<Value> = (0..21)
        .map(|n| json!({"field": "url", "op": "regex", "value": format!("/p{n}/[a-z]+$")}))
        .collect();
    crowded["trigger"]["where"]["conditions"] = json!(conditions);
    let (status, body) = app
        .call(&token, Method::POST, "/api/v1/flows", Some(crowded))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["details"]
            .as_array()
            .expect("details")
            .iter()
            .any(|d| d["field"] == "trigger.where.conditions"),
        "{body}"
    );

    for n in 0..50 {
        let mut flow = support_flow();
        flow["name"] = json!(format!("Flow {n}"));
        let (status, body) = app
            .call(&token, Method::POST, "/api/v1/flows", Some(flow))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut one_more = support_flow();
    one_more["name"] = json!("One too many");
    let (status, body) = app
        .call(
            &token,
            Method::POST,
            "/api/v1/flows",
            Some(one_more.clone()),
        )
        .await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (422, Some("enabled")),
        "{body}"
    );
    // Saved disabled it is fine, and enabling it is refused the same way.
    one_more["enabled"] = json!(false);
    let (status, body) = app
        .call(
            &token,
            Method::POST,
            "/api/v1/flows",
            Some(one_more.clone()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    one_more["enabled"] = json!(true);
    let (status, _) = app
        .call(
            &token,
            Method::PUT,
            &format!("/api/v1/flows/{id}"),
            Some(one_more),
        )
        .await;
    assert_eq!(status, 422);
}
