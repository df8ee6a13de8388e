//! Reports (issue 6): figures computed from the reporting events equal a hand-computed
//! fixture: conversations, median first response and resolution times, per agent and per
//! team, average rating with a re-rating, the bot versus human split, and the date range.

use crate::{
    chatbot_runtime::{create_flow, support_flow},
    helpers::{TestApp, spawn_app_with},
    sockets::Socket,
};
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};
use std::net::Ipv4Addr;

struct Fixture {
    app: TestApp,
    owner: String,
}

impl Fixture {
    async fn at(&self, now: &str) {
        let (status, _) = self
            .app
            .call(
                &self.owner,
                Method::POST,
                "/api/v1/test-clock",
                Some(json!({"now": now})),
            )
            .await;
        assert_eq!(status, 200);
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.app.call(token, method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// A visitor speaking `language` writes at `now`; answers the socket and conversation id.
    async fn visitor_writes(
        &self,
        key: &str,
        source: u8,
        language: &str,
        now: &str,
    ) -> (Socket, String) {
        self.at(now).await;
        let mut widget =
            Socket::widget_from(&self.app, key, Ipv4Addr::new(127, 0, 40, source)).await;
        widget
            .send(json!({"type": "hello", "page": {"url": "https://shop.example.com/", "title": "Shop"}, "language": language, "device": "desktop"}))
            .await;
        widget.recv_type("welcome").await;
        let ack = widget.say("v-1", "hello?").await;
        (
            widget,
            ack["conversation_id"].as_str().expect("id").to_owned(),
        )
    }

    async fn reply(&self, token: &str, conversation: &str, now: &str) {
        self.at(now).await;
        self.call(
            token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"text": "Hi, how can I help?", "client_id": format!("a-{now}")})),
        )
        .await;
    }

    async fn resolve(&self, conversation: &str, now: &str) {
        self.at(now).await;
        self.call(
            &self.owner,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/resolve"),
            None,
        )
        .await;
    }

    async fn rate(&self, widget: &mut Socket, conversation: &str, value: i64, now: &str) {
        self.at(now).await;
        widget.send(json!({"type": "rate", "value": value})).await;
        for _ in 0..50 {
            let found = self
                .call(
                    &self.owner,
                    Method::GET,
                    &format!("/api/v1/conversations/{conversation}"),
                    None,
                )
                .await;
            if found["rating"] == value {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the rating {value} was not stored");
    }
}

fn row<'a>(rows: &'a Value, id: &str) -> &'a Value {
    rows.as_array()
        .and_then(|rows| rows.iter().find(|row| row["id"] == id))
        .unwrap_or_else(|| panic!("no row {id} in {rows}"))
}

#[tokio::test]
async fn report_figures_equal_a_hand_computed_fixture() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let fx = Fixture { app, owner };
    fx.at("2026-11-09T08:00:00Z").await;
    let ann_email = fx.app.create_user(&account, Role::Agent).await;
    let bob_email = fx.app.create_user(&account, Role::Agent).await;
    let (ann, bob) = (
        fx.app.token_for(&ann_email).await,
        fx.app.token_for(&bob_email).await,
    );
    let ann_id = fx.app.user_id(&ann_email).await.to_string();
    let bob_id = fx.app.user_id(&bob_email).await.to_string();
    // Shared queues: routing places each conversation in a team and assigns nobody; the
    // first reply assigns it to its writer.
    let sales = fx
        .call(
            &fx.owner,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Sales", "members": [ann_id], "shared_queue": true})),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let support = fx
        .call(
            &fx.owner,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Support", "members": [bob_id], "shared_queue": true})),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    fx.call(
        &fx.owner,
        Method::POST,
        "/api/v1/routing-rules",
        Some(json!({"name": "Czech", "conditions": [{"field": "language", "op": "equals", "value": "cs"}], "team_id": support})),
    )
    .await;
    let flow = create_flow(&fx.app, &fx.owner, &support_flow()).await;
    let key = account.widget_key.clone();

    // C1 (Sales): Ann answers after 120 s, resolved after 1800 s, rated 5.
    let (mut v1, c1) = fx
        .visitor_writes(&key, 1, "en", "2026-11-10T10:00:00Z")
        .await;
    fx.reply(&ann, &c1, "2026-11-10T10:02:00Z").await;
    fx.resolve(&c1, "2026-11-10T10:30:00Z").await;
    fx.rate(&mut v1, &c1, 5, "2026-11-10T10:31:00Z").await;
    // C2 (Sales): Ann answers after 600 s, resolved after 3600 s, rated 3 then 4.
    let (mut v2, c2) = fx
        .visitor_writes(&key, 2, "en", "2026-11-10T11:00:00Z")
        .await;
    fx.reply(&ann, &c2, "2026-11-10T11:10:00Z").await;
    fx.reply(&ann, &c2, "2026-11-10T11:20:00Z").await; // not a first response
    fx.resolve(&c2, "2026-11-10T12:00:00Z").await;
    fx.rate(&mut v2, &c2, 3, "2026-11-10T12:01:00Z").await;
    fx.rate(&mut v2, &c2, 4, "2026-11-10T12:02:00Z").await;
    // C3 (Support, by the language rule): Bob answers after 30 s, resolved after 1200 s, rated 2.
    let (mut v3, c3) = fx
        .visitor_writes(&key, 3, "cs", "2026-11-10T13:00:00Z")
        .await;
    fx.reply(&bob, &c3, "2026-11-10T13:00:30Z").await;
    fx.resolve(&c3, "2026-11-10T13:20:00Z").await;
    fx.rate(&mut v3, &c3, 2, "2026-11-10T13:21:00Z").await;
    // C4 (Sales): nobody answers; resolved after 300 s.
    let (_v4, c4) = fx
        .visitor_writes(&key, 4, "en", "2026-11-11T14:00:00Z")
        .await;
    fx.resolve(&c4, "2026-11-11T14:05:00Z").await;
    // C5: the bot answers and ends the conversation 90 s after the visitor's first click.
    fx.at("2026-11-11T15:00:00Z").await;
    let mut v5 = Socket::widget_from(&fx.app, &key, Ipv4Addr::new(127, 0, 40, 5)).await;
    v5.hello(None, None, None).await;
    v5.send(json!({"type": "trigger", "flow_id": flow})).await;
    v5.recv_type("message").await;
    fx.at("2026-11-11T15:00:30Z").await;
    v5.send(json!({"type": "choose", "client_id": "c-1", "button_id": "price"}))
        .await;
    v5.recv_type("ack").await;
    fx.at("2026-11-11T15:02:00Z").await;
    v5.send(json!({"type": "choose", "client_id": "c-2", "button_id": "done"}))
        .await;
    v5.recv_type("ack").await;
    // C6, outside the range: answered and resolved on the 12th.
    let (_v6, c6) = fx
        .visitor_writes(&key, 6, "en", "2026-11-12T09:00:00Z")
        .await;
    fx.reply(&ann, &c6, "2026-11-12T09:00:05Z").await;
    fx.resolve(&c6, "2026-11-12T09:10:00Z").await;

    let report = fx
        .call(
            &fx.owner,
            Method::GET,
            "/api/v1/reports?from=2026-11-10&to=2026-11-11",
            None,
        )
        .await;
    let total = &report["total"];
    assert_eq!(total["conversations"], 5, "{report}");
    assert_eq!(total["first_responses"], 3);
    // First responses 120, 600, 30: median 120.
    assert_eq!(total["median_first_response_seconds"], 120);
    // Resolution times 1800, 3600, 1200, 300 and the bot's 120 (15:00:00 to 15:02:00):
    // median 1200.
    assert_eq!(total["resolved"], 5);
    assert_eq!(total["median_resolution_seconds"], 1200);
    // Ratings 5, 4 (replacing 3) and 2: 11 / 3.
    assert_eq!(total["ratings"], 3);
    assert_eq!(total["average_rating"], 3.67);
    assert_eq!(total["resolved_by_chatbot"], 1);
    assert_eq!(total["resolved_by_humans"], 3);
    assert_eq!(total["resolved_without_reply"], 1);

    let ann_row = row(&report["agents"], &ann_id);
    assert_eq!(ann_row["first_responses"], 2);
    assert_eq!(ann_row["median_first_response_seconds"], 360);
    assert_eq!(ann_row["resolved"], 2);
    assert_eq!(ann_row["median_resolution_seconds"], 2700);
    assert_eq!(ann_row["average_rating"], 4.5);
    let bob_row = row(&report["agents"], &bob_id);
    assert_eq!(bob_row["median_first_response_seconds"], 30);
    assert_eq!(bob_row["resolved"], 1);
    assert_eq!(bob_row["average_rating"], 2.0);

    let sales_row = row(&report["teams"], &sales);
    assert_eq!(sales_row["name"], "Sales");
    // C1, C2 and C4: 1800, 3600, 300.
    assert_eq!(sales_row["resolved"], 3);
    assert_eq!(sales_row["median_resolution_seconds"], 1800);
    assert_eq!(sales_row["first_responses"], 2);
    assert_eq!(sales_row["average_rating"], 4.5);
    let support_row = row(&report["teams"], &support);
    assert_eq!(support_row["resolved"], 1);
    assert_eq!(support_row["median_first_response_seconds"], 30);

    // One day only: the 12th holds C6 alone.
    let later = fx
        .call(
            &fx.owner,
            Method::GET,
            "/api/v1/reports?from=2026-11-12&to=2026-11-12",
            None,
        )
        .await;
    assert_eq!(later["total"]["conversations"], 1);
    assert_eq!(later["total"]["median_first_response_seconds"], 5);
    assert_eq!(later["total"]["median_resolution_seconds"], 600);

    // The page shows the same figures, for admins only.
    let owner_client = fx.app.signed_in(&account.owner_email).await;
    let page = fx
        .app
        .get(&owner_client, "/reports?from=2026-11-10&to=2026-11-11")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(r#"id="total-conversations">5<"#), "{page}");
    assert!(page.contains(r#"id="median-first-response">2 min 0 s<"#));
    assert!(page.contains(r#"id="average-rating">3.67<"#));
    let agent_client = fx.app.signed_in(&ann_email).await;
    let status = fx
        .app
        .get(&agent_client, "/reports")
        .await
        .status()
        .as_u16();
    assert_eq!(status, 403);
    let (status, _) = fx
        .app
        .call(&ann, Method::GET, "/api/v1/reports", None)
        .await;
    assert_eq!(status, 403);
    let (status, body) = fx
        .app
        .call(
            &fx.owner,
            Method::GET,
            "/api/v1/reports?from=2026-11-12&to=2026-11-01",
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
}
