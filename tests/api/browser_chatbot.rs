//! The chatbot in a real browser: the demo flow's welcome bubble above the launcher, its
//! buttons as quick replies, earlier buttons disabled after a click, a `collect` prompt
//! refusing a bad email, and the agent seeing "Joined by chatbot" and the bot transcript.
//! Screenshots go to `test-artifacts/`.

use crate::{
    browser::{
        Driver, WIDGET_TEXT, artifact, eventually, open_listed_conversation, script_number,
        script_string, sign_in,
    },
    helpers::spawn_app,
};
use thirtyfour::prelude::*;

pub const ROOT: &str = "document.querySelector('frontdesk-widget').shadowRoot";

pub async fn widget_element(visitor: &WebDriver, selector: &str) -> WebElement {
    visitor
        .execute(
            &format!("return {ROOT}.querySelector({selector:?})"),
            Vec::new(),
        )
        .await
        .expect("script")
        .element()
        .expect("an element")
}

/// Clicks the live quick reply with this label.
pub async fn click_choice(visitor: &WebDriver, label: &str) {
    let script = format!(
        "return [...{ROOT}.querySelectorAll('button.choice')].find(b => !b.disabled && b.textContent.startsWith({label:?})) || null"
    );
    for _ in 0..100 {
        if let Some(button) = visitor
            .execute(&script, Vec::new())
            .await
            .ok()
            .and_then(|ret| ret.element().ok())
        {
            button.click().await.expect("click");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    panic!("the {label} button never became live");
}

#[tokio::test]
async fn a_visitor_clicks_through_the_demo_flow_and_the_agent_sees_the_label() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let alice = demo.login("alice@demo.test").expect("alice");
    let driver = Driver::start().await;
    let visitor = driver.browser().await;
    let agent = driver.browser().await;
    sign_in(&app, &agent, &alice.email, &alice.password).await;

    visitor.goto(app.url("/demo")).await.expect("open /demo");
    eventually("the welcome shows above the launcher", || async {
        script_string(
            &visitor,
            &format!("const t = {ROOT}?.querySelector('[data-r=teaser]'); return t && !t.hidden ? t.textContent : ''"),
        )
        .await
        .contains("Looking for the right tea?")
    })
    .await;
    visitor
        .screenshot(&artifact("chatbot-welcome-bubble.png"))
        .await
        .expect("screenshot");

    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    click_choice(&visitor, "Shipping times").await;
    eventually("the next step answers", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("We ship within 2 working days")
    })
    .await;
    // The menu's buttons are spent; the new step's are live.
    eventually("earlier buttons are disabled", || async {
        script_number(
            &visitor,
            &format!("return [...{ROOT}.querySelectorAll('button.choice')].filter(b => b.textContent.startsWith('Talk to a person') && !b.disabled).length"),
        )
        .await
            == 0
    })
    .await;
    click_choice(&visitor, "Back").await;
    click_choice(&visitor, "Wholesale orders").await;
    eventually("the collect step asks", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("Which email should our wholesale team write to?")
    })
    .await;
    let composer = widget_element(&visitor, "textarea[data-r=input]").await;
    composer.send_keys("not-an-email").await.expect("type");
    composer.send_keys(Key::Enter).await.expect("send");
    eventually("a bad email is refused with the reason", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("does not look like an email")
    })
    .await;
    composer
        .send_keys("buyer@cafe.example")
        .await
        .expect("type");
    composer.send_keys(Key::Enter).await.expect("send");
    eventually("the bot hands over", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("Our sales team takes it from here")
    })
    .await;
    visitor
        .screenshot(&artifact("chatbot-widget-flow.png"))
        .await
        .expect("screenshot");

    // The agent's inbox: the conversation, labelled, with the bot's steps and the choices.
    open_listed_conversation(&agent, "Joined by chatbot").await;
    eventually("the transcript shows the bot and the summary", || async {
        let text = script_string(
            &agent,
            "return document.getElementById('transcript')?.textContent || ''",
        )
        .await;
        text.contains("Shipping times")
            && text.contains("Handed over by the bot")
            && text.contains("buyer@cafe.example")
    })
    .await;
    let head = script_string(
        &agent,
        "return document.querySelector('.conv-head')?.textContent || ''",
    )
    .await;
    assert!(head.contains("Escalated to human"), "{head}");
    agent
        .screenshot(&artifact("chatbot-inbox-transcript.png"))
        .await
        .expect("screenshot");

    // The owner's insights count the run.
    let owner = demo.logins.first().expect("the owner's login");
    agent.delete_all_cookies().await.expect("sign out");
    sign_in(&app, &agent, &owner.email, &owner.password).await;
    agent
        .goto(app.url("/chatbot/insights"))
        .await
        .expect("insights");
    eventually("the insights count the run", || async {
        script_string(
            &agent,
            "return document.getElementById('total-counted')?.textContent || ''",
        )
        .await
            == "1"
    })
    .await;
    agent
        .screenshot(&artifact("chatbot-insights.png"))
        .await
        .expect("screenshot");
    visitor.quit().await.expect("quit");
    agent.quit().await.expect("quit");
}
