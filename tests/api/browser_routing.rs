//! The routing settings page in a real browser (teams, members, rules); a screenshot goes to
//! `test-artifacts/routing-settings.png`.

use crate::{
    browser::{Driver, artifact, eventually, script_string, sign_in},
    helpers::spawn_app,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_routing_settings_page_shows_teams_and_rules() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let owner = demo.logins.first().expect("the owner's login");
    let token = app.token_for(&owner.email).await;
    let alice = app.user_id("alice@demo.test").await.to_string();
    let team: serde_json::Value = app
        .api(&token, Method::POST, "/api/v1/teams")
        .json(&json!({"name": "Wholesale", "members": [alice]}))
        .send()
        .await
        .expect("team")
        .json()
        .await
        .expect("json");
    app.api(&token, Method::POST, "/api/v1/routing-rules")
        .json(&json!({"name": "Wholesale leads", "conditions": [{"field": "context.topic", "op": "equals", "value": "wholesale"}], "team_id": team["id"]}))
        .send()
        .await
        .expect("rule");
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&app, &browser, &owner.email, &owner.password).await;
    browser
        .goto(app.url("/settings/routing"))
        .await
        .expect("routing");
    eventually("the rule shows", || async {
        script_string(
            &browser,
            "return document.querySelector('ol.rules')?.textContent || ''",
        )
        .await
        .contains("Wholesale leads")
    })
    .await;
    browser
        .screenshot(&artifact("routing-settings.png"))
        .await
        .expect("screenshot");
    browser.quit().await.expect("quit");
}
