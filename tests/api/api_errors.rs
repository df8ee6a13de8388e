//! The REST API's error bodies: malformed, wrong-shape and invalid input, unknown paths, OpenAPI.

use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn malformed_json_is_a_400_with_a_json_error() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let response = app
        .api(&token, Method::PATCH, "/api/v1/account")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "malformed_json");
    assert!(body["error"]["message"].as_str().is_some());
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_a_422() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    for body in [json!({"name": 42}), json!({"colour": "red"}), json!([1, 2])] {
        let response = app
            .api(&token, Method::PATCH, "/api/v1/account")
            .json(&body)
            .send()
            .await
            .expect("PATCH");
        assert_eq!(response.status().as_u16(), 422, "{body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], "invalid_body", "{body}");
    }
}

#[tokio::test]
async fn every_invalid_field_is_reported_and_nothing_is_written() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let response = app
        .api(&token, Method::PATCH, "/api/v1/account")
        .json(&json!({"name": "  ", "allowed_domains": ["https://ok.example.com", "not a url", "ftp://x.org"]}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "validation_failed");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|detail| detail["field"].as_str())
        .collect();
    assert_eq!(fields, ["name", "allowed_domains[1]", "allowed_domains[2]"]);

    let stored: Value = app
        .api(&token, Method::GET, "/api/v1/account")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(stored["name"], "Acme");
    assert_eq!(stored["allowed_domains"], json!([]));
}

#[tokio::test]
async fn a_valid_patch_changes_name_and_allowed_domains() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let response = app
        .api(&token, Method::PATCH, "/api/v1/account")
        .json(&json!({"name": "Acme Tea", "allowed_domains": ["HTTPS://Shop.Example.com/", "http://localhost:3000"]}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["name"], "Acme Tea");
    assert_eq!(
        body["allowed_domains"],
        json!(["https://shop.example.com", "http://localhost:3000"])
    );
}

#[tokio::test]
async fn creating_a_user_reports_every_problem_and_a_taken_email_is_a_409() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;

    let invalid = app
        .api(&token, Method::POST, "/api/v1/agents")
        .json(&json!({"email": "nope", "name": "", "role": "king", "password": "short"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(invalid.status().as_u16(), 422);
    let body: Value = invalid.json().await.expect("json");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "name", "role", "password"]);

    let created = app
        .api(&token, Method::POST, "/api/v1/agents")
        .json(&json!({"email": "Zoe@Example.com", "name": "Zoe"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status().as_u16(), 201);
    let body: Value = created.json().await.expect("json");
    assert_eq!(body["agent"]["email"], "zoe@example.com");
    assert_eq!(body["agent"]["role"], "agent");
    assert_eq!(body["agent"]["must_change_password"], true);
    assert_eq!(body["temporary_password"].as_str().map(str::len), Some(16));

    let taken = app
        .api(&token, Method::POST, "/api/v1/agents")
        .json(&json!({"email": "zoe@example.com", "name": "Zoe again"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(taken.status().as_u16(), 409);
}

#[tokio::test]
async fn unknown_api_paths_and_malformed_ids_are_json_404s() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    for (method, path) in [
        (Method::GET, "/api/v1/nothing-here"),
        (Method::PATCH, "/api/v1/agents/42"),
        (Method::GET, "/api/v2/conversations"),
        (Method::POST, "/api/nothing"),
    ] {
        let response = app
            .api(&token, method, path)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 404, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

/// The server's OpenAPI document.
pub(crate) async fn openapi_document(app: &crate::helpers::TestApp) -> Value {
    reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_openapi_document_lists_the_endpoints() {
    let app = spawn_app().await;
    let doc = openapi_document(&app).await;
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with('3')),
        Some(true)
    );
    for path in [
        "/api/v1/account",
        "/api/v1/agents",
        "/api/v1/agents/{id}",
        "/api/v1/test-clock",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["paths"]["/api/v1/account"]["patch"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
