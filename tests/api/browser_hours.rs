//! Issue 17 in a real browser: outside business hours, with nobody online, the widget's
//! offline form says when people reply ("We reply on Monday at 9:00.", in the account's zone);
//! a user the page identifies with a signed identity sees their conversation in a second browser.

use crate::{
    browser::{Driver, artifact, eventually, script_string},
    browser_chatbot::{ROOT, widget_element},
    helpers::spawn_app_with,
};
use reqwest::Method;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

#[tokio::test]
async fn outside_business_hours_the_offline_form_says_when_we_reply() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let owner = app.token_for("owner@demo.test").await;
    // No bot: the widget is a plain live chat, and with nobody online it shows the offline form.
    let (_, flows) = app.call(&owner, Method::GET, "/api/v1/flows", None).await;
    for flow in flows["flows"].as_array().cloned().unwrap_or_default() {
        let id = flow["id"].as_str().expect("flow id");
        let (status, _) = app
            .call(&owner, Method::DELETE, &format!("/api/v1/flows/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }
    let day = json!([["09:00", "17:00"]]);
    let (status, body) = app
        .call(
            &owner,
            Method::PATCH,
            "/api/v1/account",
            Some(json!({"business_hours": {"time_zone": "Europe/Prague",
                "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Friday 2027-03-26 19:00 in Prague; the clocks change on Sunday.
    let (status, _): (u16, Value) = app
        .call(
            &owner,
            Method::POST,
            "/api/v1/test-clock",
            Some(json!({"now": "2027-03-26T18:00:00Z"})),
        )
        .await;
    assert_eq!(status, 200);

    let driver = Driver::start().await;
    let visitor = driver.browser().await;
    visitor.goto(app.url("/demo")).await.expect("open /demo");
    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    let hours_text = format!(
        "const p = {ROOT}.querySelector('[data-r=offlineHours]'); return p && !p.hidden && !{ROOT}.querySelector('[data-r=offline]').hidden ? p.textContent : ''"
    );
    eventually("the offline form says when we reply", || async {
        script_string(&visitor, &hours_text).await == "We reply on Monday at 9:00."
    })
    .await;
    visitor
        .screenshot(&artifact("widget-offline-business-hours.png"))
        .await
        .expect("screenshot");
    visitor.quit().await.expect("quit");
}

/// hex HMAC-SHA256(secret, user_id), as the site's server computes it.
fn sign(secret: &str, user_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn transcript(visitor: &WebDriver) -> String {
    script_string(
        visitor,
        &format!("return {ROOT}.querySelector('[data-r=log]').textContent"),
    )
    .await
}

/// Opens /demo with the chat open and the page's signed-in user identified.
async fn identified_visitor(
    driver: &Driver,
    app: &crate::helpers::TestApp,
    call: &str,
) -> WebDriver {
    let visitor = driver.browser().await;
    visitor.goto(app.url("/demo")).await.expect("open /demo");
    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    visitor.execute(call, Vec::new()).await.expect("identify");
    visitor
}

#[tokio::test]
async fn a_signed_in_user_sees_their_conversation_from_another_browser() {
    let app = spawn_app_with(|_| {}).await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let owner = app.token_for("owner@demo.test").await;
    let (_, account) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    let secret = account["identity_secret"].as_str().expect("secret");
    // An agent is online, so the widget is a live chat with a composer.
    let password = &demo.login("owner@demo.test").expect("owner login").password;
    let cookie =
        crate::agent_socket::session_cookie_at(&app.address, "owner@demo.test", password).await;
    let _agent = crate::sockets::Socket::open(
        &app.address,
        "/ws/agent",
        Some(app.address.as_str()),
        Some(&cookie),
    )
    .await
    .expect("agent socket");
    let call = format!(
        "frontdesk('identify', {{user_id: 'u-1042', email: 'jana@example.com', signature: '{}'}})",
        sign(secret, "u-1042")
    );

    let driver = Driver::start().await;
    let laptop = identified_visitor(&driver, &app, &call).await;
    let composer = widget_element(&laptop, "textarea[data-r=input]").await;
    composer
        .send_keys("Where is order 1042?")
        .await
        .expect("type");
    composer.send_keys(Key::Enter).await.expect("send");
    eventually("the message is stored", || async {
        let (_, list) = app
            .call(&owner, Method::GET, "/api/v1/conversations", None)
            .await;
        list["conversations"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    })
    .await;

    let phone = identified_visitor(&driver, &app, &call).await;
    eventually(
        "the other browser joins the user's visitor and shows the conversation",
        || async { transcript(&phone).await.contains("Where is order 1042?") },
    )
    .await;
    phone
        .screenshot(&artifact("widget-verified-second-device.png"))
        .await
        .expect("screenshot");
    // A browser with a forged signature sees nothing of it.
    let forged = format!(
        "frontdesk('identify', {{user_id: 'u-1042', signature: '{}'}})",
        sign("not-the-secret", "u-1042")
    );
    let stranger = identified_visitor(&driver, &app, &forged).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!transcript(&stranger).await.contains("order 1042"));
    for browser in [laptop, phone, stranger] {
        browser.quit().await.expect("quit");
    }
}
