//! Bearer tokens: missing, unknown, valid, revoked, made in settings.

use crate::helpers::spawn_app;
use reqwest::Method;

#[tokio::test]
async fn the_api_answers_401_with_a_json_error_without_a_valid_token() {
    let app = spawn_app().await;
    app.create_account("Acme").await;
    let client = reqwest::Client::new();

    let missing = client
        .get(app.url("/api/v1/account"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status().as_u16(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");

    for bad in ["fd_0000000000000000000000000000000000000000", "garbage"] {
        let response = app
            .api(bad, Method::GET, "/api/v1/account")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 401, "{bad}");
    }
}

#[tokio::test]
async fn a_valid_token_reads_its_account_and_a_revoked_one_stops_working() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;

    let response = app
        .api(&token, Method::GET, "/api/v1/account")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["id"], account.account_id.to_string());
    assert_eq!(body["widget_key"], account.widget_key);
    assert_eq!(body["plan"]["code"], "SOLO");
    assert_eq!(body["plan"]["chatbot_conversations"], 100);

    // Revoke it through the settings page, as an owner would.
    let client = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&client, "/settings/tokens")
        .await
        .text()
        .await
        .expect("html");
    let marker = "action=\"/settings/tokens/";
    let start = page.find(marker).expect("revoke form") + marker.len();
    let id = &page[start..start + 36];
    let revoked = app
        .post_form(
            &client,
            "/settings/tokens",
            &format!("/settings/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoked.status().as_u16(), 303);

    let after = app
        .api(&token, Method::GET, "/api/v1/account")
        .send()
        .await
        .expect("GET");
    assert_eq!(after.status().as_u16(), 401);
}

#[tokio::test]
async fn a_token_made_in_settings_is_shown_once_and_works() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = app.signed_in(&account.owner_email).await;
    let response = app
        .post_form(
            &client,
            "/settings/tokens",
            "/settings/tokens",
            &[("name", "CRM sync")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("html");
    let start = html.find(">fd_").expect("token shown") + 1;
    let token = &html[start..start + 43];

    let api = app
        .api(token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .expect("GET");
    assert_eq!(api.status().as_u16(), 200);
    let list = app
        .get(&client, "/settings/tokens")
        .await
        .text()
        .await
        .expect("html");
    assert!(list.contains("CRM sync"));
    assert!(!list.contains(token), "the secret is never shown again");
}

/// The request does not wait for its token's use to be written (it goes through the message
/// writer after the answer), but the use is recorded all the same.
#[tokio::test]
async fn a_tokens_use_is_recorded_after_the_request() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = app.signed_in(&account.owner_email).await;
    let last_used = || async {
        let html = app
            .get(&client, "/settings/tokens")
            .await
            .text()
            .await
            .expect("html");
        html.split("<tr")
            .find(|row| row.contains("<td>test</td>"))
            .expect("the token's row")
            .to_owned()
    };
    let token = app.token_for(&account.owner_email).await;
    assert!(last_used().await.contains("<td>never</td>"), "unused yet");
    let api = app
        .api(&token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .expect("GET");
    assert_eq!(api.status().as_u16(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let row = last_used().await;
        if !row.contains("<td>never</td>") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token's use was never recorded: {row}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
