//! The test clock exists only with FRONTDESK_TEST_CLOCK=1, for owners, and stands still once set.

use crate::helpers::{spawn_app, spawn_app_with};
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn there_is_no_test_clock_endpoint_without_the_variable() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let response = app
        .api(&token, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": "2027-01-31T12:00:00Z"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 404);
    let before = chrono::Utc::now();
    assert!(
        app.ctx.clock.now() >= before,
        "the system clock was not moved"
    );
}

#[tokio::test]
async fn an_owner_sets_the_test_clock_and_it_stands_still() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let admin = app.create_user(&account, Role::Admin).await;
    let admin_token = app.token_for(&admin).await;

    let denied = app
        .api(&admin_token, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": "2027-01-31T12:00:00Z"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(denied.status().as_u16(), 403);

    let response = app
        .api(&owner, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": "2027-01-31T12:00:00Z"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["now"], "2027-01-31T12:00:00Z");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        app.ctx.clock.now().to_rfc3339(),
        "2027-01-31T12:00:00+00:00"
    );

    // New records take the simulated time.
    let created = app
        .api(&owner, Method::POST, "/api/v1/agents")
        .json(&json!({"email": "t@example.com", "name": "T"}))
        .send()
        .await
        .expect("POST");
    let body: Value = created.json().await.expect("json");
    assert_eq!(body["agent"]["created_at"], "2027-01-31T12:00:00Z");

    let invalid = app
        .api(&owner, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": "next tuesday"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(invalid.status().as_u16(), 422);
}
