//! One account never reaches another's users or tokens.

use crate::helpers::spawn_app;
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_token_of_account_b_gets_404_for_users_of_account_a() {
    let app = spawn_app().await;
    let a = app.create_account("A").await;
    let b = app.create_account("B").await;
    let a_agent = app.create_user(&a, Role::Agent).await;
    let a_agent_id = app.user_id(&a_agent).await;
    let b_token = app.token_for(&b.owner_email).await;

    let response = app
        .api(
            &b_token,
            Method::PATCH,
            &format!("/api/v1/agents/{a_agent_id}"),
        )
        .json(&json!({"active": false}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json")["error"]["code"],
        "not_found"
    );

    let list: serde_json::Value = app
        .api(&b_token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let emails: Vec<&str> = list["agents"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|agent| agent["email"].as_str())
        .collect();
    assert_eq!(
        emails,
        [b.owner_email.as_str()],
        "B sees only its own users"
    );

    let account: serde_json::Value = app
        .api(&b_token, Method::GET, "/api/v1/account")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(account["name"], "B");
    assert!(
        app.user_id(&a_agent).await == a_agent_id,
        "A's agent untouched"
    );
    let a_users = frontdesk::services::users::session_actor(&app.ctx, a_agent_id)
        .await
        .expect("lookup");
    assert!(a_users.is_some(), "A's agent is still active");
}

#[tokio::test]
async fn a_session_of_account_b_gets_404_for_users_and_tokens_of_account_a() {
    let app = spawn_app().await;
    let a = app.create_account("A").await;
    let b = app.create_account("B").await;
    let a_agent = app.create_user(&a, Role::Agent).await;
    let a_agent_id = app.user_id(&a_agent).await;
    let (a_token, a_secret) = {
        let email =
            frontdesk::domain::email::EmailAddress::parse("email", &a.owner_email).expect("email");
        frontdesk::services::tokens::create_token_for_email(&app.ctx, &email, "token-of-account-a")
            .await
            .expect("token")
    };
    let a_token_id = a_token.id;
    let b_client = app.signed_in(&b.owner_email).await;

    let user = app
        .post_form(
            &b_client,
            "/settings/users",
            &format!("/settings/users/{a_agent_id}"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(user.status().as_u16(), 404);
    let token = app
        .post_form(
            &b_client,
            "/settings/tokens",
            &format!("/settings/tokens/{a_token_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(token.status().as_u16(), 404);

    let still: serde_json::Value = app
        .api(&a_secret, Method::GET, "/api/v1/agents")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let agent = still["agents"]
        .as_array()
        .expect("array")
        .iter()
        .find(|agent| agent["email"] == a_agent.as_str())
        .cloned()
        .expect("agent");
    assert_eq!(agent["active"], true);
    let tokens_page = app
        .get(&b_client, "/settings/tokens")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        !tokens_page.contains("token-of-account-a"),
        "B does not see A's tokens"
    );
}
