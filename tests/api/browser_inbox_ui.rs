//! Issue 14 (item 16) in a real browser: typing "/" in the reply box lists the matching
//! shortcuts (an ARIA listbox; arrow keys, Enter, Escape), and on a phone (375 px) the
//! conversation's Transfer button stays on screen. Screenshots go to `test-artifacts/`.

use crate::{
    browser::{
        Driver, artifact, click_when_ready, eventually, script_number, script_string, sign_in,
    },
    helpers::{TestApp, spawn_app},
    sockets::Socket,
};
use thirtyfour::prelude::*;

/// A demo account with shortcuts, a visitor's conversation, and Alice's browser on it.
async fn alice_on_a_conversation(app: &TestApp, driver: &Driver) -> (WebDriver, Socket) {
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let login = |email: &str| demo.login(email).cloned().expect("login");
    let (owner, alice) = (login("owner@demo.test"), login("alice@demo.test"));
    let client = crate::helpers::browser();
    app.sign_in(&client, &owner.email, &owner.password).await;
    for (name, text) in [
        ("shipping", "We ship within 2 working days."),
        ("shipping-eu", "Europe takes 3 to 5 more days."),
        ("thanks", "Thank you for your patience!"),
    ] {
        let response = app
            .post_form(
                &client,
                "/settings/shortcuts",
                "/settings/shortcuts",
                &[("name", name), ("text", text)],
            )
            .await;
        assert_eq!(response.status().as_u16(), 303);
    }
    // A team with a long name, as real accounts have: the Transfer list is as wide as it.
    let token = app.token_for(&owner.email).await;
    let (status, _) = app
        .call(
            &token,
            reqwest::Method::POST,
            "/api/v1/teams",
            Some(serde_json::json!({"name": "Wholesale and enterprise accounts (Europe)", "members": []})),
        )
        .await;
    assert_eq!(status, 201);
    let mut widget = Socket::widget(app, &demo.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("m1", "Where is my parcel?").await;
    let id = ack["conversation_id"].as_str().expect("id").to_owned();
    let browser = driver.browser().await;
    sign_in(app, &browser, &alice.email, &alice.password).await;
    browser
        .goto(app.url(&format!("/inbox/{id}")))
        .await
        .expect("conversation");
    eventually("the conversation shows", || async {
        script_string(
            &browser,
            "return document.getElementById('transcript')?.textContent || ''",
        )
        .await
        .contains("Where is my parcel")
    })
    .await;
    (browser, widget)
}

const LIST: &str = "const l = document.getElementById('shortcut-list');
    return JSON.stringify({shown: !l.hidden, options: [...l.querySelectorAll('[role=option]')].map(o => o.querySelector('strong').textContent),
      selected: [...l.querySelectorAll('[aria-selected=true]')].map(o => o.querySelector('strong').textContent),
      active: document.querySelector('#reply textarea').getAttribute('aria-activedescendant') || '',
      value: document.querySelector('#reply textarea').value});";

async fn list(browser: &WebDriver) -> serde_json::Value {
    serde_json::from_str(&script_string(browser, LIST).await).expect("json")
}

#[tokio::test]
async fn typing_a_slash_lists_the_matching_shortcuts_and_enter_inserts_the_chosen_one() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let (browser, _widget) = alice_on_a_conversation(&app, &driver).await;
    let reply = browser
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box");
    reply.send_keys("Hi! /ship").await.expect("type");
    let shown = list(&browser).await;
    assert_eq!(shown["shown"], true, "{shown}");
    assert_eq!(
        shown["options"],
        serde_json::json!(["/shipping", "/shipping-eu"])
    );
    assert_eq!(shown["selected"], serde_json::json!(["/shipping"]));
    assert_eq!(shown["active"], "shortcut-0");
    browser
        .screenshot(&artifact("inbox-shortcut-list.png"))
        .await
        .expect("screenshot");
    reply.send_keys(Key::Down).await.expect("down");
    assert_eq!(
        list(&browser).await["selected"],
        serde_json::json!(["/shipping-eu"])
    );
    reply.send_keys(Key::Enter).await.expect("insert");
    let inserted = list(&browser).await;
    assert_eq!(inserted["shown"], false, "{inserted}");
    assert_eq!(
        inserted["value"], "Hi! Europe takes 3 to 5 more days.",
        "Enter inserts the chosen shortcut and sends nothing"
    );
    reply.send_keys(" /th").await.expect("type");
    assert_eq!(
        list(&browser).await["options"],
        serde_json::json!(["/thanks"])
    );
    reply.send_keys(Key::Escape).await.expect("escape");
    let closed = list(&browser).await;
    assert_eq!(closed["shown"], false);
    assert_eq!(closed["value"], "Hi! Europe takes 3 to 5 more days. /th");
    browser.quit().await.expect("quit");
}

#[tokio::test]
async fn on_a_phone_the_transfer_button_stays_on_screen() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let (browser, _widget) = alice_on_a_conversation(&app, &driver).await;
    browser
        .set_window_rect(0, 0, 375, 812)
        .await
        .expect("phone size");
    eventually("the page is phone-wide", || async {
        script_number(&browser, "return window.innerWidth").await <= 400
    })
    .await;
    let fits = script_string(
        &browser,
        "const b = [...document.querySelectorAll('.conv-head button')].find(b => b.textContent.trim() === 'Transfer');
         const pane = b.closest('.detail-pane');
         const r = b.getBoundingClientRect();
         const p = pane.getBoundingClientRect();
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
         return JSON.stringify({left: r.left, right: r.right, width: Math.min(innerWidth, p.right),
           page: Math.max(document.documentElement.scrollWidth - innerWidth, pane.scrollWidth - pane.clientWidth, pane.scrollLeft),
           hit: hit === b});",
    )
    .await;
    let fits: serde_json::Value = serde_json::from_str(&fits).expect("json");
    let right = fits["right"].as_f64().expect("right");
    let width = fits["width"].as_f64().expect("width");
    assert!(
        fits["left"].as_f64().is_some_and(|left| left >= 0.0) && right <= width,
        "the Transfer button is on screen: {fits}"
    );
    assert_eq!(fits["hit"], true, "nothing covers or clips it: {fits}");
    assert!(
        fits["page"]
            .as_f64()
            .is_some_and(|overflow| overflow <= 1.0),
        "nothing scrolls sideways: {fits}"
    );
    browser
        .screenshot(&artifact("inbox-phone.png"))
        .await
        .expect("screenshot");
    click_when_ready(&browser, ".transfer-form select").await;
    browser.quit().await.expect("quit");
}
