//! Issue 17 in a real browser: outside business hours, with nobody online, the widget's
//! offline form says when people reply ("We reply on Monday at 9:00.", in the account's zone).

use crate::{
    browser::{Driver, artifact, eventually, script_string},
    browser_chatbot::{ROOT, widget_element},
    helpers::spawn_app_with,
};
use reqwest::Method;
use serde_json::{Value, json};

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
