//! Signing in and out: credentials, cookies, CSRF, throttling, deactivation, temporary passwords.

use crate::helpers::{PASSWORD, browser, csrf_from, spawn_app};
use frontdesk::domain::role::Role;

#[tokio::test]
async fn valid_credentials_sign_in_and_open_the_inbox() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = browser();

    let response = app.sign_in(&client, &account.owner_email, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/inbox");

    let inbox = app.get(&client, "/inbox").await;
    assert_eq!(inbox.status().as_u16(), 200);
    let html = inbox.text().await.expect("html");
    assert!(html.contains("Acme"), "the inbox shows the account name");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;

    let wrong_password = app
        .sign_in(&browser(), &account.owner_email, "not the password")
        .await;
    let unknown_email = app
        .sign_in(&browser(), "nobody@example.com", PASSWORD)
        .await;

    assert_eq!(wrong_password.status().as_u16(), 401);
    assert_eq!(unknown_email.status().as_u16(), 401);
    let message = "That email and password do not match an active user.";
    assert!(wrong_password.text().await.expect("html").contains(message));
    assert!(unknown_email.text().await.expect("html").contains(message));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let response = app
        .sign_in(&browser(), &account.owner_email, PASSWORD)
        .await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("frontdesk_session="))
        .expect("session cookie set")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP test server: no Secure flag ({cookie})"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_served_over_tls() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.public_url = Some("https://chat.example.com".to_owned());
    })
    .await;
    let account = app.create_account("Acme").await;
    let response = app
        .sign_in(&browser(), &account.owner_email, PASSWORD)
        .await;
    let secure = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.starts_with("frontdesk_session=") && value.contains("Secure"));
    assert!(secure);
}

#[tokio::test]
async fn a_sign_in_form_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = browser();
    app.get(&client, "/login").await;

    let without = client
        .post(app.url("/login"))
        .form(&[
            ("email", account.owner_email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(without.status().as_u16(), 403);

    let forged = client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", "forged"),
            ("email", account.owner_email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status().as_u16(), 403);
    assert_eq!(
        app.get(&client, "/inbox").await.status().as_u16(),
        303,
        "still signed out"
    );
}

#[tokio::test]
async fn a_settings_form_with_a_wrong_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = app.signed_in(&account.owner_email).await;

    let response = client
        .post(app.url("/settings/account"))
        .form(&[
            ("csrf_token", "stolen"),
            ("name", "Hacked"),
            ("allowed_domains", ""),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
    let stored = frontdesk::services::accounts::get_account(&app.ctx, account.account_id)
        .await
        .expect("account");
    assert_eq!(stored.name, "Acme");
}

#[tokio::test]
async fn sign_in_is_throttled_after_repeated_failures_even_with_the_right_password() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = browser();
    for attempt in 0..5 {
        let response = app
            .sign_in(&client, &account.owner_email, "wrong password")
            .await;
        assert_eq!(response.status().as_u16(), 401, "attempt {attempt}");
    }
    let throttled = app.sign_in(&client, &account.owner_email, PASSWORD).await;
    assert_eq!(throttled.status().as_u16(), 429);
    assert!(
        throttled
            .text()
            .await
            .expect("html")
            .contains("Too many sign-in attempts")
    );

    // Another user is not locked out by someone guessing this one's password.
    let other = app.create_user(&account, Role::Agent).await;
    assert_eq!(
        app.sign_in(&browser(), &other, PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let client = app.signed_in(&account.owner_email).await;
    let inbox = app.get(&client, "/inbox").await.text().await.expect("html");

    let response = client
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf_from(&inbox).as_str())])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(response.status().as_u16(), 303);
    let after = app.get(&client, "/inbox").await;
    assert_eq!(after.status().as_u16(), 303);
    assert!(
        after.headers()["location"]
            .to_str()
            .expect("header")
            .starts_with("/login")
    );
}

#[tokio::test]
async fn a_deactivated_user_is_signed_out_and_cannot_sign_in() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent = app.create_user(&account, Role::Agent).await;
    let agent_client = app.signed_in(&agent).await;
    let owner_client = app.signed_in(&account.owner_email).await;

    let agent_id = app.user_id(&agent).await;
    let response = app
        .post_form(
            &owner_client,
            "/settings/users",
            &format!("/settings/users/{agent_id}"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);

    assert_eq!(
        app.get(&agent_client, "/inbox").await.status().as_u16(),
        303,
        "session ended"
    );
    assert_eq!(
        app.sign_in(&browser(), &agent, PASSWORD)
            .await
            .status()
            .as_u16(),
        401
    );
}

#[tokio::test]
async fn an_invited_user_must_replace_the_temporary_password_first() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.create_user(&account, Role::Admin).await;
    let admin_client = app.signed_in(&admin).await;

    let response = app
        .post_form(
            &admin_client,
            "/settings/users",
            "/settings/users",
            &[
                ("name", "Nina"),
                ("email", "nina@example.com"),
                ("role", "agent"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("html");
    let marker = "temporary password is <code class=\"key\">";
    let start = html.find(marker).expect("temporary password shown") + marker.len();
    let temporary = &html[start..start + html[start..].find('<').expect("end")];

    let nina = browser();
    let signed_in = app.sign_in(&nina, "nina@example.com", temporary).await;
    assert_eq!(signed_in.headers()["location"], "/account/password");
    let blocked = app.get(&nina, "/inbox").await;
    assert_eq!(
        blocked.headers()["location"],
        "/account/password",
        "must change first"
    );

    let changed = app
        .post_form(
            &nina,
            "/account/password",
            "/account/password",
            &[
                ("current_password", temporary),
                ("new_password", "my own password"),
                ("confirm_password", "my own password"),
            ],
        )
        .await;
    assert_eq!(changed.status().as_u16(), 303);
    assert_eq!(app.get(&nina, "/inbox").await.status().as_u16(), 200);
    assert_eq!(
        app.sign_in(&browser(), "nina@example.com", "my own password")
            .await
            .status()
            .as_u16(),
        303
    );
}
