//! Roles: what agents, admins and owners may see and change.

use crate::helpers::spawn_app;
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_agent_gets_403_on_settings_chatbot_and_billing_pages() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let client = app.signed_in(&agent).await;
    for path in [
        "/settings",
        "/settings/account",
        "/settings/users",
        "/settings/tokens",
        "/billing",
        "/chatbot",
    ] {
        assert_eq!(
            app.get(&client, path).await.status().as_u16(),
            403,
            "{path}"
        );
    }
    for path in ["/inbox", "/visitors", "/account/password"] {
        assert_eq!(
            app.get(&client, path).await.status().as_u16(),
            200,
            "{path}"
        );
    }
    let inbox = app.get(&client, "/inbox").await.text().await.expect("html");
    assert!(
        !inbox.contains("href=\"/billing\""),
        "agents see no Billing link"
    );
    assert!(
        !inbox.contains("href=\"/settings\""),
        "agents see no Settings link"
    );
}

#[tokio::test]
async fn an_admin_reaches_settings_but_not_billing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.create_user(&account, Role::Admin).await;
    let client = app.signed_in(&admin).await;
    assert_eq!(
        app.get(&client, "/settings/account")
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(app.get(&client, "/chatbot").await.status().as_u16(), 200);
    assert_eq!(app.get(&client, "/billing").await.status().as_u16(), 403);
}

#[tokio::test]
async fn an_agent_token_cannot_change_the_account_or_add_users() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let token = app.token_for(&agent).await;

    let patch = app
        .api(&token, Method::PATCH, "/api/v1/account")
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patch.status().as_u16(), 403);
    let body: serde_json::Value = patch.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");

    let create = app
        .api(&token, Method::POST, "/api/v1/agents")
        .json(&json!({"email": "x@example.com", "name": "X"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(create.status().as_u16(), 403);
    assert_eq!(
        app.get(&reqwest::Client::new(), "/healthz")
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn an_agent_may_set_their_own_status_but_not_their_role() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let agent_id = app.user_id(&agent).await;
    let token = app.token_for(&agent).await;
    let path = format!("/api/v1/agents/{agent_id}");

    let status = app
        .api(&token, Method::PATCH, &path)
        .json(&json!({"status": "away"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(status.status().as_u16(), 200);
    assert_eq!(
        status.json::<serde_json::Value>().await.expect("json")["status"],
        "away"
    );

    let promote = app
        .api(&token, Method::PATCH, &path)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(promote.status().as_u16(), 403);
}

#[tokio::test]
async fn only_an_owner_grants_the_owner_role_and_the_last_owner_stays() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.create_user(&account, Role::Admin).await;
    let agent = app.create_user(&account, Role::Agent).await;
    let admin_token = app.token_for(&admin).await;
    let owner_token = app.token_for(&account.owner_email).await;
    let agent_path = format!("/api/v1/agents/{}", app.user_id(&agent).await);
    let owner_path = format!("/api/v1/agents/{}", app.user_id(&account.owner_email).await);

    let by_admin = app
        .api(&admin_token, Method::PATCH, &agent_path)
        .json(&json!({"role": "owner"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(by_admin.status().as_u16(), 403);
    let demote_owner = app
        .api(&admin_token, Method::PATCH, &owner_path)
        .json(&json!({"role": "agent"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(demote_owner.status().as_u16(), 403);

    let last_owner = app
        .api(&owner_token, Method::PATCH, &owner_path)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(last_owner.status().as_u16(), 409);
    assert_eq!(
        last_owner.json::<serde_json::Value>().await.expect("json")["error"]["code"],
        "conflict"
    );

    let by_owner = app
        .api(&owner_token, Method::PATCH, &agent_path)
        .json(&json!({"role": "owner"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(by_owner.status().as_u16(), 200);
    let now_allowed = app
        .api(&owner_token, Method::PATCH, &owner_path)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(
        now_allowed.status().as_u16(),
        200,
        "with a second owner the first may step down"
    );
}
