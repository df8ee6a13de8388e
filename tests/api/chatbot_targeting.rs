//! Targeting through the widget: which flows `welcome` (and the `triggers` frame after
//! `page`) offers, for every `where` operator with `all` and `any`, new and returning
//! visitors, language, device, agents online or offline, and the three frequencies.

use crate::{
    agent_socket::session_cookie,
    chatbot_runtime::create_flow,
    helpers::{TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const URL: &str = "https://shop.example.com/pricing?plan=pro";
const TITLE: &str = "Pricing – Acme";
const REFERRER: &str = "https://www.google.com/search?q=acme";

/// A one-step flow with this trigger (frequency `every_page` unless the trigger says).
fn flow(name: &str, trigger: Value) -> Value {
    let mut trigger = trigger;
    if trigger.get("frequency").is_none() {
        trigger["frequency"] = json!("every_page");
    }
    json!({"name": name, "trigger": trigger, "start": "hi",
        "steps": {"hi": {"type": "message", "text": "Hi", "buttons": [{"id": "ok", "label": "OK", "next": "hi"}]}}})
}

fn condition(field: &str, op: &str, value: &str) -> Value {
    json!({"field": field, "op": op, "value": value})
}

fn where_(matching: &str, conditions: Vec<Value>) -> Value {
    json!({"where": {"match": matching, "conditions": conditions}})
}

struct Site {
    app: TestApp,
    widget_key: String,
    owner_email: String,
    /// Flow name -> id.
    flows: BTreeMap<String, String>,
}

impl Site {
    async fn new(app: TestApp, flows: Vec<(&str, Value)>) -> Site {
        let account = app.create_account("Acme").await;
        let token = app.token_for(&account.owner_email).await;
        let mut ids = BTreeMap::new();
        for (name, trigger) in flows {
            ids.insert(
                name.to_owned(),
                create_flow(&app, &token, &flow(name, trigger)).await,
            );
        }
        Site {
            app,
            widget_key: account.widget_key,
            owner_email: account.owner_email,
            flows: ids,
        }
    }

    fn names(&self, triggers: &Value) -> BTreeSet<String> {
        triggers
            .as_array()
            .expect("triggers")
            .iter()
            .map(|t| {
                let id = t["flow_id"].as_str().expect("flow_id");
                self.flows
                    .iter()
                    .find(|(_, flow_id)| flow_id.as_str() == id)
                    .map(|(name, _)| name.clone())
                    .expect("a flow of this account")
            })
            .collect()
    }

    /// Connects a widget with this page, language and device; answers the socket, the
    /// names of the flows offered and the visitor token.
    async fn visit(
        &self,
        token: Option<&str>,
        url: &str,
        language: &str,
        device: &str,
    ) -> (Socket, BTreeSet<String>, String) {
        let mut widget = Socket::widget(&self.app, &self.widget_key).await;
        widget
            .send(json!({"type": "hello", "visitor_token": token,
                "page": {"url": url, "title": TITLE, "referrer": REFERRER},
                "language": language, "device": device}))
            .await;
        let welcome = widget.recv_type("welcome").await;
        let token = welcome["visitor_token"].as_str().expect("token").to_owned();
        (widget, self.names(&welcome["triggers"]), token)
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn where_matches_url_title_and_referrer_with_every_operator_and_all_or_any() {
    let site = Site::new(
        spawn_app().await,
        vec![
            (
                "url equals",
                where_("all", vec![condition("url", "equals", URL)]),
            ),
            (
                "url equals other",
                where_(
                    "all",
                    vec![condition("url", "equals", "https://shop.example.com/")],
                ),
            ),
            (
                "url not_equals",
                where_(
                    "all",
                    vec![condition("url", "not_equals", "https://shop.example.com/")],
                ),
            ),
            (
                "url not_equals same",
                where_("all", vec![condition("url", "not_equals", URL)]),
            ),
            (
                "title contains",
                where_("all", vec![condition("title", "contains", "Pricing")]),
            ),
            (
                "title contains other",
                where_("all", vec![condition("title", "contains", "Cart")]),
            ),
            (
                "title not_contains",
                where_("all", vec![condition("title", "not_contains", "Cart")]),
            ),
            (
                "title not_contains same",
                where_("all", vec![condition("title", "not_contains", "Acme")]),
            ),
            (
                "referrer starts_with",
                where_(
                    "all",
                    vec![condition("referrer", "starts_with", "https://www.google.")],
                ),
            ),
            (
                "referrer starts_with other",
                where_(
                    "all",
                    vec![condition("referrer", "starts_with", "https://bing.")],
                ),
            ),
            (
                "url regex",
                where_(
                    "all",
                    vec![condition(
                        "url",
                        "regex",
                        r"^https://shop\.example\.com/pri.*plan=(pro|max)$",
                    )],
                ),
            ),
            (
                "url regex other",
                where_("all", vec![condition("url", "regex", r"/checkout$")]),
            ),
            (
                "all of two, one false",
                where_(
                    "all",
                    vec![
                        condition("url", "contains", "/pricing"),
                        condition("title", "contains", "Cart"),
                    ],
                ),
            ),
            (
                "all of two, both true",
                where_(
                    "all",
                    vec![
                        condition("url", "contains", "/pricing"),
                        condition("title", "contains", "Pricing"),
                    ],
                ),
            ),
            (
                "any of two, one true",
                where_(
                    "any",
                    vec![
                        condition("url", "contains", "/cart"),
                        condition("referrer", "contains", "google"),
                    ],
                ),
            ),
            (
                "any of two, none true",
                where_(
                    "any",
                    vec![
                        condition("url", "contains", "/cart"),
                        condition("referrer", "contains", "bing"),
                    ],
                ),
            ),
            ("everywhere", json!({})),
        ],
    )
    .await;
    let (_widget, offered, _) = site.visit(None, URL, "en", "desktop").await;
    assert_eq!(
        offered,
        set(&[
            "url equals",
            "url not_equals",
            "title contains",
            "title not_contains",
            "referrer starts_with",
            "url regex",
            "all of two, both true",
            "any of two, one true",
            "everywhere",
        ])
    );
}

#[tokio::test]
async fn audience_language_and_device_and_schedule_agents_online_or_offline() {
    let app = spawn_app().await;
    let site = Site::new(
        app,
        vec![
            ("english", json!({"audience": {"languages": ["en"]}})),
            ("czech", json!({"audience": {"languages": ["cs"]}})),
            (
                "mobile",
                json!({"audience": {"devices": ["mobile", "tablet"]}}),
            ),
            ("desktop", json!({"audience": {"devices": ["desktop"]}})),
            ("agents online", json!({"schedule": {"agents": "online"}})),
            ("agents offline", json!({"schedule": {"agents": "offline"}})),
        ],
    )
    .await;
    let (_w, offered, _) = site.visit(None, URL, "en-US", "desktop").await;
    assert_eq!(offered, set(&["english", "desktop", "agents offline"]));
    let (_w, offered, _) = site.visit(None, URL, "cs", "mobile").await;
    assert_eq!(offered, set(&["czech", "mobile", "agents offline"]));

    let cookie = session_cookie(&site.app, &site.owner_email).await;
    let _agent = Socket::open(
        &site.app.address,
        "/ws/agent",
        Some(&site.app.address),
        Some(&cookie),
    )
    .await
    .expect("agent socket");
    // Presence is registered as the socket starts.
    let mut offered = BTreeSet::new();
    for _ in 0..50 {
        offered = site.visit(None, URL, "de", "tablet").await.1;
        if offered.contains("agents online") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(offered, set(&["mobile", "agents online"]));
}

#[tokio::test]
async fn new_and_returning_visitors_and_once_per_session_visitor_or_page() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let site = Site::new(
        app,
        vec![
            (
                "new",
                json!({"audience": {"visitors": "new"}, "frequency": "once_per_visitor"}),
            ),
            (
                "returning",
                json!({"audience": {"visitors": "returning"}, "frequency": "every_page"}),
            ),
            (
                "third visit",
                json!({"audience": {"min_visits": 3}, "frequency": "every_page"}),
            ),
            ("session", json!({"frequency": "once_per_session"})),
            ("visitor", json!({"frequency": "once_per_visitor"})),
            ("page", json!({"frequency": "every_page"})),
        ],
    )
    .await;
    let (mut widget, offered, token) = site.visit(None, URL, "en", "desktop").await;
    assert_eq!(offered, set(&["new", "session", "visitor", "page"]));
    for name in ["session", "visitor", "page"] {
        widget
            .send(json!({"type": "trigger", "flow_id": site.flows[name]}))
            .await;
        let said = widget.recv_type("message").await;
        assert_eq!(said["author"]["kind"], "bot", "{name} triggered");
    }
    widget.close().await;

    // Same visit, same page: each of them triggered here already.
    let (mut widget, offered, _) = site.visit(Some(&token), URL, "en", "desktop").await;
    assert_eq!(offered, set(&["new"]));
    // Another page of the same visit: only the every-page flow comes back.
    widget
        .send(json!({"type": "page", "url": "https://shop.example.com/cart", "title": "Cart"}))
        .await;
    let triggers = widget.recv_type("triggers").await;
    assert_eq!(site.names(&triggers["triggers"]), set(&["new", "page"]));
    widget.close().await;

    // A visit later (over 30 minutes away): returning; the session flow may run again.
    let owner_token = site.app.token_for(&site.owner_email).await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(45);
    let response = site
        .app
        .api(&owner_token, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": later.to_rfc3339()}))
        .send()
        .await
        .expect("clock");
    assert_eq!(response.status().as_u16(), 200);
    let (_widget, offered, _) = site.visit(Some(&token), URL, "en", "desktop").await;
    assert_eq!(offered, set(&["returning", "session", "page"]));

    let even_later = later + chrono::Duration::minutes(45);
    site.app
        .api(&owner_token, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": even_later.to_rfc3339()}))
        .send()
        .await
        .expect("clock");
    let (_widget, offered, _) = site.visit(Some(&token), URL, "en", "desktop").await;
    assert!(offered.contains("third visit"), "{offered:?}");
}
