//! Browser test of the transcript: on the demo website the visitor asks the widget for the
//! conversation by email, and the local SMTP sink receives it (sent by the running email job).

use crate::{
    browser::{Driver, WIDGET_TEXT, artifact, eventually, script_number},
    helpers::spawn_app_with,
    smtp_sink::SmtpSink,
};
use reqwest::Method;
use serde_json::json;
use thirtyfour::prelude::*;

async fn widget_element(browser: &WebDriver, css: &str) -> WebElement {
    browser
        .execute(
            &format!(
                "return document.querySelector('frontdesk-widget').shadowRoot.querySelector('{css}')"
            ),
            Vec::new(),
        )
        .await
        .expect(css)
        .element()
        .expect("an element")
}

#[tokio::test]
async fn a_visitor_gets_the_transcript_by_email_from_the_widget() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(frontdesk::config::Secret::new(url));
        s.jobs = true;
        s.email_poll_ms = 100;
    })
    .await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let alice = demo.login("alice@demo.test").expect("alice");
    let token = app.token_for(&alice.email).await;
    // Alice has the inbox open, so the widget offers the chat (not the offline form).
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed = app.sign_in(&client, &alice.email, &alice.password).await;
    assert_eq!(signed.status().as_u16(), 303);
    let cookie =
        reqwest::cookie::CookieStore::cookies(jar.as_ref(), &app.address.parse().expect("url"))
            .expect("session cookie");
    let _inbox = crate::sockets::Socket::open(
        &app.address,
        "/ws/agent",
        Some(&app.address),
        Some(cookie.to_str().expect("cookie text")),
    )
    .await
    .expect("agent socket");
    let driver = Driver::start().await;
    let visitor = driver.browser().await;
    visitor
        .goto(app.url("/demo"))
        .await
        .expect("open the demo website");
    eventually("the widget loads", || async {
        script_number(
            &visitor,
            "return document.querySelector('frontdesk-widget')?.shadowRoot ? 1 : 0",
        )
        .await
            == 1
    })
    .await;
    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    let composer = widget_element(&visitor, "textarea[data-r=input]").await;
    composer
        .send_keys("Do you deliver on Saturdays?")
        .await
        .expect("type");
    composer.send_keys(Key::Enter).await.expect("send");

    // Alice answers from the API; the visitor sees it.
    // The browser sends the message asynchronously: wait until the server stored it.
    let mut id = None;
    for _ in 0..100 {
        let (status, list) = app
            .call(&token, Method::GET, "/api/v1/conversations", None)
            .await;
        assert_eq!(status, 200);
        if let Some(found) = list["conversations"][0]["id"].as_str() {
            id = Some(found.to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = id.expect("the visitor's conversation is stored");
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            Some(json!({"text": "Yes, Saturdays until noon.", "client_id": "a-1"})),
        )
        .await;
    assert_eq!(status, 201);
    eventually("the visitor sees the reply", || async {
        crate::browser::script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("Saturdays until noon")
    })
    .await;

    widget_element(&visitor, "button[data-r=transcriptBtn]")
        .await
        .click()
        .await
        .expect("ask for the transcript");
    let email = widget_element(&visitor, "form[data-r=transcript] input[name=email]").await;
    email.send_keys("not-an-address").await.expect("type");
    widget_element(&visitor, "form[data-r=transcript] button[type=submit]")
        .await
        .click()
        .await
        .expect("send");
    eventually("a bad address is pointed out", || async {
        crate::browser::script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("Please enter a valid email address.")
    })
    .await;
    email.clear().await.expect("clear");
    email.send_keys("eva@example.com").await.expect("type");
    visitor
        .screenshot(&artifact("widget-transcript-form.png"))
        .await
        .expect("screenshot");
    widget_element(&visitor, "form[data-r=transcript] button[type=submit]")
        .await
        .click()
        .await
        .expect("send");
    eventually("the widget says the transcript is on its way", || async {
        crate::browser::script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("The transcript is on its way to eva@example.com.")
    })
    .await;
    let received = sink.wait_for(1).await;
    visitor
        .screenshot(&artifact("widget-transcript-sent.png"))
        .await
        .expect("screenshot");
    visitor.quit().await.expect("quit");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, vec!["eva@example.com".to_owned()]);
    let body = received[0].body();
    assert!(body.contains("Do you deliver on Saturdays?"), "{body}");
    assert!(body.contains("Yes, Saturdays until noon."), "{body}");
}
