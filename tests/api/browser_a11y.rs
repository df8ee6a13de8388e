//! Issue 14 in a real browser: the inbox transcript as agents read it (the visitor on the left,
//! the team on the right, a clicked button by its label, never its id), note mode in the
//! composer, and an axe-core accessibility check (colour contrast and the other WCAG 2 A/AA
//! rules) of the inbox list, a conversation, the billing page and the open widget on /demo.
//!
//! axe-core is installed by `npm install --prefix tests/a11y` (`.ci/run` does it; the folder's
//! `node_modules` is not committed); the test fails, never skips, when it is missing.

use crate::{
    browser::{
        Driver, artifact, click_when_ready, eventually, script_number, script_string, sign_in,
    },
    browser_chatbot::{ROOT, click_choice, widget_element},
    helpers::{TestApp, spawn_app},
};
use std::{path::PathBuf, time::Duration};
use thirtyfour::prelude::*;

/// The WCAG 2 rule sets axe runs (colour contrast is `color-contrast`, in wcag2aa).
const AXE_TAGS: &str = "['wcag2a', 'wcag2aa']";

/// axe-core's browser build, read from the test folder npm installs it into.
fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/a11y/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "axe-core is missing at {} ({error}): run `npm install --prefix tests/a11y` \
             (needs Node.js and npm; .ci/run does this) before the browser tests",
            path.display()
        )
    })
}

/// Runs axe on the current page (open shadow roots included, so the widget is checked too)
/// and answers one line per violating node: rule, target and axe's summary.
pub async fn axe_violations(browser: &WebDriver, axe: &str) -> Vec<String> {
    axe_run(browser, axe).await.0
}

/// Runs axe; answers the violations and how many nodes inside shadow roots the
/// `color-contrast` rule checked (proof that it saw the widget's shadow DOM).
pub async fn axe_run(browser: &WebDriver, axe: &str) -> (Vec<String>, usize) {
    browser
        .execute(axe, Vec::new())
        .await
        .expect("inject axe-core");
    browser
        .execute("window.axe = window.axe || axe; return 1", Vec::new())
        .await
        .expect("axe is defined");
    browser
        .set_script_timeout(Duration::from_secs(30))
        .await
        .expect("script timeout");
    let script = format!(
        "const done = arguments[arguments.length - 1];
         window.axe.run(document, {{ runOnly: {{ type: 'tag', values: {AXE_TAGS} }} }})
           .then((r) => done({{
              violations: r.violations.flatMap((v) => v.nodes.map((n) =>
                v.id + ' at ' + JSON.stringify(n.target) + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' '))),
              shadow: r.passes.concat(r.violations).filter((v) => v.id === 'color-contrast')
                .flatMap((v) => v.nodes).filter((n) => Array.isArray(n.target[0])).length }}))
           .catch((e) => done({{ violations: ['axe failed: ' + e], shadow: 0 }}));"
    );
    let ret = browser
        .execute_async(&script, Vec::new())
        .await
        .expect("run axe");
    let result = ret.json();
    let violations = result["violations"]
        .as_array()
        .expect("a list of violations")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let shadow = result["shadow"].as_u64().unwrap_or_default() as usize;
    (violations, shadow)
}

fn assert_accessible(page: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{page}: axe found {} violation(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

async fn transcript_text(agent: &WebDriver) -> String {
    script_string(
        agent,
        "return document.getElementById('transcript')?.textContent || ''",
    )
    .await
}

/// A conversation with every kind of message: the bot's welcome and steps, a visitor's
/// button click ("Shipping times"), the handover's system note, a typed visitor message and
/// Alice's reply. Answers the visitor's browser, Alice's (on the conversation) and the owner's
/// email and password.
async fn conversation_with_every_kind(
    app: &TestApp,
    driver: &Driver,
) -> (WebDriver, WebDriver, (String, String)) {
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let alice = demo.login("alice@demo.test").expect("alice").clone();
    let owner = demo
        .login("owner@demo.test")
        .map(|login| (login.email.clone(), login.password.clone()))
        .expect("owner");
    let agent = driver.browser().await;
    let visitor = driver.browser().await;
    sign_in(app, &agent, &alice.email, &alice.password).await;
    // Alice's open inbox makes the account online for visitors; the header follows live
    // (the page was rendered before its socket opened).
    eventually("the header says visitors can chat", || async {
        script_string(
            &agent,
            "return document.getElementById('account-presence')?.textContent || ''",
        )
        .await
            == "● Online: visitors can chat"
    })
    .await;

    visitor.goto(app.url("/demo")).await.expect("open /demo");
    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    click_choice(&visitor, "Shipping times").await;
    click_choice(&visitor, "Back").await;
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
    let composer = widget_element(&visitor, "textarea[data-r=input]").await;
    composer
        .send_keys("Do you ship to Brno?")
        .await
        .expect("type");
    composer.send_keys(Key::Enter).await.expect("send");

    click_when_ready(&agent, "li.conv a").await;
    eventually("Alice sees the visitor's question", || async {
        transcript_text(&agent).await.contains("ship to Brno")
    })
    .await;
    let reply = agent
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box");
    reply.send_keys("Yes, in two days.").await.expect("type");
    reply.send_keys(Key::Enter).await.expect("send");
    eventually("Alice's reply is in the transcript", || async {
        transcript_text(&agent).await.contains("in two days")
    })
    .await;
    (visitor, agent, owner)
}

#[tokio::test]
async fn the_transcript_shows_the_visitor_left_the_team_right_and_button_labels_not_ids() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let (visitor, agent, _) = conversation_with_every_kind(&app, &driver).await;

    let clicked = script_string(
        &agent,
        "return [...document.querySelectorAll('#transcript .bubble.clicked')].map(b => b.textContent).join('|')",
    )
    .await;
    assert!(clicked.contains("Shipping times"), "{clicked}");
    assert!(clicked.contains("Talk to a person"), "{clicked}");
    let transcript = transcript_text(&agent).await;
    for id in ["“shipping”", "“human”", "“back”"] {
        assert!(
            !transcript.contains(id),
            "a button's id shows in the transcript: {transcript}"
        );
    }
    // Left and right: the visitor's bubbles start at the left edge, the team's end at the right.
    let sides = script_string(
        &agent,
        "const t = document.getElementById('transcript').getBoundingClientRect();
         const rel = (sel, f) => [...document.querySelectorAll('#transcript ' + sel)].map(f);
         const left = rel('.bubble.visitor', (b) => Math.round(b.getBoundingClientRect().left - t.left));
         const right = rel('.bubble.agent, .bubble.bot', (b) => Math.round(t.right - b.getBoundingClientRect().right));
         return JSON.stringify({left, right});",
    )
    .await;
    let sides: serde_json::Value = serde_json::from_str(&sides).expect("json");
    let near = |list: &serde_json::Value| {
        let list = list.as_array().expect("list");
        !list.is_empty() && list.iter().all(|gap| gap.as_i64().is_some_and(|g| g < 40))
    };
    assert!(
        near(&sides["left"]),
        "visitor bubbles sit on the left: {sides}"
    );
    assert!(
        near(&sides["right"]),
        "agent and bot bubbles sit on the right: {sides}"
    );
    script_number(
        &agent,
        "document.getElementById('transcript').scrollTop = 0; return 1",
    )
    .await;
    agent
        .screenshot(&artifact("a11y-inbox-transcript.png"))
        .await
        .expect("screenshot");
    visitor.quit().await.expect("quit");
    agent.quit().await.expect("quit");
}

#[tokio::test]
async fn note_mode_turns_the_composer_yellow_and_the_button_says_add_note() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let (visitor, agent, _) = conversation_with_every_kind(&app, &driver).await;

    let look = "const f = document.getElementById('reply');
                return getComputedStyle(f).backgroundColor + '|' + f.querySelector('button[type=submit]').textContent.trim();";
    let before = script_string(&agent, look).await;
    assert!(before.ends_with("|Send"), "{before}");
    click_when_ready(&agent, "#reply input[name=internal]").await;
    let note = script_string(&agent, look).await;
    assert_eq!(
        note, "rgb(255, 248, 219)|Add note",
        "note mode: a pale yellow composer and an \"Add note\" button"
    );
    agent
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box")
        .send_keys("VIP customer, be nice")
        .await
        .expect("type");
    agent
        .screenshot(&artifact("inbox-note-mode.png"))
        .await
        .expect("screenshot");
    agent
        .find(By::Css("#reply button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("add the note");
    eventually(
        "the note is added and the composer is back to replies",
        || async {
            transcript_text(&agent).await.contains("VIP customer")
                && script_string(&agent, look).await == before
        },
    )
    .await;
    // Unticking by hand also goes back to "Send".
    click_when_ready(&agent, "#reply input[name=internal]").await;
    click_when_ready(&agent, "#reply input[name=internal]").await;
    assert_eq!(script_string(&agent, look).await, before);
    assert_eq!(
        script_string(
            &agent,
            "return [...document.querySelectorAll('#transcript .bubble.agent.internal')].map(b => b.querySelector('.text').textContent).join('|')"
        )
        .await,
        "VIP customer, be nice",
        "the note is an internal note"
    );
    visitor.quit().await.expect("quit");
    agent.quit().await.expect("quit");
}

#[tokio::test]
async fn the_inbox_billing_and_widget_pass_axe_with_no_contrast_failures() {
    let axe = axe_source();
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let (visitor, agent, (owner, password)) = conversation_with_every_kind(&app, &driver).await;

    // A note too, so its colours are checked.
    click_when_ready(&agent, "#reply input[name=internal]").await;
    let reply = agent
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box");
    reply.send_keys("Asked twice already").await.expect("type");
    reply.send_keys(Key::Enter).await.expect("add");
    eventually("the note shows", || async {
        transcript_text(&agent).await.contains("Asked twice")
    })
    .await;
    agent
        .screenshot(&artifact("a11y-conversation.png"))
        .await
        .expect("screenshot");
    assert_accessible("conversation", &axe_violations(&agent, &axe).await);

    agent.goto(app.url("/inbox")).await.expect("inbox");
    eventually("the list shows", || async {
        script_number(&agent, "return document.querySelectorAll('li.conv').length").await >= 1
    })
    .await;
    agent
        .screenshot(&artifact("a11y-inbox-list.png"))
        .await
        .expect("screenshot");
    assert_accessible("inbox list", &axe_violations(&agent, &axe).await);

    eventually("the widget shows Alice's reply", || async {
        script_string(
            &visitor,
            &format!("return {ROOT}.querySelector('[data-r=log]').textContent"),
        )
        .await
        .contains("in two days")
    })
    .await;
    assert_eq!(
        script_string(
            &visitor,
            "return document.querySelector('frontdesk-widget').shadowRoot.mode"
        )
        .await,
        "open",
        "axe can only check the widget through an open shadow root"
    );
    visitor
        .screenshot(&artifact("a11y-widget.png"))
        .await
        .expect("screenshot");
    let (violations, in_shadow) = axe_run(&visitor, &axe).await;
    assert_accessible("widget on /demo", &violations);
    assert!(
        in_shadow > 10,
        "axe checked the contrast of {in_shadow} nodes in the widget's shadow root"
    );

    agent.delete_all_cookies().await.expect("sign Alice out");
    sign_in(&app, &agent, &owner, &password).await;
    agent.goto(app.url("/billing")).await.expect("billing");
    eventually("the billing page shows", || async {
        !script_string(
            &agent,
            "return document.getElementById('used')?.textContent || ''",
        )
        .await
        .is_empty()
    })
    .await;
    agent
        .screenshot(&artifact("a11y-billing.png"))
        .await
        .expect("screenshot");
    assert_accessible(
        &format!("billing ({owner})"),
        &axe_violations(&agent, &axe).await,
    );
    visitor.quit().await.expect("quit");
    agent.quit().await.expect("quit");
}
