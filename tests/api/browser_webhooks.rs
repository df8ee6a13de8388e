//! The webhooks settings page in a real browser: add an endpoint, "Send test event", and the
//! delivery shows in the log with the receiver's response code; a screenshot goes to
//! `test-artifacts/webhook-settings.png`.

use crate::{
    browser::{Driver, artifact, click_when_ready, eventually, script_string, sign_in},
    helpers::{PASSWORD, spawn_app_with},
    webhooks::Receiver,
};
use thirtyfour::prelude::*;

#[tokio::test]
async fn the_webhooks_page_sends_a_test_event_and_logs_its_response_code() {
    let app = spawn_app_with(|settings| {
        settings.jobs = true;
        settings.webhook_poll_millis = 100;
    })
    .await;
    let account = app.create_account("Hooks & Co").await;
    let receiver = Receiver::start().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&app, &browser, &account.owner_email, PASSWORD).await;
    browser
        .goto(app.url("/settings/webhooks"))
        .await
        .expect("webhooks page");
    browser
        .find(By::Name("url"))
        .await
        .expect("url field")
        .send_keys(&receiver.url)
        .await
        .expect("type");
    browser
        .find(By::Name("description"))
        .await
        .expect("description field")
        .send_keys("CRM sync")
        .await
        .expect("type");
    click_when_ready(&browser, "input[value='conversation.created']").await;
    click_when_ready(&browser, "input[value='message.created']").await;
    click_when_ready(&browser, "form[action='/settings/webhooks'] button.primary").await;
    eventually("the endpoint is listed", || async {
        script_string(
            &browser,
            "return document.querySelector('table.webhooks')?.textContent || ''",
        )
        .await
        .contains(&receiver.url)
    })
    .await;
    let secret = script_string(
        &browser,
        "return document.querySelector('input.secret')?.value || ''",
    )
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    click_when_ready(&browser, "form[action$='/test'] button").await;
    // The form answers with a redirect to `?sent=1` once the event is queued; reloading before
    // that would cancel the form's request (a flaky CI run did exactly that).
    eventually("the test event is queued", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.query().is_some_and(|query| query.contains("sent=1")))
    })
    .await;
    eventually("the receiver gets the test event", || async {
        !receiver.received().is_empty()
    })
    .await;
    eventually("the test event is delivered and logged with a 200", || async {
        if script_string(
            &browser,
            "return document.querySelector('tr[data-status=\"delivered\"] td.response')?.textContent || ''",
        )
        .await
        .contains("200")
        {
            return true;
        }
        let _ = browser.refresh().await;
        false
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].kind(), "webhook.test");
    assert!(crate::webhooks::verifies(
        &secret,
        received[0].header("frontdesk-signature"),
        &received[0].body
    ));
    browser
        .execute(
            "document.querySelector('table.deliveries').scrollIntoView({block: 'center'})",
            Vec::new(),
        )
        .await
        .expect("scroll to the log");
    browser
        .screenshot(&artifact("webhook-settings.png"))
        .await
        .expect("screenshot");
    browser.quit().await.expect("quit");
    receiver.stop().await;
}
