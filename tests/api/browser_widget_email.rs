//! Issue 14 (item 13) in a real browser: with nobody online after a handover, the widget asks
//! for the visitor's email once, never shows the waiting card's email prompt and the offline
//! form together, and never asks for an email it already has (given in a form, collected by
//! the bot's `collect` step, or known to the server after a reload).

use crate::{
    browser::{Driver, artifact, eventually, script_number, script_string},
    browser_chatbot::{ROOT, click_choice, widget_element},
    helpers::spawn_app,
};
use thirtyfour::prelude::*;

/// What the visitor sees: whether the waiting card, its email form, the offline form and the
/// offline form's email field are shown, and what the waiting card and the offline form say.
#[derive(Debug, serde::Deserialize)]
struct Cards {
    waiting: bool,
    waiting_form: bool,
    offline: bool,
    offline_email_field: bool,
    text: String,
}

impl Cards {
    /// Some form asks for an email.
    fn asks_for_email(&self) -> bool {
        self.waiting_form || (self.offline && self.offline_email_field)
    }
}

async fn cards(visitor: &WebDriver) -> Cards {
    let shown = |r: &str| format!("!{ROOT}.querySelector('[data-r={r}]').hidden");
    let text = |r: &str| format!("({ROOT}.querySelector('[data-r={r}]')?.textContent || '')");
    let json = script_string(
        visitor,
        &format!(
            "return JSON.stringify({{waiting: {}, waiting_form: {}, offline: {}, offline_email_field: {}, text: {} + ' ' + {}}})",
            shown("waiting"),
            shown("waitingForm"),
            shown("offline"),
            shown("offlineEmail"),
            text("waitingText"),
            text("offlineKnown"),
        ),
    )
    .await;
    serde_json::from_str(&json).unwrap_or_else(|_| panic!("cards: {json}"))
}

async fn open_demo_widget(visitor: &WebDriver, app: &crate::helpers::TestApp) {
    visitor.goto(app.url("/demo")).await.expect("open /demo");
    eventually("the widget loads", || async {
        script_number(visitor, &format!("return {ROOT} ? 1 : 0")).await == 1
    })
    .await;
    if script_number(
        visitor,
        &format!("return {ROOT}.querySelector('[data-r=panel]').hidden ? 1 : 0"),
    )
    .await
        == 1
    {
        widget_element(visitor, "button.launcher")
            .await
            .click()
            .await
            .expect("open the chat");
    }
}

/// Forgets what this page's widget remembered of the email, so only the server can tell it.
const FORGET_LOCAL_EMAIL: &str = "Object.keys(localStorage).filter((k) => k.startsWith('frontdesk:') && k.endsWith(':ui')).forEach((k) => {
    const ui = JSON.parse(localStorage.getItem(k)); delete ui.email; delete ui.offlineEmail; localStorage.setItem(k, JSON.stringify(ui)); }); return 1";

/// A demo account with nobody online, and a visitor with the widget open on /demo.
async fn visitor_on_demo() -> (crate::helpers::TestApp, Driver, WebDriver) {
    let app = spawn_app().await;
    frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let driver = Driver::start().await;
    let visitor = driver.browser().await;
    open_demo_widget(&visitor, &app).await;
    (app, driver, visitor)
}

/// Takes a screenshot, then opens another page view whose widget lost its local copy of the
/// email: the server's welcome tells it, and no form asks for it again.
async fn reload_without_the_local_copy(
    visitor: &WebDriver,
    app: &crate::helpers::TestApp,
    screenshot: &str,
    email: &str,
) {
    visitor
        .screenshot(&artifact(screenshot))
        .await
        .expect("screenshot");
    assert_eq!(script_number(visitor, FORGET_LOCAL_EMAIL).await, 1);
    open_demo_widget(visitor, app).await;
    eventually(
        "after a reload, no form asks for the email the server knows",
        || async {
            let seen = cards(visitor).await;
            (seen.waiting || seen.offline) && !seen.asks_for_email() && seen.text.contains(email)
        },
    )
    .await;
}

#[tokio::test]
async fn the_widget_never_asks_again_for_the_email_the_bot_collected() {
    let (app, _driver, visitor) = visitor_on_demo().await;
    click_choice(&visitor, "Wholesale orders").await;
    eventually("the bot asks for the email", || async {
        script_string(
            &visitor,
            &format!("return {ROOT}.querySelector('[data-r=log]').textContent"),
        )
        .await
        .contains("Which email")
    })
    .await;
    let composer = widget_element(&visitor, "textarea[data-r=input]").await;
    composer.send_keys("buyer@example.com").await.expect("type");
    composer.send_keys(Key::Enter).await.expect("send");
    eventually("the bot hands over to the (offline) Sales team", || async {
        let cards = cards(&visitor).await;
        cards.waiting || cards.offline
    })
    .await;
    let seen = cards(&visitor).await;
    assert!(
        !seen.asks_for_email(),
        "asked again for the collected email: {seen:?}"
    );
    assert!(!(seen.waiting_form && seen.offline), "{seen:?}");
    assert!(seen.text.contains("buyer@example.com"), "{seen:?}");
    reload_without_the_local_copy(
        &visitor,
        &app,
        "widget-email-known.png",
        "buyer@example.com",
    )
    .await;
    visitor.quit().await.expect("quit");
}

#[tokio::test]
async fn after_a_handover_with_nobody_online_the_widget_asks_for_the_email_once() {
    let (app, _driver, visitor) = visitor_on_demo().await;
    click_choice(&visitor, "Talk to a person").await;
    eventually(
        "the conversation waits for the (offline) Support team",
        || async { cards(&visitor).await.waiting },
    )
    .await;
    let seen = cards(&visitor).await;
    assert!(
        seen.waiting_form,
        "the waiting card asks for an email: {seen:?}"
    );
    assert!(
        !seen.offline,
        "the offline form is not shown beside the waiting card: {seen:?}"
    );
    visitor
        .screenshot(&artifact("widget-waiting-ask-email.png"))
        .await
        .expect("screenshot");
    let input = widget_element(&visitor, "[data-r=waitingForm] input[name=email]").await;
    input.send_keys("me@example.com").await.expect("type");
    input.send_keys(Key::Enter).await.expect("save");
    eventually("the email is saved", || async {
        !cards(&visitor).await.waiting_form
    })
    .await;
    let seen = cards(&visitor).await;
    assert!(
        seen.waiting && !seen.offline && seen.text.contains("me@example.com"),
        "{seen:?}"
    );
    reload_without_the_local_copy(
        &visitor,
        &app,
        "widget-waiting-email-saved.png",
        "me@example.com",
    )
    .await;
    visitor.quit().await.expect("quit");
}
