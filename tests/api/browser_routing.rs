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

/// Issue 6's browser test: the visitor clicks "Talk to a person" in the demo flow, whose
/// handover sets `topic=support`; the rule sends it to the Support team, whose only member
/// (Alice) gets it assigned while Bob, online in another team, does not; Alice sees the bot
/// transcript, answers and resolves, and the owner's report counts it.
#[tokio::test]
async fn a_handover_topic_reaches_the_matching_teams_agent_with_the_bot_transcript() {
    use crate::browser::click_when_ready;
    use crate::browser_chatbot::{ROOT, click_choice, widget_element};
    use thirtyfour::prelude::*;

    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let login = |email: &str| demo.login(email).cloned().expect("login");
    let (alice, bob, owner) = (
        login("alice@demo.test"),
        login("bob@demo.test"),
        login("owner@demo.test"),
    );
    let driver = Driver::start().await;
    let visitor = driver.browser().await;
    let alice_browser = driver.browser().await;
    let bob_browser = driver.browser().await;
    sign_in(&app, &alice_browser, &alice.email, &alice.password).await;
    sign_in(&app, &bob_browser, &bob.email, &bob.password).await;
    // Both inboxes are open (online) before the visitor arrives.
    for browser in [&alice_browser, &bob_browser] {
        eventually("the inbox is live", || async {
            script_string(
                browser,
                "return document.getElementById('inbox') ? 'yes' : ''",
            )
            .await
                == "yes"
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    visitor.goto(app.url("/demo")).await.expect("open /demo");
    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    click_choice(&visitor, "Talk to a person").await;
    eventually("the bot hands over", || async {
        script_string(
            &visitor,
            &format!("return {ROOT}.querySelector('[data-r=log]').textContent"),
        )
        .await
        .contains("Connecting you to our team")
    })
    .await;

    // Alice (Support) has it, assigned to her; Bob (Sales) sees it is not his.
    let token = app.token_for(&owner.email).await;
    let alice_id = app.user_id(&alice.email).await.to_string();
    let (_, listed) = app
        .call(&token, Method::GET, "/api/v1/conversations", None)
        .await;
    let conversation = listed["conversations"][0].clone();
    assert_eq!(
        conversation["assignee"]["id"],
        json!(alice_id),
        "{conversation}"
    );
    let (_, teams) = app.call(&token, Method::GET, "/api/v1/teams", None).await;
    let support = teams["teams"]
        .as_array()
        .and_then(|teams| teams.iter().find(|team| team["name"] == "Support"))
        .expect("Support")["id"]
        .clone();
    assert_eq!(conversation["team_id"], support);
    let id = conversation["id"].as_str().expect("id").to_owned();

    alice_browser
        .goto(app.url("/inbox?assignee=mine"))
        .await
        .expect("mine");
    click_when_ready(&alice_browser, "li.conv a").await;
    eventually(
        "Alice sees the bot transcript and the handover summary",
        || async {
            let text = script_string(
                &alice_browser,
                "return document.getElementById('transcript')?.textContent || ''",
            )
            .await;
            text.contains("Talk to a person")
                && text.contains("Handed over by the bot")
                && text.contains("topic=support")
        },
    )
    .await;
    let head = script_string(
        &alice_browser,
        "return document.querySelector('.conv-head')?.textContent || ''",
    )
    .await;
    assert!(head.contains("Support"), "the team shows: {head}");
    alice_browser
        .screenshot(&artifact("routing-handover-inbox.png"))
        .await
        .expect("screenshot");
    let reply = alice_browser
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box");
    reply
        .send_keys("Hi, Alice here. How can I help?")
        .await
        .expect("type");
    alice_browser
        .find(By::Css("#reply button[type=submit]"))
        .await
        .expect("send")
        .click()
        .await
        .expect("click");
    eventually("the visitor gets Alice's reply", || async {
        script_string(
            &visitor,
            &format!("return {ROOT}.querySelector('[data-r=log]').textContent"),
        )
        .await
        .contains("Alice here")
    })
    .await;
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{id}/resolve"),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // The owner's report counts the conversation, Alice's first reply and the resolve.
    sign_in(&app, &bob_browser, &owner.email, &owner.password).await;
    bob_browser
        .goto(app.url("/reports"))
        .await
        .expect("reports");
    eventually("the report counts it", || async {
        script_string(
            &bob_browser,
            "return document.getElementById('total-conversations')?.textContent || ''",
        )
        .await
            == "1"
    })
    .await;
    let agents = script_string(
        &bob_browser,
        "return document.getElementById('report-agents')?.textContent || ''",
    )
    .await;
    assert!(agents.contains("Alice Agent"), "{agents}");
    bob_browser
        .screenshot(&artifact("reports.png"))
        .await
        .expect("screenshot");
    for browser in [visitor, alice_browser, bob_browser] {
        browser.quit().await.expect("quit");
    }
}
