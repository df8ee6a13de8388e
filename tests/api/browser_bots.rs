//! External bots in a real browser: a visitor on `/demo` talks to the sample bot (the real
//! `examples/echo_bot` binary as a child process), sees its label and avatar, clicks its
//! button and is handed over; the agent reads the bot's transcript in the inbox. The
//! supervisor page shows a new conversation live and counts its wait up. Screenshots go to
//! `test-artifacts/`.

use crate::{
    browser::{
        Driver, WIDGET_TEXT, artifact, eventually, open_listed_conversation, script_string, sign_in,
    },
    browser_chatbot::{ROOT, click_choice, widget_element},
    helpers::{PASSWORD, spawn_app},
    server_process::free_port,
    sockets::Socket,
    widget_socket::api_json,
};
use reqwest::Method;
use serde_json::json;
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use thirtyfour::prelude::*;

/// The sample bot's binary, built by `cargo build --all-targets` beside the test binary
/// (`target/debug/deps/api-…` → `target/debug/examples/echo_bot`).
fn echo_bot_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = profile.join("examples").join("echo_bot");
    assert!(
        binary.is_file(),
        "the sample bot is not built at {}: run `cargo build --all-targets` (or `cargo build \
         --example echo_bot`) before the browser tests",
        binary.display()
    );
    binary
}

/// The sample bot running as its own process, killed when dropped.
struct EchoBot(Child);

impl Drop for EchoBot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl EchoBot {
    /// Starts the sample bot on `port` with the bot's signing `secret`, once it listens.
    async fn start(port: u16, secret: &str) -> EchoBot {
        let bot = EchoBot(
            Command::new(echo_bot_binary())
                .env("FRONTDESK_BOT_SECRET", secret)
                .env("ECHO_BOT_BIND", format!("127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the sample bot"),
        );
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return bot;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sample bot never listened on port {port}");
    }
}

#[tokio::test]
async fn a_visitor_talks_to_the_sample_bot_and_the_agent_reads_its_transcript() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let alice = demo.login("alice@demo.test").expect("alice");
    let owner = app.token_for("owner@demo.test").await;
    // The demo flow would greet the visitor first; this visitor is the bot's.
    let flows = api_json(&app, &owner, Method::GET, "/api/v1/flows", None).await;
    for flow in flows["flows"].as_array().expect("flows") {
        let id = flow["id"].as_str().expect("id");
        let (status, _) = app
            .call(&owner, Method::DELETE, &format!("/api/v1/flows/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }
    let port = free_port();
    let avatar = app.url("/static/favicon.svg");
    let bot = api_json(
        &app,
        &owner,
        Method::POST,
        "/api/v1/bots",
        Some(
            json!({"name": "Echo bot", "url": format!("http://127.0.0.1:{port}/"),
                    "label": "Ava", "avatar": avatar}),
        ),
    )
    .await;
    let _echo_bot = EchoBot::start(port, bot["secret"].as_str().expect("secret")).await;
    let teams = api_json(&app, &owner, Method::GET, "/api/v1/teams", None).await;
    let support = teams["teams"]
        .as_array()
        .expect("teams")
        .iter()
        .find(|team| team["name"] == "Support")
        .expect("the demo's Support team")["id"]
        .clone();
    api_json(
        &app,
        &owner,
        Method::POST,
        "/api/v1/routing-rules",
        Some(json!({"name": "The demo shop to the bot",
                    "conditions": [{"field": "url", "op": "contains", "value": "/demo"}],
                    "team_id": support, "target": {"bot_id": bot["id"]}})),
    )
    .await;

    let driver = Driver::start().await;
    let agent = driver.browser().await;
    let visitor = driver.browser().await;
    sign_in(&app, &agent, &alice.email, &alice.password).await;
    visitor.goto(app.url("/demo")).await.expect("open /demo");
    eventually("the widget loads", || async {
        script_string(&visitor, &format!("return {ROOT} ? 'yes' : ''")).await == "yes"
    })
    .await;
    widget_element(&visitor, "button.launcher")
        .await
        .click()
        .await
        .expect("open the chat");
    let composer = widget_element(&visitor, "textarea[data-r=input]").await;
    composer.send_keys("hi there").await.expect("type");
    composer.send_keys(Key::Enter).await.expect("send");
    eventually("the sample bot greets with its buttons", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("I'm the echo bot")
    })
    .await;
    // The bot's label and avatar above its message, like an agent's name.
    let author = script_string(
        &visitor,
        &format!(
            "const w = [...{ROOT}.querySelectorAll('.msg.bot .who')].find(w => !w.hidden); \
             const img = w && w.querySelector('img'); \
             return w ? w.textContent + '|' + (img ? img.src : '') : ''"
        ),
    )
    .await;
    assert_eq!(author, format!("Ava|{avatar}"));
    visitor
        .screenshot(&artifact("bots-widget-greeting.png"))
        .await
        .expect("screenshot");

    click_choice(&visitor, "Talk to a person").await;
    eventually("the bot hands over", || async {
        script_string(&visitor, WIDGET_TEXT)
            .await
            .contains("Connecting you to our team.")
    })
    .await;
    visitor
        .screenshot(&artifact("bots-widget-handover.png"))
        .await
        .expect("screenshot");

    // Alice (Support, online) gets the conversation with the bot's whole part in it.
    open_listed_conversation(&agent, "Joined by chatbot").await;
    eventually(
        "the transcript shows the bot, the click and the handover",
        || async {
            let text = script_string(
                &agent,
                "return document.getElementById('transcript')?.textContent || ''",
            )
            .await;
            text.contains("Ava")
                && text.contains("I'm the echo bot")
                && text.contains("Talk to a person")
                && text.contains("Handed over by the bot \u{201c}Echo bot\u{201d}")
                && text.contains("The visitor asked for a person from the echo bot.")
                && text.contains("topic=echo")
        },
    )
    .await;
    let authors = script_string(
        &agent,
        "return [...document.querySelectorAll('#transcript .author')].map(a => a.textContent).join('|')",
    )
    .await;
    assert!(authors.contains("Ava"), "the bot's label: {authors}");
    let head = script_string(
        &agent,
        "return document.querySelector('.conv-head')?.textContent || ''",
    )
    .await;
    assert!(head.contains("Escalated to human"), "{head}");
    agent
        .screenshot(&artifact("bots-inbox-transcript.png"))
        .await
        .expect("screenshot");
    visitor.quit().await.expect("quit");
    agent.quit().await.expect("quit");
}

#[tokio::test]
async fn a_new_conversation_appears_on_an_open_supervisor_page_and_its_wait_counts_up() {
    let app = spawn_app().await;
    let account = app.create_account("Supervised").await;
    let driver = Driver::start().await;
    let owner = driver.browser().await;
    sign_in(&app, &owner, &account.owner_email, PASSWORD).await;
    owner
        .goto(app.url("/supervisor"))
        .await
        .expect("open /supervisor");
    let rows =
        "return String(document.querySelectorAll('#supervisor tr[data-conversation]').length)";
    assert_eq!(script_string(&owner, rows).await, "0");
    // Set on this page only: a reload would lose it.
    owner
        .execute("window.stillTheSamePage = 'yes'", Vec::new())
        .await
        .expect("mark the page");
    tokio::time::sleep(Duration::from_millis(300)).await; // the page's socket is open

    let mut visitor = Socket::widget(&app, &account.widget_key).await;
    visitor.hello(None, None, None).await;
    let ack = visitor.say("v-1", "is anyone there?").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    eventually("the new conversation appears without a reload", || async {
        script_string(&owner, rows).await == "1"
    })
    .await;
    let row = format!("#supervisor tr[data-conversation='{conversation}']");
    let cell = format!("return document.querySelector(\"{row} [data-waited]\")?.textContent || ''");
    let first = script_string(&owner, &cell).await;
    assert!(first.ends_with(" s"), "{first}");
    eventually("the waiting time counts up in the browser", || async {
        let now = script_string(&owner, &cell).await;
        !now.is_empty() && now != first
    })
    .await;
    assert_eq!(
        script_string(&owner, "return window.stillTheSamePage || ''").await,
        "yes",
        "the page was not reloaded"
    );
    owner
        .screenshot(&artifact("bots-supervisor-live.png"))
        .await
        .expect("screenshot");
    owner.quit().await.expect("quit");
}
