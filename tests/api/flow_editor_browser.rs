//! The flow editor and its preview in headless Chromium: the demo flow's graph, the CSS-only
//! targeting tabs, and a click through the preview. Screenshots (desktop and 400 px wide) go
//! to `test-artifacts/`.

use crate::browser::{Driver, artifact, eventually, sign_in};
use crate::helpers::spawn_app;
use thirtyfour::prelude::*;

async fn count(browser: &WebDriver, css: &str) -> usize {
    browser
        .find_all(By::Css(css))
        .await
        .map_or(0, |all| all.len())
}

async fn text_of(browser: &WebDriver, css: &str) -> String {
    match browser.find(By::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test]
async fn the_editor_draws_the_demo_flow_and_the_preview_clicks_through_it() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let owner = demo.login("owner@demo.test").expect("owner");
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&app, &browser, &owner.email, &owner.password).await;

    browser
        .goto(app.url("/chatbot"))
        .await
        .expect("open Chatbot");
    browser
        .find(By::XPath(
            "//summary[normalize-space()='Duplicate as translation']",
        ))
        .await
        .expect("the translation form")
        .click()
        .await
        .expect("open it");
    browser
        .screenshot(&artifact("chatbot-flows.png"))
        .await
        .expect("screenshot");
    browser
        .find(By::LinkText("Demo shop assistant"))
        .await
        .expect("the demo flow in the list")
        .click()
        .await
        .expect("open the editor");
    eventually("the editor opens", || async {
        count(&browser, "svg.flow-graph").await == 1
    })
    .await;
    let editor_url = browser.current_url().await.expect("editor URL");
    assert_eq!(
        count(&browser, "svg.flow-graph g.node").await,
        7,
        "every step drawn"
    );
    assert_eq!(
        count(&browser, "svg.flow-graph g.node.unreachable").await,
        0,
        "the demo flow reaches every step"
    );
    assert!(
        count(&browser, "svg.flow-graph g.edge.back").await >= 1,
        "the Back button"
    );
    assert_eq!(count(&browser, "section.step-card").await, 7);

    // The targeting tabs switch without script.
    let audience = browser
        .find(By::Id("panel-audience"))
        .await
        .expect("audience panel");
    assert!(!audience.is_displayed().await.expect("displayed?"));
    browser
        .find(By::Css("label[for=tab-audience]"))
        .await
        .expect("tab")
        .click()
        .await
        .expect("click the Audience tab");
    assert!(audience.is_displayed().await.expect("displayed?"));
    // "Add a condition" changes the form only, and the Where tab stays open.
    browser
        .find(By::Css("label[for=tab-where]"))
        .await
        .expect("tab")
        .click()
        .await
        .expect("click the Where tab");
    browser
        .find(By::XPath("//button[normalize-space()='Add a condition']"))
        .await
        .expect("Add a condition")
        .click()
        .await
        .expect("add one");
    eventually("the condition row appears", || async {
        count(&browser, "select[name='cond.0.field']").await == 1
    })
    .await;
    assert!(
        browser
            .find(By::Id("panel-where"))
            .await
            .expect("where panel")
            .is_displayed()
            .await
            .expect("displayed?")
    );
    assert!(
        text_of(&browser, ".savebar")
            .await
            .contains("Not saved yet")
    );
    browser
        .screenshot(&artifact("flow-editor-where.png"))
        .await
        .expect("screenshot");
    browser
        .screenshot(&artifact("flow-editor.png"))
        .await
        .expect("screenshot");
    browser
        .execute(
            "document.querySelector('.graph-wrap').scrollIntoView()",
            Vec::new(),
        )
        .await
        .expect("scroll to the graph");
    browser
        .screenshot(&artifact("flow-editor-graph.png"))
        .await
        .expect("screenshot");

    browser
        .execute(
            "document.querySelector('.step-card').scrollIntoView()",
            Vec::new(),
        )
        .await
        .expect("scroll to the steps");
    browser
        .screenshot(&artifact("flow-editor-steps.png"))
        .await
        .expect("screenshot");

    // A save with a problem shows it next to the step and keeps what was typed.
    let text = browser
        .find(By::Css("section.step-card textarea"))
        .await
        .expect("the first step's text");
    text.clear().await.expect("clear");
    browser
        .find(By::Css(".savebar button.primary"))
        .await
        .expect("Save flow")
        .click()
        .await
        .expect("save");
    eventually("the problem is shown", || async {
        text_of(&browser, "#problems")
            .await
            .contains("Step “menu”, text: must not be empty")
    })
    .await;
    // In words beside the field itself, not as a path (issue 14).
    assert_eq!(
        text_of(
            &browser,
            "section.step-card.has-errors textarea[aria-invalid=true] + .field-error"
        )
        .await,
        "Must not be empty"
    );
    browser
        .screenshot(&artifact("flow-editor-errors.png"))
        .await
        .expect("screenshot");

    browser
        .find(By::LinkText("Preview"))
        .await
        .expect("preview link")
        .click()
        .await
        .expect("open the preview");
    eventually("the first step shows its buttons", || async {
        count(&browser, ".quick-replies button").await == 3
    })
    .await;
    assert!(
        text_of(&browser, "#preview-log")
            .await
            .contains("What can I help you with?")
    );
    browser
        .find(By::XPath("//button[normalize-space()='Shipping times']"))
        .await
        .expect("the Shipping times button")
        .click()
        .await
        .expect("choose it");
    eventually("the next step shows", || async {
        text_of(&browser, "#preview-log")
            .await
            .contains("We ship within 2 working days")
    })
    .await;
    assert_eq!(
        count(&browser, ".quick-replies.past button:disabled").await,
        3,
        "the first step's buttons are disabled"
    );
    assert_eq!(
        count(&browser, ".quick-replies:not(.past) button:enabled").await,
        2,
        "the current step's buttons work"
    );
    assert_eq!(
        count(&browser, ".quick-replies:not(.past) a[target=_blank]").await,
        1,
        "the URL button opens a new tab"
    );
    browser
        .find(By::XPath("//button[normalize-space()='That helped']"))
        .await
        .expect("That helped")
        .click()
        .await
        .expect("choose it");
    eventually("the flow ends", || async {
        text_of(&browser, "#preview-log")
            .await
            .contains("Conversation resolved")
    })
    .await;
    browser
        .screenshot(&artifact("flow-preview.png"))
        .await
        .expect("screenshot");

    // Restart begins again with fresh buttons.
    browser
        .find(By::Id("preview-restart"))
        .await
        .expect("restart")
        .click()
        .await
        .expect("restart");
    eventually("the run starts again", || async {
        count(&browser, ".quick-replies button:enabled").await == 3
            && count(&browser, ".quick-replies").await == 1
    })
    .await;

    // 400 px wide: the preview and the editor still fit.
    browser
        .set_window_rect(0, 0, 400, 850)
        .await
        .expect("narrow window");
    browser
        .find(By::XPath("//button[normalize-space()='Wholesale orders']"))
        .await
        .expect("Wholesale orders")
        .click()
        .await
        .expect("choose it");
    eventually("the collect step asks", || async {
        text_of(&browser, "#preview-log")
            .await
            .contains("Which email should our wholesale team write to?")
    })
    .await;
    let input = browser.find(By::Id("preview-input")).await.expect("input");
    input.send_keys("not an email").await.expect("type");
    input.send_keys(Key::Enter).await.expect("send");
    eventually("the prompt comes again with the reason", || async {
        text_of(&browser, "#preview-log")
            .await
            .contains("That does not look like an email address.")
    })
    .await;
    input.send_keys("buyer@example.com").await.expect("type");
    input.send_keys(Key::Enter).await.expect("send");
    eventually("the handover shows", || async {
        text_of(&browser, "#preview-log")
            .await
            .contains("Handed over to people: topic=wholesale")
    })
    .await;
    browser
        .screenshot(&artifact("flow-preview-400.png"))
        .await
        .expect("screenshot");
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            Vec::new(),
        )
        .await
        .expect("width")
        .json()
        .as_i64()
        .unwrap_or(0);
    assert!(
        overflow <= 0,
        "the preview page does not scroll sideways ({overflow}px)"
    );

    browser
        .goto(editor_url.as_str())
        .await
        .expect("back to the editor");
    eventually("the editor is back", || async {
        count(&browser, "svg.flow-graph").await == 1
    })
    .await;
    browser
        .screenshot(&artifact("flow-editor-400.png"))
        .await
        .expect("screenshot");
    browser
        .find(By::Css("label[for=tab-where]"))
        .await
        .expect("tab")
        .click()
        .await
        .expect("click the Where tab");
    browser
        .find(By::XPath("//button[normalize-space()='Add a condition']"))
        .await
        .expect("Add a condition")
        .click()
        .await
        .expect("add one");
    eventually("the condition row appears", || async {
        count(&browser, "select[name='cond.0.field']").await == 1
    })
    .await;
    browser
        .execute(
            "document.querySelector('.targeting').scrollIntoView()",
            Vec::new(),
        )
        .await
        .expect("scroll to targeting");
    browser
        .screenshot(&artifact("flow-editor-where-400.png"))
        .await
        .expect("screenshot");
    browser
        .execute(
            "document.querySelector('.step-card').scrollIntoView()",
            Vec::new(),
        )
        .await
        .expect("scroll to the steps");
    browser
        .screenshot(&artifact("flow-editor-steps-400.png"))
        .await
        .expect("screenshot");
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            Vec::new(),
        )
        .await
        .expect("width")
        .json()
        .as_i64()
        .unwrap_or(0);
    assert!(
        overflow <= 0,
        "the editor does not scroll sideways ({overflow}px)"
    );
    browser.quit().await.expect("quit");
}
