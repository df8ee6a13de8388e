//! Chatbot insights (API and page) against a hand-computed fixture played through the widget:
//! five visitors, every outcome, the funnel and the clicks per button.

use crate::{
    chatbot_runtime::{create_flow, support_flow},
    helpers::spawn_app,
    sockets::Socket,
};
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn trigger(app: &crate::helpers::TestApp, key: &str, flow_id: &str) -> Socket {
    let mut widget = Socket::widget(app, key).await;
    widget.hello(None, None, None).await;
    widget.trigger_until(flow_id, "menu").await;
    widget
}

async fn click(widget: &mut Socket, client_id: &str, button: &str) {
    widget
        .send(json!({"type": "choose", "client_id": client_id, "button_id": button}))
        .await;
    loop {
        let frame = widget.recv().await;
        if frame["client_id"] == client_id {
            assert_eq!(frame["type"], "ack", "{frame}");
            return;
        }
    }
}

#[tokio::test]
async fn insights_match_a_hand_computed_fixture() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let idle_flow = create_flow(
        &app,
        &token,
        &json!({"name": "Never shown", "start": "a", "steps": {"a": {"type": "end"}}}),
    )
    .await;
    let key = &account.widget_key;

    // 1: triggered, nothing else (no interaction).
    let _one = trigger(&app, key, &flow_id).await;
    // 2: Pricing, That helped (resolved by chatbot).
    let mut two = trigger(&app, key, &flow_id).await;
    click(&mut two, "2a", "price").await;
    click(&mut two, "2b", "done").await;
    // 3: Talk to a person (escalated, counted).
    let mut three = trigger(&app, key, &flow_id).await;
    click(&mut three, "3a", "human").await;
    // 4: types instead of clicking (escalated, not counted).
    let mut four = trigger(&app, key, &flow_id).await;
    four.say("4a", "hello?").await;
    // 5: Pricing, then nothing yet (in progress).
    let mut five = trigger(&app, key, &flow_id).await;
    click(&mut five, "5a", "price").await;

    let response = app
        .api(&token, Method::GET, "/api/v1/chatbot/insights")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    let insights: Value = response.json().await.expect("json");
    let expected = json!({
        "triggered": 5, "interacted": 3, "counted": 3,
        "resolved_by_chatbot": 1, "escalated_to_human": 2, "no_interaction": 1, "in_progress": 1,
        "resolution_rate": 0.2, "escalation_rate": 0.4, "interaction_rate": 0.6,
    });
    for (key, value) in expected.as_object().expect("object") {
        assert_eq!(&insights["total"][key], value, "total.{key}");
    }
    assert!(insights["total"]["avg_seconds_to_resolution"].is_number());
    let flows = insights["flows"].as_array().expect("flows");
    let support = flows
        .iter()
        .find(|f| f["flow_id"] == flow_id)
        .expect("support");
    assert_eq!(support["figures"]["triggered"], 5);
    assert_eq!(support["figures"]["counted"], 3);
    let step = |id: &str| {
        support["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["step_id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(support["steps"][0]["step_id"], "menu", "breadth first");
    assert_eq!(step("menu")["entered"], 5);
    assert_eq!(step("pricing")["entered"], 2);
    assert_eq!(step("bye")["entered"], 1);
    assert_eq!(step("handover")["entered"], 1);
    assert_eq!(step("email")["entered"], 0);
    assert_eq!(
        step("menu")["buttons"],
        json!([
            {"button_id": "human", "label": "Talk to a person", "clicks": 1},
            {"button_id": "price", "label": "Pricing", "clicks": 2}
        ])
    );
    assert_eq!(
        step("pricing")["buttons"],
        json!([{"button_id": "done", "label": "That helped", "clicks": 1}])
    );
    let idle = flows
        .iter()
        .find(|f| f["flow_id"] == idle_flow)
        .expect("idle");
    assert_eq!(idle["figures"]["triggered"], 0);
    assert_eq!(idle["figures"]["resolution_rate"], 0.0);
    let days = insights["days"].as_array().expect("days");
    assert_eq!(days.len(), 30, "the last 30 days by default");
    assert_eq!(days[29]["triggered"], 5, "today");

    // A range without today has none of it.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let old: Value = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/chatbot/insights?from={yesterday}&to={yesterday}"),
        )
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(old["total"]["triggered"], 0);
    assert_eq!(old["days"].as_array().map(Vec::len), Some(1));

    // The page shows the same figures and the chart.
    let owner = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&owner, "/chatbot/insights")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("id=\"total-triggered\">5<"), "{page}");
    assert!(page.contains("id=\"total-counted\">3<"));
    assert!(page.contains("<svg class=\"chart\""));
    assert!(page.contains("Talk to a person: 1"));
    // The flow list shows the last 30 days' figures.
    let list = app
        .get(&owner, "/chatbot")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        list.contains("<td class=\"num\">5</td><td class=\"num\">3</td>"),
        "triggered 5, counted 3"
    );
}

#[tokio::test]
async fn insights_refuse_bad_ranges_and_agents() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    for query in [
        "from=2026-11-02&to=2026-11-01",
        "from=last-week",
        "from=2024-01-01&to=2026-01-01",
    ] {
        let response = app
            .api(
                &token,
                Method::GET,
                &format!("/api/v1/chatbot/insights?{query}"),
            )
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 422, "{query}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "validation_failed");
    }
    let agent = app.create_user(&account, Role::Agent).await;
    let agent_token = app.token_for(&agent).await;
    let response = app
        .api(&agent_token, Method::GET, "/api/v1/chatbot/insights")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 403);
    let owner = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&owner, "/chatbot/insights?from=2026-11-02&to=2026-11-01")
        .await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("must not be after")
    );
    let agent_client = app.signed_in(&agent).await;
    assert_eq!(
        app.get(&agent_client, "/chatbot/insights")
            .await
            .status()
            .as_u16(),
        403
    );
}
