//! Browser tests: headless Chromium (Debian's `chromium` and `chromium-driver`) driven through
//! chromedriver, the visitor on `/demo` and the agent in the inbox. Screenshots go to
//! `test-artifacts/`.

use crate::helpers::{TestApp, spawn_app};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use thirtyfour::prelude::*;

/// How long a browser step may take before the test fails.
const STEP_WAIT: Duration = Duration::from_secs(15);

/// A chromedriver process, killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start {binary} ({error}); install Debian's chromium and chromium-driver (see README)")
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/status", driver.url))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    /// A fresh headless Chromium with its own profile.
    pub async fn browser(&self) -> WebDriver {
        let mut caps = DesiredCapabilities::chrome();
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        caps.set_binary(&binary).expect("binary");
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,850",
        ] {
            caps.add_arg(arg).expect("arg");
        }
        WebDriver::new(&self.url, caps)
            .await
            .expect("start chromium")
    }
}

pub fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir.join(name)
}

/// Polls `check` until it answers true or the step times out.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + STEP_WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Clicks the first element matching `css`, finding it again when the live page replaced it
/// between finding and clicking (the inbox re-renders its list as events arrive).
pub async fn click_when_ready(browser: &WebDriver, css: &str) {
    for _ in 0..100 {
        if let Ok(element) = browser.find(By::Css(css)).await
            && element.click().await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("could not click {css}");
}

/// Waits until the inbox's list shows `text`, then opens its first conversation.
pub async fn open_listed_conversation(agent: &WebDriver, text: &str) {
    eventually(&format!("the inbox lists {text:?}"), || async {
        script_string(
            agent,
            "return document.getElementById('conversation-list')?.textContent || ''",
        )
        .await
        .contains(text)
    })
    .await;
    click_when_ready(agent, "li.conv a").await;
}

pub async fn script_string(browser: &WebDriver, script: &str) -> String {
    browser
        .execute(script, Vec::new())
        .await
        .ok()
        .and_then(|ret| ret.json().as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub async fn script_number(browser: &WebDriver, script: &str) -> i64 {
    browser
        .execute(script, Vec::new())
        .await
        .ok()
        .and_then(|ret| ret.json().as_i64())
        .unwrap_or(-1)
}

pub async fn sign_in(app: &TestApp, browser: &WebDriver, email: &str, password: &str) {
    browser.goto(app.url("/login")).await.expect("open sign-in");
    browser
        .find(By::Name("email"))
        .await
        .expect("email")
        .send_keys(email)
        .await
        .expect("type");
    browser
        .find(By::Name("password"))
        .await
        .expect("password")
        .send_keys(password)
        .await
        .expect("type");
    browser
        .find(By::Css("button.primary"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    eventually("the inbox opens", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.path() == "/inbox")
    })
    .await;
}

pub const WIDGET_TEXT: &str =
    "return (document.querySelector('frontdesk-widget')?.shadowRoot?.textContent) || ''";

#[tokio::test]
async fn a_visitor_and_an_agent_chat_live_and_markup_stays_text() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let alice = demo.login("alice@demo.test").expect("alice");
    let driver = Driver::start().await;
    let agent = driver.browser().await;
    let visitor = driver.browser().await;

    sign_in(&app, &agent, &alice.email, &alice.password).await;
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
    let launcher = visitor
        .execute(
            "return document.querySelector('frontdesk-widget').shadowRoot.querySelector('button.launcher')",
            Vec::new(),
        )
        .await
        .expect("launcher")
        .element()
        .expect("an element");
    launcher.click().await.expect("open the chat");
    let composer = visitor
        .execute(
            "return document.querySelector('frontdesk-widget').shadowRoot.querySelector('textarea[data-r=input]')",
            Vec::new(),
        )
        .await
        .expect("composer")
        .element()
        .expect("an element");
    let evil = "<img src=x onerror=alert(1)> do you ship to Brno?";
    composer.send_keys(evil).await.expect("type");
    composer.send_keys(Key::Enter).await.expect("send");

    // The agent sees the new conversation without reloading.
    eventually("the conversation appears in the inbox", || async {
        agent
            .find_all(By::Css("li.conv"))
            .await
            .is_ok_and(|items| !items.is_empty())
    })
    .await;
    click_when_ready(&agent, "li.conv a").await;
    eventually(
        "the transcript shows the visitor's text as text",
        || async {
            script_string(
                &agent,
                "return document.getElementById('transcript')?.textContent || ''",
            )
            .await
            .contains(evil)
        },
    )
    .await;
    assert_eq!(
        script_number(
            &agent,
            "return document.querySelectorAll('#transcript img').length"
        )
        .await,
        0
    );

    let reply = "Yes, we ship to Brno <b>tomorrow</b>";
    let textarea = agent
        .find(By::Css("#reply textarea"))
        .await
        .expect("reply box");
    textarea.send_keys(reply).await.expect("type");
    agent
        .find(By::Css("#reply button[type=submit]"))
        .await
        .expect("send")
        .click()
        .await
        .expect("click");

    eventually("the visitor sees the reply", || async {
        script_string(&visitor, WIDGET_TEXT).await.contains(reply)
    })
    .await;
    assert_eq!(
        script_number(&visitor, "return document.querySelector('frontdesk-widget').shadowRoot.querySelectorAll('img, b').length").await,
        0,
        "markup stays text in the widget"
    );
    assert!(script_string(&visitor, WIDGET_TEXT).await.contains(evil));

    eventually("the agent's transcript shows the reply", || async {
        script_string(
            &agent,
            "return document.getElementById('transcript')?.textContent || ''",
        )
        .await
        .contains(reply)
    })
    .await;
    agent
        .screenshot(&artifact("inbox-conversation.png"))
        .await
        .expect("screenshot");
    visitor
        .screenshot(&artifact("widget-conversation.png"))
        .await
        .expect("screenshot");
    agent.quit().await.expect("quit");
    visitor.quit().await.expect("quit");
}
