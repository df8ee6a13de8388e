//! Routing (DESIGN section 4): rules in order on context variables from a `handover` step,
//! language and page URL, the default team; capacity under concurrent handovers, least busy
//! first, the queue draining when an agent frees a slot; shared queues.

use crate::{
    agent_socket::session_cookie,
    chatbot_runtime::{create_flow, support_flow},
    helpers::{TestAccount, TestApp, spawn_app},
    sockets::Socket,
};
use frontdesk::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// An agent with the inbox open (online); answers the user's id and the open socket.
pub(crate) async fn online_agent(
    app: &TestApp,
    account: &TestAccount,
    capacity: i64,
) -> (String, Socket) {
    let email = app.create_user(account, Role::Agent).await;
    let id = app.user_id(&email).await.to_string();
    let token = app.token_for(&account.owner_email).await;
    let (status, _) = app
        .call(
            &token,
            Method::PATCH,
            &format!("/api/v1/agents/{id}"),
            Some(json!({"capacity": capacity})),
        )
        .await;
    assert_eq!(status, 200);
    let cookie = session_cookie(app, &email).await;
    let socket = Socket::open(&app.address, "/ws/agent", Some(&app.address), Some(&cookie))
        .await
        .expect("agent socket");
    (id, socket)
}

async fn team(app: &TestApp, token: &str, name: &str, members: &[&str], shared: bool) -> String {
    let (status, body) = app
        .call(
            token,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": name, "members": members, "shared_queue": shared})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// A visitor on `url` speaking `language` writes; answers the conversation id.
async fn visitor_writes(app: &TestApp, key: &str, source: u8, url: &str, language: &str) -> String {
    let mut widget = Socket::widget_from(app, key, Ipv4Addr::new(127, 0, 30, source)).await;
    widget
        .send(json!({"type": "hello", "page": {"url": url, "title": "Shop"}, "language": language, "device": "desktop"}))
        .await;
    widget.recv_type("welcome").await;
    let ack = widget.say("v-1", "hello, anyone?").await;
    ack["conversation_id"].as_str().expect("id").to_owned()
}

async fn assignee(app: &TestApp, token: &str, conversation: &str) -> (Value, Value) {
    let (_, body) = app
        .call(
            token,
            Method::GET,
            &format!("/api/v1/conversations/{conversation}"),
            None,
        )
        .await;
    (body["assignee"]["id"].clone(), body["team_id"].clone())
}

/// Waits until every agent's presence registered (sockets start asynchronously).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn rules_route_in_order_on_handover_context_language_and_url_else_to_the_default_team() {
    let app = spawn_app().await;
    let account = app.create_account("Routed").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let (support_agent, _s1) = online_agent(&app, &account, 5).await;
    let (sales_agent, _s2) = online_agent(&app, &account, 5).await;
    let (czech_agent, _s3) = online_agent(&app, &account, 5).await;
    settle().await;
    let support = team(&app, &token, "Support", &[&support_agent], false).await;
    let sales = team(&app, &token, "Sales", &[&sales_agent], false).await;
    let czech = team(&app, &token, "Czech", &[&czech_agent], false).await;
    for (name, field, op, value, team) in [
        ("Sales topic", "context.topic", "equals", "sales", &sales),
        ("Czech speakers", "language", "starts_with", "cs", &czech),
        ("Enterprise pages", "url", "contains", "/enterprise", &sales),
    ] {
        let (status, body) = app.call( &token, Method::POST, "/api/v1/routing-rules",
            Some(json!({"name": name, "conditions": [{"field": field, "op": op, "value": value}], "team_id": team}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, teams) = app.call(&token, Method::GET, "/api/v1/teams", None).await;
    assert_eq!(
        teams["teams"][0]["is_default"], true,
        "the first team is the default"
    );

    // A Czech visitor clicks "Talk to a person": the handover's topic=sales rule comes first.
    let mut widget =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 31, 1)).await;
    widget
        .send(json!({"type": "hello", "page": {"url": "https://shop.example.com/", "title": "Shop"}, "language": "cs", "device": "desktop"}))
        .await;
    widget.recv_type("welcome").await;
    widget
        .send(json!({"type": "trigger", "flow_id": flow_id}))
        .await;
    let greeting = widget.recv_type("message").await;
    let handed = greeting["conversation_id"].as_str().expect("id").to_owned();
    widget
        .send(json!({"type": "choose", "client_id": "c-1", "button_id": "human"}))
        .await;
    loop {
        let frame = widget.recv().await;
        if frame["type"] == "ack" {
            break;
        }
    }
    assert_eq!(
        assignee(&app, &token, &handed).await,
        (json!(sales_agent), json!(sales))
    );

    let czech_writer = visitor_writes(
        &app,
        &account.widget_key,
        1,
        "https://shop.example.com/",
        "cs-CZ",
    )
    .await;
    assert_eq!(
        assignee(&app, &token, &czech_writer).await,
        (json!(czech_agent), json!(czech))
    );
    let enterprise = visitor_writes(
        &app,
        &account.widget_key,
        2,
        "https://shop.example.com/enterprise",
        "en",
    )
    .await;
    assert_eq!(
        assignee(&app, &token, &enterprise).await,
        (json!(sales_agent), json!(sales))
    );
    let other = visitor_writes(
        &app,
        &account.widget_key,
        3,
        "https://shop.example.com/pricing",
        "en",
    )
    .await;
    assert_eq!(
        assignee(&app, &token, &other).await,
        (json!(support_agent), json!(support)),
        "the default team"
    );

    // Refusals name their paths.
    let (status, body) = app.call( &token, Method::POST, "/api/v1/routing-rules",
        Some(json!({"name": "", "conditions": [{"field": "colour", "op": "equals", "value": "x"}], "team_id": uuid::Uuid::now_v7()}))).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(fields, ["conditions[0].field", "name", "team_id"]);
}

#[tokio::test]
async fn concurrent_conversations_never_put_an_agent_over_capacity_and_the_queue_drains() {
    let app = spawn_app().await;
    let account = app.create_account("Busy").await;
    let token = app.token_for(&account.owner_email).await;
    let (ann, _a) = online_agent(&app, &account, 2).await;
    let (bob, _b) = online_agent(&app, &account, 1).await;
    settle().await;
    let desk = team(&app, &token, "Desk", &[&ann, &bob], false).await;

    let mut tasks = Vec::new();
    for n in 0..12u8 {
        let (app, key) = (app.clone(), account.widget_key.clone());
        tasks.push(tokio::spawn(async move {
            visitor_writes(&app, &key, 10 + n, "https://shop.example.com/", "en").await
        }));
    }
    let mut conversations = Vec::new();
    for task in tasks {
        conversations.push(task.await.expect("visitor"));
    }
    let mut per_agent = std::collections::BTreeMap::new();
    let mut queued = Vec::new();
    for id in &conversations {
        let (agent, team) = assignee(&app, &token, id).await;
        assert_eq!(team, json!(desk));
        match agent.as_str() {
            Some(agent) => *per_agent.entry(agent.to_owned()).or_insert(0) += 1,
            None => queued.push(id.clone()),
        }
    }
    assert_eq!(per_agent.get(&ann), Some(&2), "Ann's capacity is 2");
    assert_eq!(per_agent.get(&bob), Some(&1), "Bob's capacity is 1");
    assert_eq!(queued.len(), 9);
    let (_, teams) = app.call(&token, Method::GET, "/api/v1/teams", None).await;
    assert_eq!(teams["teams"][0]["queued"], 9, "agents see the queue");
    let owner = app.signed_in(&account.owner_email).await;
    let inbox = app.get(&owner, "/inbox").await.text().await.expect("inbox");
    assert!(inbox.contains("Desk · 9"), "the inbox shows the queue");
    let fragment = app
        .get(&owner, "/inbox/fragments/list")
        .await
        .text()
        .await
        .expect("list");
    assert!(fragment.contains("Desk · 9"), "and keeps it live");

    // Ann resolves one: the oldest queued conversation comes to her at once.
    let mut mine = None;
    for id in conversations.iter().filter(|id| !queued.contains(id)) {
        if assignee(&app, &token, id).await.0 == json!(ann) {
            mine = Some(id.clone());
            break;
        }
    }
    let mine = mine.expect("one of Ann's");
    let owner_of_mine = json!(ann);
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{mine}/resolve"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, teams) = app.call(&token, Method::GET, "/api/v1/teams", None).await;
    assert_eq!(teams["teams"][0]["queued"], 8);
    let mut oldest = None;
    for id in &queued {
        let (_, body) = app
            .call(
                &token,
                Method::GET,
                &format!("/api/v1/conversations/{id}"),
                None,
            )
            .await;
        if body["assignee"]["id"] == owner_of_mine {
            oldest = Some(id.clone());
        }
    }
    assert!(
        oldest.is_some(),
        "a queued conversation went to the agent who freed a slot"
    );
}

#[tokio::test]
async fn the_least_busy_agent_gets_the_next_one_and_a_shared_queue_assigns_nobody() {
    let app = spawn_app().await;
    let account = app.create_account("Fair").await;
    let token = app.token_for(&account.owner_email).await;
    let (ann, _a) = online_agent(&app, &account, 5).await;
    let (bob, _b) = online_agent(&app, &account, 5).await;
    settle().await;
    team(&app, &token, "Desk", &[&ann, &bob], false).await;
    let first = visitor_writes(
        &app,
        &account.widget_key,
        1,
        "https://shop.example.com/",
        "en",
    )
    .await;
    let (first_agent, _) = assignee(&app, &token, &first).await;
    let second = visitor_writes(
        &app,
        &account.widget_key,
        2,
        "https://shop.example.com/",
        "en",
    )
    .await;
    let (second_agent, _) = assignee(&app, &token, &second).await;
    assert_ne!(
        first_agent, second_agent,
        "the one with fewer open conversations"
    );

    let pool = team(&app, &token, "Pool", &[&ann], true).await;
    let (status, _) = app.call( &token, Method::POST, "/api/v1/routing-rules",
        Some(json!({"name": "Pool", "conditions": [{"field": "url", "op": "contains", "value": "/pool"}], "team_id": pool}))).await;
    assert_eq!(status, 201);
    let pooled = visitor_writes(
        &app,
        &account.widget_key,
        3,
        "https://shop.example.com/pool",
        "en",
    )
    .await;
    let (agent, team_id) = assignee(&app, &token, &pooled).await;
    assert_eq!(
        (agent, team_id),
        (Value::Null, json!(pool)),
        "waits in the shared queue"
    );
}

#[tokio::test]
async fn the_routing_settings_page_adds_teams_and_rules_for_admins_only() {
    let app = spawn_app().await;
    let account = app.create_account("Pages").await;
    let token = app.token_for(&account.owner_email).await;
    let agent_email = app.create_user(&account, Role::Agent).await;
    let agent_id = app.user_id(&agent_email).await.to_string();
    let owner = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&owner, "/settings/routing")
        .await
        .text()
        .await
        .expect("page");
    let csrf = crate::helpers::csrf_from(&page);
    let response = owner
        .post(app.url("/settings/routing/teams"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Sales"),
            ("member", agent_id.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 303);
    let (_, teams) = app.call(&token, Method::GET, "/api/v1/teams", None).await;
    let sales = teams["teams"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(teams["teams"][0]["members"], json!([agent_id]));
    let response = owner
        .post(app.url("/settings/routing/rules"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Topic"),
            ("match", "all"),
            ("field_1", "context.topic"),
            ("op_1", "equals"),
            ("value_1", "sales"),
            ("field_2", ""),
            ("op_2", "equals"),
            ("value_2", ""),
            ("team_id", sales.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 303);
    let (_, rules) = app
        .call(&token, Method::GET, "/api/v1/routing-rules", None)
        .await;
    assert_eq!(
        rules["rules"][0]["conditions"],
        json!([{"field": "context.topic", "op": "equals", "value": "sales"}])
    );
    let page = app
        .get(&owner, "/settings/routing")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("context.topic equals"), "the rule is listed");
    // A bad rule shows its problems and stores nothing.
    let response = owner
        .post(app.url("/settings/routing/rules"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Bad"),
            ("field_1", "colour"),
            ("op_1", "equals"),
            ("value_1", "x"),
            ("team_id", sales.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("must be url, language or context.")
    );
    let (_, rules) = app
        .call(&token, Method::GET, "/api/v1/routing-rules", None)
        .await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1));
    // Without the CSRF token: refused. Agents: 403.
    let response = owner
        .post(app.url("/settings/routing/teams"))
        .form(&[("name", "Sneaky")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
    let agent = app.signed_in(&agent_email).await;
    assert_eq!(
        app.get(&agent, "/settings/routing").await.status().as_u16(),
        403
    );
    let agent_token = app.token_for(&agent_email).await;
    let (status, _) = app.call( &agent_token, Method::POST, "/api/v1/routing-rules",
        Some(json!({"name": "x", "conditions": [{"field": "url", "op": "contains", "value": "x"}], "team_id": sales}))).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn transfers_to_a_team_an_agent_and_a_bot_flow_but_never_the_running_flow() {
    let app = spawn_app().await;
    let account = app.create_account("Transfers").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let (ann, _a) = online_agent(&app, &account, 5).await;
    let (bob, _b) = online_agent(&app, &account, 5).await;
    settle().await;
    team(&app, &token, "Desk", &[&ann], false).await;
    let sales = team(&app, &token, "Sales", &[&bob], false).await;
    let mut widget =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 40, 1)).await;
    widget
        .send(json!({"type": "hello", "page": {"url": "https://shop.example.com/", "title": "Shop"}, "language": "en"}))
        .await;
    widget.recv_type("welcome").await;
    let id = widget.say("t-1", "I need an invoice copy").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(assignee(&app, &token, &id).await.0, json!(ann));
    let transfer = |body: Value| {
        let (app, token, id) = (app.clone(), token.clone(), id.clone());
        async move {
            app.call(
                &token,
                Method::POST,
                &format!("/api/v1/conversations/{id}/transfer"),
                Some(body),
            )
            .await
        }
    };

    let (status, moved) = transfer(json!({"team_id": sales})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["assignee"]["id"].clone(), moved["team_id"].clone()),
        (json!(bob), json!(sales))
    );
    let (status, back) = transfer(json!({"agent_id": ann})).await;
    assert_eq!(status, 200);
    assert_eq!(back["assignee"]["id"], json!(ann));

    let (status, botted) = transfer(json!({"flow_id": flow_id})).await;
    assert_eq!(status, 200, "{botted}");
    assert_eq!(botted["handler"], "bot");
    loop {
        let frame = widget.recv_type("message").await;
        if frame["step_id"] == "menu" {
            assert_eq!(frame["author"]["kind"], "bot");
            break;
        }
    }
    let (status, refused) = transfer(json!({"flow_id": flow_id})).await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "flow_running");
    let (status, _) = transfer(json!({"team_id": sales, "agent_id": ann})).await;
    assert_eq!(status, 422, "exactly one target");

    let (_, messages) = app
        .call(
            &token,
            Method::GET,
            &format!("/api/v1/conversations/{id}/messages"),
            None,
        )
        .await;
    let notes: Vec<String> = messages["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["author"]["kind"] == "system" && m["internal"] == true)
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes[0].starts_with("Transferred to the team Sales"));
    assert!(notes[2].starts_with("Transferred to the bot"));
}

#[tokio::test]
async fn the_inbox_transfer_form_moves_a_conversation_and_shows_the_same_flow_refusal() {
    let app = spawn_app().await;
    let account = app.create_account("Inbox transfers").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let desk = team(&app, &token, "Desk", &[], true).await;
    let sales = team(&app, &token, "Sales", &[], true).await;
    let id = visitor_writes(
        &app,
        &account.widget_key,
        1,
        "https://shop.example.com/",
        "en",
    )
    .await;
    assert_eq!(assignee(&app, &token, &id).await.1, json!(desk));
    let owner = app.signed_in(&account.owner_email).await;
    let page = format!("/inbox/{id}");
    let html = app.get(&owner, &page).await.text().await.expect("page");
    assert!(
        html.contains(&format!(r#"value="team:{sales}">Sales<"#)),
        "teams offered"
    );
    assert!(
        html.contains(&format!(r#"value="flow:{flow_id}">Bot: Support<"#)),
        "flows offered"
    );
    assert!(html.contains(r#"class="badge team" title="Team">Desk · waiting<"#));

    let target = format!("team:{sales}");
    let moved = app
        .post_form(
            &owner,
            &page,
            &format!("/inbox/{id}/transfer"),
            &[("target", &target)],
        )
        .await;
    assert_eq!(moved.status().as_u16(), 303);
    assert_eq!(assignee(&app, &token, &id).await.1, json!(sales));

    let to_bot = format!("flow:{flow_id}");
    let botted = app
        .post_form(
            &owner,
            &page,
            &format!("/inbox/{id}/transfer"),
            &[("target", &to_bot)],
        )
        .await;
    assert_eq!(botted.status().as_u16(), 303);
    let refused = app
        .post_form(
            &owner,
            &page,
            &format!("/inbox/{id}/transfer"),
            &[("target", &to_bot)],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 409);
    let html = refused.text().await.expect("page");
    assert!(
        html.contains("this flow is already running in the conversation"),
        "the refusal shows on the conversation"
    );
    let nonsense = app
        .post_form(
            &owner,
            &page,
            &format!("/inbox/{id}/transfer"),
            &[("target", "team:nope")],
        )
        .await;
    assert_eq!(nonsense.status().as_u16(), 422);
}

/// The conversation as the visitor's widget sees it on reconnecting.
async fn widget_view(app: &TestApp, key: &str, source: u8, token: &str) -> Value {
    let mut widget = Socket::widget_from(app, key, Ipv4Addr::new(127, 0, 31, source)).await;
    let welcome = widget.hello(Some(token), None, None).await;
    welcome["conversation"].clone()
}

#[tokio::test]
async fn the_widget_hears_when_its_conversation_waits_and_whether_the_team_is_online() {
    let app = spawn_app().await;
    let account = app.create_account("Waiting").await;
    let token = app.token_for(&account.owner_email).await;
    let (ann, mut ann_socket) = online_agent(&app, &account, 1).await;
    let bob_email = app.create_user(&account, Role::Agent).await;
    let bob = app.user_id(&bob_email).await.to_string();
    settle().await;
    team(&app, &token, "Desk", &[&ann], false).await;
    let night = team(&app, &token, "Night", &[&bob], false).await;
    let (status, _) = app.call(&token, Method::POST, "/api/v1/routing-rules",
        Some(json!({"name": "Night", "conditions": [{"field": "url", "op": "contains", "value": "/night"}], "team_id": night}))).await;
    assert_eq!(status, 201);
    let key = account.widget_key.clone();

    let start = |source: u8, url: &'static str| {
        let (app, key) = (app.clone(), key.clone());
        async move {
            let mut widget =
                Socket::widget_from(&app, &key, Ipv4Addr::new(127, 0, 32, source)).await;
            widget
                .send(json!({"type": "hello", "page": {"url": url, "title": "Shop"}, "language": "en"}))
                .await;
            let welcome = widget.recv_type("welcome").await;
            let ack = widget.say("w-1", "hello?").await;
            (
                welcome["visitor_token"].as_str().expect("token").to_owned(),
                ack["conversation_id"].as_str().expect("id").to_owned(),
                widget,
            )
        }
    };
    // Night's only agent is offline: waiting, and the team is offline.
    let (night_token, _, _night_widget) = start(1, "https://shop.example.com/night").await;
    let seen = widget_view(&app, &key, 1, &night_token).await;
    assert_eq!(
        (seen["waiting"].clone(), seen["team_online"].clone()),
        (json!(true), json!(false)),
        "{seen}"
    );
    // Desk's agent takes the first one; the second waits for a free slot, team online.
    let (_, first, _first_widget) = start(2, "https://shop.example.com/").await;
    let (second_token, _, mut second_widget) = start(3, "https://shop.example.com/").await;
    let seen = widget_view(&app, &key, 2, &second_token).await;
    assert_eq!(
        (seen["waiting"].clone(), seen["team_online"].clone()),
        (json!(true), json!(true)),
        "{seen}"
    );
    // Ann resolves the first: the queue gives her the second, and its widget hears it.
    let (status, _) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/conversations/{first}/resolve"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    loop {
        let frame = second_widget.recv_type("conversation").await;
        if frame["waiting"] == false {
            assert!(frame.get("team_online").is_none());
            break;
        }
    }
    ann_socket.drain().await;
}

/// A visitor on `url` whose widget shows the support flow's first step (`menu`).
async fn visitor_at_menu(app: &TestApp, key: &str, flow_id: &str, source: u8, url: &str) -> Socket {
    let mut widget = Socket::widget_from(app, key, Ipv4Addr::new(127, 0, 33, source)).await;
    widget
        .send(json!({"type": "hello", "page": {"url": url, "title": "Shop"}, "language": "en", "device": "desktop"}))
        .await;
    widget.recv_type("welcome").await;
    widget.trigger_until(flow_id, "menu").await;
    widget
}

/// The widget's `conversation` frames until one the bot no longer handles.
async fn handed_to_people(widget: &mut Socket) -> Value {
    loop {
        let frame = widget.recv_type("conversation").await;
        if frame["handler"] == "human" {
            return frame;
        }
    }
}

#[tokio::test]
async fn every_way_from_a_bot_to_people_is_routed_by_the_same_rules() {
    let app = spawn_app().await;
    let account = app.create_account("Every path").await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    let (support_agent, _s1) = online_agent(&app, &account, 5).await;
    let (sales_agent, _s2) = online_agent(&app, &account, 5).await;
    let night_email = app.create_user(&account, Role::Agent).await;
    let night_agent = app.user_id(&night_email).await.to_string();
    settle().await;
    let support = team(&app, &token, "Support", &[&support_agent], false).await;
    let sales = team(&app, &token, "Sales", &[&sales_agent], false).await;
    let night = team(&app, &token, "Night", &[&night_agent], false).await;
    for (name, field, value, team) in [
        ("Wholesale pages", "url", "/wholesale", &sales),
        ("Sales topic", "context.topic", "sales", &sales),
        ("Night pages", "url", "/night", &night),
    ] {
        let op = if field == "url" { "contains" } else { "equals" };
        let (status, body) = app.call(&token, Method::POST, "/api/v1/routing-rules",
            Some(json!({"name": name, "conditions": [{"field": field, "op": op, "value": value}], "team_id": team}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let key = account.widget_key.clone();

    // Typing instead of clicking, on a wholesale page: the URL rule picks Sales.
    let mut typed = visitor_at_menu(
        &app,
        &key,
        &flow_id,
        1,
        "https://shop.example.com/wholesale",
    )
    .await;
    let ack = typed.say("t-1", "where is my order?").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    assert_eq!(
        assignee(&app, &token, &conversation).await,
        (json!(sales_agent), json!(sales)),
        "a typed escalation is routed"
    );
    let frame = handed_to_people(&mut typed).await;
    assert_eq!(frame["waiting"], false, "assigned at once: {frame}");

    // Answering a `collect` step, then the flow's handover (topic=sales): Sales again.
    let mut collected = visitor_at_menu(&app, &key, &flow_id, 2, "https://shop.example.com/").await;
    collected
        .send(json!({"type": "choose", "client_id": "c-1", "button_id": "mail"}))
        .await;
    while collected.recv_type("message").await["step_id"] != "email" {}
    let ack = collected.say("c-2", "ann@example.com").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    handed_to_people(&mut collected).await;
    assert_eq!(
        assignee(&app, &token, &conversation).await,
        (json!(sales_agent), json!(sales)),
        "collect then handover is routed by the handover's context"
    );

    // Typing on a night page whose team has nobody online: queued, and the widget shows it.
    let mut queued =
        visitor_at_menu(&app, &key, &flow_id, 3, "https://shop.example.com/night").await;
    let ack = queued.say("q-1", "anyone there?").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    let frame = handed_to_people(&mut queued).await;
    assert_eq!(
        (frame["waiting"].clone(), frame["team_online"].clone()),
        (json!(true), json!(false)),
        "the waiting card: {frame}"
    );
    assert_eq!(
        assignee(&app, &token, &conversation).await,
        (Value::Null, json!(night))
    );

    // The first click loses the period's last chatbot conversation: people take over, routed
    // to the default team like any other handover.
    let mut late = visitor_at_menu(&app, &key, &flow_id, 4, "https://shop.example.com/").await;
    crate::billing::leave(&app, account.account_id, 0).await;
    late.send(json!({"type": "choose", "client_id": "l-1", "button_id": "price"}))
        .await;
    let frame = handed_to_people(&mut late).await;
    let conversation = frame["id"].as_str().expect("id").to_owned();
    assert_eq!(
        assignee(&app, &token, &conversation).await,
        (json!(support_agent), json!(support)),
        "the limit reached is routed to the default team"
    );
}

#[tokio::test]
async fn the_list_filters_by_team_and_refuses_unknown_or_malformed_filters() {
    let app = spawn_app().await;
    let account = app.create_account("Teams list").await;
    let token = app.token_for(&account.owner_email).await;
    let (ann, _ann_socket) = online_agent(&app, &account, 5).await;
    settle().await;
    let desk = team(&app, &token, "Desk", &[&ann], false).await;
    let sales = team(&app, &token, "Sales", &[], false).await;
    let (status, _) = app.call(&token, Method::POST, "/api/v1/routing-rules",
        Some(json!({"name": "Sales pages", "conditions": [{"field": "url", "op": "contains", "value": "/sales"}], "team_id": sales}))).await;
    assert_eq!(status, 201);
    let key = account.widget_key.clone();
    let at_desk = visitor_writes(&app, &key, 40, "https://shop.example.com/", "en").await;
    let at_sales = visitor_writes(&app, &key, 41, "https://shop.example.com/sales", "en").await;

    let ids = |body: &Value| -> Vec<String> {
        body["conversations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (status, body) = app
        .call(
            &token,
            Method::GET,
            &format!("/api/v1/conversations?team={sales}"),
            None,
        )
        .await;
    assert_eq!((status, ids(&body)), (200, vec![at_sales.clone()]));
    let (_, body) = app
        .call(
            &token,
            Method::GET,
            &format!("/api/v1/conversations?team={desk}&status=open"),
            None,
        )
        .await;
    assert_eq!(ids(&body), vec![at_desk.clone()]);

    // Another account's team, a malformed id, a malformed limit and an unknown filter: 422.
    let other = app.create_account("Elsewhere").await;
    let other_token = app.token_for(&other.owner_email).await;
    let theirs = team(&app, &other_token, "Theirs", &[], false).await;
    for (query, field) in [
        (format!("team={theirs}"), "team"),
        ("team=anything".to_owned(), "team"),
        ("limit=lots".to_owned(), "limit"),
        ("chatbot_counted=maybe".to_owned(), "chatbot_counted"),
        ("colour=blue".to_owned(), "colour"),
    ] {
        let (status, body) = app
            .call(
                &token,
                Method::GET,
                &format!("/api/v1/conversations?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(
            body["error"]["details"][0]["field"], field,
            "{query}: {body}"
        );
    }

    // The inbox filters by team too.
    let client = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&client, &format!("/inbox?status=open&team={sales}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(&format!("data-id=\"{at_sales}\"")), "{page}");
    assert!(!page.contains(&format!("data-id=\"{at_desk}\"")));
    assert!(page.contains(&format!(
        "<option value=\"{sales}\" selected>Sales</option>"
    )));
}
