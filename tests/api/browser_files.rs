//! Files in the browser: a visitor pastes an image and attaches a PDF in the widget, the agent
//! sees both live in the inbox and replies with a file, a reload of the visitor's page shows
//! every file again, and an SVG with script opened in the product's origin downloads and runs
//! nothing. Screenshots go to `test-artifacts/`.

use crate::{
    browser::{
        Driver, WIDGET_TEXT, artifact, click_when_ready, eventually, script_number, script_string,
        sign_in,
    },
    files::{PDF, PNG, SVG, agent_upload},
    helpers::spawn_app,
};
use reqwest::Method;
use std::time::Duration;
use thirtyfour::prelude::*;

/// JavaScript that builds a `File` from base64 (`b64`), `name` and `type`.
fn file_js(b64: &str, name: &str, kind: &str) -> String {
    format!(
        "const bytes = Uint8Array.from(atob('{b64}'), (c) => c.charCodeAt(0)); \
         const file = new File([bytes], '{name}', {{ type: '{kind}' }}); \
         const dt = new DataTransfer(); dt.items.add(file);"
    )
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const SHADOW: &str = "document.querySelector('frontdesk-widget').shadowRoot";

async fn open_widget(visitor: &WebDriver) {
    eventually("the widget loads", || async {
        script_number(
            visitor,
            "return document.querySelector('frontdesk-widget')?.shadowRoot ? 1 : 0",
        )
        .await
            == 1
    })
    .await;
    if script_number(
        visitor,
        &format!("return {SHADOW}.querySelector('textarea[data-r=input]').offsetParent ? 1 : 0"),
    )
    .await
        != 1
    {
        visitor
            .execute(
                &format!("{SHADOW}.querySelector('button.launcher').click()"),
                Vec::new(),
            )
            .await
            .expect("open the chat");
    }
}

#[tokio::test]
async fn a_visitor_pastes_an_image_and_attaches_a_pdf_and_the_agent_replies_with_a_file() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let alice = demo.login("alice@demo.test").expect("alice");
    let token = app.token_for(&alice.email).await;
    let driver = Driver::start().await;
    let agent = driver.browser().await;
    let visitor = driver.browser().await;
    sign_in(&app, &agent, &alice.email, &alice.password).await;
    visitor
        .goto(app.url("/demo"))
        .await
        .expect("open the demo website");
    open_widget(&visitor).await;
    eventually("the widget is connected", || async {
        script_number(
            &visitor,
            &format!("return {SHADOW}.querySelector('button[data-r=attach]') ? 1 : 0"),
        )
        .await
            == 1
            && !script_string(
                &visitor,
                "return Object.keys(localStorage).filter(k => k.includes('token')).map(k => localStorage.getItem(k)).filter(v => v && v !== 'null').join()",
            )
            .await
            .is_empty()
    })
    .await;

    // Paste an image into the composer, and pick a PDF with the attach button's file input.
    let paste = format!(
        "{} const input = {SHADOW}.querySelector('textarea[data-r=input]'); \
         input.dispatchEvent(new ClipboardEvent('paste', {{ clipboardData: dt, bubbles: true, cancelable: true }}));",
        file_js(&base64(PNG), "pasted.png", "image/png")
    );
    visitor
        .execute(&paste, Vec::new())
        .await
        .expect("paste an image");
    let pick = format!(
        "{} const input = {SHADOW}.querySelector('input[data-r=fileInput]'); input.files = dt.files; \
         input.dispatchEvent(new Event('change'));",
        file_js(&base64(PDF), "invoice.pdf", "application/pdf")
    );
    visitor
        .execute(&pick, Vec::new())
        .await
        .expect("attach a PDF");
    eventually("both uploads are done", || async {
        script_number(
            &visitor,
            &format!("const t = {SHADOW}.querySelector('[data-r=tray]'); return t.querySelectorAll('.upload').length === 2 && !t.querySelector('progress, .error') ? 1 : 0"),
        )
        .await
            == 1
    })
    .await;
    visitor
        .screenshot(&artifact("files-widget-tray.png"))
        .await
        .expect("screenshot");
    // A refused type shows a clear error in the tray, and removing it leaves the others.
    let refused = format!(
        "{} const input = {SHADOW}.querySelector('input[data-r=fileInput]'); input.files = dt.files; \
         input.dispatchEvent(new Event('change'));",
        file_js(
            &base64(b"<html><script>alert(1)</script></html>"),
            "page.html",
            "text/html"
        )
    );
    visitor
        .execute(&refused, Vec::new())
        .await
        .expect("attach an HTML file");
    eventually("the refused file shows its error", || async {
        script_string(
            &visitor,
            &format!(
                "return {SHADOW}.querySelector('[data-r=tray] .upload.error')?.textContent || ''"
            ),
        )
        .await
        .contains("Files like page.html are not accepted")
    })
    .await;
    visitor
        .screenshot(&artifact("files-widget-refused.png"))
        .await
        .expect("screenshot");
    visitor
        .execute(
            &format!("{SHADOW}.querySelector('[data-r=tray] .upload.error button').click()"),
            Vec::new(),
        )
        .await
        .expect("remove the refused file");
    assert_eq!(
        script_number(
            &visitor,
            &format!("return {SHADOW}.querySelectorAll('[data-r=tray] .upload').length")
        )
        .await,
        2
    );
    let composer = visitor
        .execute(
            &format!("return {SHADOW}.querySelector('textarea[data-r=input]')"),
            Vec::new(),
        )
        .await
        .expect("composer")
        .element()
        .expect("an element");
    composer.send_keys("Here are my files").await.expect("type");
    composer.send_keys(Key::Enter).await.expect("send");
    eventually("the visitor's message shows a thumbnail and a file card", || async {
        script_number(
            &visitor,
            &format!("const r = {SHADOW}; const img = r.querySelector('.msg.visitor img.thumb'); return img && img.naturalWidth > 0 && r.querySelector('.msg.visitor .filecard') ? 1 : 0"),
        )
        .await
            == 1
    })
    .await;

    // The agent sees both files live.
    eventually("the conversation appears in the inbox", || async {
        agent
            .find_all(By::Css("li.conv"))
            .await
            .is_ok_and(|items| !items.is_empty())
    })
    .await;
    click_when_ready(&agent, "li.conv a").await;
    eventually("the inbox shows the image and the PDF", || async {
        script_number(
            &agent,
            "const img = document.querySelector('#transcript img.thumb'); return img && img.naturalWidth === 16 && document.querySelector('#transcript .filecard') ? 1 : 0",
        )
        .await
            == 1
    })
    .await;
    assert!(
        script_string(
            &agent,
            "return document.getElementById('transcript').textContent"
        )
        .await
        .contains("invoice.pdf")
    );

    // The agent replies with a file.
    let attach = format!(
        "{} const input = document.getElementById('reply-file'); input.files = dt.files; input.dispatchEvent(new Event('change'));",
        file_js(&base64(PDF), "terms.pdf", "application/pdf")
    );
    agent
        .execute(&attach, Vec::new())
        .await
        .expect("attach in the inbox");
    eventually("the agent's upload is done", || async {
        script_number(
            &agent,
            "const t = document.getElementById('reply-files'); return t.querySelectorAll('.reply-file').length === 1 && !t.querySelector('progress, .error') ? 1 : 0",
        )
        .await
            == 1
    })
    .await;
    agent
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box")
        .send_keys("Our terms")
        .await
        .expect("type");
    agent
        .find(By::Css("#reply button[type=submit]"))
        .await
        .expect("send")
        .click()
        .await
        .expect("click");
    eventually("the visitor gets the agent's file", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("terms.pdf")
    })
    .await;
    eventually("the inbox shows the reply's file", || async {
        script_string(
            &agent,
            "return document.getElementById('transcript').textContent",
        )
        .await
        .contains("terms.pdf")
    })
    .await;
    agent
        .screenshot(&artifact("files-inbox.png"))
        .await
        .expect("screenshot");
    visitor
        .screenshot(&artifact("files-widget.png"))
        .await
        .expect("screenshot");

    // A reload resumes the widget with every file.
    visitor.refresh().await.expect("reload");
    open_widget(&visitor).await;
    eventually("the reloaded widget shows the files", || async {
        script_number(
            &visitor,
            &format!("const r = {SHADOW}; const img = r.querySelector('img.thumb'); return img && img.naturalWidth > 0 && r.querySelectorAll('.filecard').length === 2 ? 1 : 0"),
        )
        .await
            == 1
    })
    .await;
    visitor
        .screenshot(&artifact("files-widget-reloaded.png"))
        .await
        .expect("screenshot");

    // An SVG with script, opened at its URL in the product's origin, downloads and runs nothing.
    let (_, list) = app
        .call(&token, Method::GET, "/api/v1/conversations", None)
        .await;
    let conversation_id = list["conversations"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, svg) = agent_upload(&app.address, &token, &conversation_id, "logo.svg", SVG).await;
    assert_eq!(status, 201, "{svg}");
    let inbox_url = agent.current_url().await.expect("url");
    agent
        .goto(app.url(&format!("/files/{}", svg["id"].as_str().expect("id"))))
        .await
        .expect("open the SVG's URL");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(agent.get_alert_text().await.is_err(), "no alert ran");
    assert_eq!(
        agent.current_url().await.expect("url"),
        inbox_url,
        "a download, not a page"
    );
    assert_ne!(
        script_string(&agent, "return document.title").await,
        "pwned"
    );
    assert_eq!(
        script_number(
            &agent,
            "return document.querySelectorAll('svg script').length"
        )
        .await,
        0
    );

    agent.quit().await.expect("quit");
    visitor.quit().await.expect("quit");
}
