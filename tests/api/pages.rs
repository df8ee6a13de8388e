//! Pages render for their roles, carry security headers, escape user text, and save settings.

use crate::helpers::{browser, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_page_of_the_owner_navigation_renders() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = app.signed_in(&account.owner_email).await;
    for path in [
        "/inbox",
        "/visitors",
        "/chatbot",
        "/billing",
        "/settings/account",
        "/settings/users",
        "/settings/tokens",
        "/account/password",
    ] {
        let response = app.get(&client, path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .to_owned();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        let html = response.text().await.expect("html");
        for link in ["/inbox", "/visitors", "/chatbot", "/billing", "/settings"] {
            assert!(
                html.contains(&format!("href=\"{link}\"")),
                "{path} links {link}"
            );
        }
    }
    assert_eq!(
        app.get(&client, "/settings").await.headers()["location"],
        "/settings/account"
    );
}

#[tokio::test]
async fn public_pages_render_without_signing_in() {
    let app = spawn_app().await;
    let client = browser();
    for path in ["/login", "/demo", "/static/style.css"] {
        assert_eq!(
            app.get(&client, path).await.status().as_u16(),
            200,
            "{path}"
        );
    }
    assert_eq!(app.get(&client, "/").await.headers()["location"], "/login");
    let inbox = app.get(&client, "/inbox").await;
    assert_eq!(inbox.headers()["location"], "/login?next=%2Finbox");
}

#[tokio::test]
async fn unknown_page_urls_answer_the_html_error_page_with_404() {
    let app = spawn_app().await;
    let client = browser();
    for path in ["/no-such-page", "/settings/nothing/here", "/apiary"] {
        let response = app.get(&client, path).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/html"),
            "{path}"
        );
        let html = response.text().await.expect("html");
        assert!(html.contains("<h1>Not found</h1>"), "{path}: {html}");
        assert!(html.contains("href=\"/inbox\""), "{path}: {html}");
    }
}

#[tokio::test]
async fn account_settings_show_the_embed_snippet_and_save_allowed_domains() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&client, "/settings/account")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(&format!("data-key=&quot;{}&quot;", account.widget_key))
            || page.contains(&format!("data-key=&#34;{}&#34;", account.widget_key)),
        "snippet with the widget key"
    );

    let saved = app
        .post_form(
            &client,
            "/settings/account",
            "/settings/account",
            &[
                ("name", "Acme Tea"),
                (
                    "allowed_domains",
                    "https://shop.example.com\n\nhttp://localhost:3000",
                ),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let stored = frontdesk::services::accounts::get_account(&app.ctx, account.account_id)
        .await
        .expect("account");
    assert_eq!(
        stored.allowed_domains,
        ["https://shop.example.com", "http://localhost:3000"]
    );

    let rejected = app
        .post_form(
            &client,
            "/settings/account",
            "/settings/account",
            &[("name", ""), ("allowed_domains", "shop.example.com")],
        )
        .await;
    assert_eq!(rejected.status().as_u16(), 422);
    let html = rejected.text().await.expect("html");
    assert!(html.contains("name: must not be empty"), "name error shown");
    assert!(html.contains("allowed domains[0]"), "domain error shown");
    let unchanged = frontdesk::services::accounts::get_account(&app.ctx, account.account_id)
        .await
        .expect("account");
    assert_eq!(unchanged.name, "Acme Tea");
}

#[tokio::test]
async fn user_text_is_escaped_on_pages() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let evil = "<img src=x onerror=alert(1)>";
    let response = app
        .api(&token, Method::PATCH, "/api/v1/account")
        .json(&json!({"name": evil}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 200);
    let client = app.signed_in(&account.owner_email).await;
    let html = app.get(&client, "/inbox").await.text().await.expect("html");
    assert!(!html.contains(evil));
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;") || html.contains("&#60;img"),
        "escaped"
    );
}
