//! External bots (DESIGN section 11) against a real bot: an HTTP server each test starts,
//! scripted per event. Handover with context routed to the right team, `end` resolved by
//! chatbot, two bots counted once, no bot call at the limit, a timeout handed over with a
//! note, events in order, a pending event delivered after a SIGKILL, the sample bot refusing a
//! tampered signature.

use crate::{
    helpers::{TestApp, fresh_database, spawn_app},
    server_process::{Binary, free_port},
    sockets::Socket,
    webhooks::verifies,
};
use actix_web::{HttpRequest, HttpResponse, web};
use frontdesk::domain::plan::PlanCode;
use reqwest::Method;
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// What the bot answers to one event.
pub struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

impl Reply {
    fn actions(actions: Value) -> Self {
        Self {
            status: 200,
            body: json!({ "actions": actions }).to_string(),
            delay: Duration::ZERO,
        }
    }

    fn nothing() -> Self {
        Self {
            status: 200,
            body: String::new(),
            delay: Duration::ZERO,
        }
    }
}

type Script = Box<dyn FnMut(&Value) -> Reply + Send>;

struct BotState {
    events: Mutex<Vec<(Value, String)>>,
    script: Mutex<Script>,
}

/// A bot on 127.0.0.1 that records every event (body and signature) and answers by script.
pub struct BotServer {
    url: String,
    state: Arc<BotState>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<BotState>,
) -> HttpResponse {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let signature = request
        .headers()
        .get("frontdesk-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let reply = (state.script.lock().expect("lock"))(&event);
    state.events.lock().expect("lock").push((
        event,
        format!("{signature}\n{}", String::from_utf8_lossy(&body)),
    ));
    tokio::time::sleep(reply.delay).await;
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).expect("status"))
        .content_type("application/json")
        .body(reply.body)
}

impl BotServer {
    pub async fn start(script: impl FnMut(&Value) -> Reply + Send + 'static) -> Self {
        let state = web::Data::new(BotState {
            events: Mutex::new(Vec::new()),
            script: Mutex::new(Box::new(script)),
        });
        let (port, handle) = crate::helpers::serve_on_free_port(state.clone(), receive);
        Self {
            url: format!("http://127.0.0.1:{port}/bot"),
            state: state.into_inner(),
            handle,
        }
    }

    pub fn events(&self) -> Vec<Value> {
        self.state
            .events
            .lock()
            .expect("lock")
            .iter()
            .map(|(e, _)| e.clone())
            .collect()
    }

    fn raw(&self) -> Vec<String> {
        self.state
            .events
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, raw)| raw.clone())
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits until the bot got an event of this type; answers it.
    pub async fn wait_for(&self, kind: &str) -> Value {
        self.wait_for_nth(kind, 1).await
    }

    async fn wait_for_nth(&self, kind: &str, n: usize) -> Value {
        for _ in 0..300 {
            let found: Vec<Value> = self
                .events()
                .into_iter()
                .filter(|e| e["type"] == kind)
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the bot never got {n} {kind}: {:?}", self.kinds());
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Registers a bot at `url`; answers its id, secret and token.
async fn register(app_or_base: &Api, url: &str, extra: Value) -> (String, String, String) {
    let mut body = json!({"name": "Helper", "url": url});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let (status, bot) = app_or_base
        .call(Method::POST, "/api/v1/bots", Some(body))
        .await;
    assert_eq!(status, 201, "{bot}");
    let field = |name: &str| bot[name].as_str().expect(name).to_owned();
    (field("id"), field("secret"), field("token"))
}

/// The REST API of a server (a test app or a child process) as one user.
struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn conversation(&self, id: &str) -> Value {
        self.call(Method::GET, &format!("/api/v1/conversations/{id}"), None)
            .await
            .1
    }

    /// Polls the conversation until `done` holds (events are sent in the background).
    async fn conversation_until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..300 {
            last = self.conversation(id).await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the conversation never got there: {last}");
    }

    async fn notes(&self, id: &str) -> Vec<String> {
        let (_, body) = self
            .call(
                Method::GET,
                &format!("/api/v1/conversations/{id}/messages"),
                None,
            )
            .await;
        body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["internal"] == true)
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn transfer_to_bot(&self, conversation: &str, bot: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/transfer"),
            Some(json!({ "bot_id": bot })),
        )
        .await
    }

    async fn used(&self) -> Value {
        self.call(Method::GET, "/api/v1/billing", None).await.1["chatbot"]["used"].clone()
    }
}

async fn owner_api(app: &TestApp, plan: PlanCode) -> (Api, String) {
    let account = app.create_account_on("Bots", plan).await;
    let token = app.token_for(&account.owner_email).await;
    (
        Api {
            base: app.address.clone(),
            token,
        },
        account.widget_key,
    )
}

/// A visitor says hello and writes; answers the socket and the conversation id.
async fn visitor_writes(address: &str, key: &str, text: &str) -> (Socket, String) {
    let mut widget = Socket::open(address, &format!("/ws/widget?key={key}"), None, None)
        .await
        .expect("widget socket");
    widget.hello(None, None, None).await;
    let ack = widget.say("v-1", text).await;
    (
        widget,
        ack["conversation_id"].as_str().expect("id").to_owned(),
    )
}

/// Skips widget frames until a bot message.
async fn bot_message(widget: &mut Socket) -> Value {
    loop {
        let frame = widget.recv_type("message").await;
        if frame["author"]["kind"] == "bot" {
            return frame;
        }
    }
}

#[tokio::test]
async fn a_bot_handover_with_context_reaches_the_team_its_rules_pick() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let team = |name: &'static str| {
        let api = &api;
        async move {
            let (status, body) = api
                .call(
                    Method::POST,
                    "/api/v1/teams",
                    Some(json!({"name": name, "shared_queue": true})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().expect("id").to_owned()
        }
    };
    let support = team("Support").await;
    let billing = team("Billing").await;
    let (status, rule) = api
        .call(Method::POST, "/api/v1/routing-rules", Some(json!({"name": "Billing topic",
            "conditions": [{"field": "context.topic", "op": "equals", "value": "billing"}], "team_id": billing})))
        .await;
    assert_eq!(status, 201, "{rule}");
    let bot = BotServer::start(|event| match event["type"].as_str() {
        Some("conversation.assigned") => Reply::actions(json!([{"type": "message", "text": "Hi! What is it about?",
            "buttons": [{"id": "refund", "label": "A refund"}, {"id": "other", "label": "Something else"}]}])),
        Some("button.clicked") if event["choice"]["button_id"] == "refund" => Reply::actions(json!([
            {"type": "message", "text": "Our billing team will help."},
            {"type": "handover", "context": {"topic": "billing"}, "summary": "Wants a refund for order 42"}])),
        _ => Reply::nothing(),
    })
    .await;
    let (bot_id, secret, _) = register(&api, &bot.url, json!({"label": "Robo"})).await;

    // The visitor writes: routed to the default team (Support), waiting in its queue.
    let (mut widget, conversation) =
        visitor_writes(&app.address, &key, "I was charged twice").await;
    assert_eq!(api.conversation(&conversation).await["team_id"], support);
    let (status, body) = api.transfer_to_bot(&conversation, &bot_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["handler"], "bot");

    let assigned = bot.wait_for("conversation.assigned").await;
    assert_eq!(assigned["bot_id"], bot_id);
    assert_eq!(assigned["conversation"]["id"], conversation);
    assert_eq!(assigned["conversation"]["visitor"]["language"], "en");
    assert_eq!(
        assigned["transcript"][0]["text"], "I was charged twice",
        "{assigned}"
    );
    let (signature, body) = bot.raw()[0]
        .split_once('\n')
        .map(|(s, b)| (s.to_owned(), b.to_owned()))
        .expect("raw");
    assert!(
        verifies(&secret, &signature, &body),
        "signed with the bot's secret"
    );
    assert!(!verifies("bsec_wrong", &signature, &body));

    let greeting = bot_message(&mut widget).await;
    assert_eq!(greeting["author"]["name"], "Robo");
    assert_eq!(greeting["buttons"][0]["id"], "refund");
    widget
        .send(json!({"type": "choose", "client_id": "v-2", "button_id": "refund"}))
        .await;
    let clicked = bot.wait_for("button.clicked").await;
    assert_eq!(clicked["choice"]["button_id"], "refund");
    assert_eq!(clicked["message"]["text"], "A refund");

    let handed = api
        .conversation_until(&conversation, |c| c["handler"] == "human")
        .await;
    assert_eq!(
        handed["team_id"], billing,
        "routed by the handover's context: {handed}"
    );
    assert_eq!(handed["context"]["topic"], "billing");
    assert_eq!(handed["outcome"], "escalated_to_human");
    assert_eq!(handed["chatbot_counted"], true);
    assert!(
        handed["labels"]
            .as_array()
            .expect("labels")
            .contains(&json!("joined_by_chatbot"))
    );
    let notes = api.notes(&conversation).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Wants a refund for order 42") && n.contains("topic=billing")),
        "{notes:?}"
    );
    bot.wait_for("conversation.handed_over").await;
    bot.stop().await;
}

#[tokio::test]
async fn a_bot_end_resolves_the_conversation_as_resolved_by_chatbot_and_only_that_bot_may_act() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let bot = BotServer::start(|event| match event["type"].as_str() {
        Some("message.created") if event["message"]["text"] == "thanks, bye" => {
            Reply::actions(json!([{"type": "message", "text": "Bye!"}, {"type": "end"}]))
        }
        _ => Reply::nothing(),
    })
    .await;
    let (bot_id, _, token) = register(&api, &bot.url, json!({})).await;
    let (other_id, _, other_token) = register(&api, &bot.url, json!({"name": "Other"})).await;
    let (mut widget, conversation) =
        visitor_writes(&app.address, &key, "where is my parcel?").await;
    api.transfer_to_bot(&conversation, &bot_id).await;
    bot.wait_for("conversation.assigned").await;

    // The bot answers later, through the API with its own token.
    let as_bot = |token: &str| Api {
        base: app.address.clone(),
        token: token.to_owned(),
    };
    let path = format!("/api/v1/conversations/{conversation}/bot-actions");
    let (status, body) = as_bot(&token)
        .call(Method::POST, &path, Some(json!({"actions": [{"type": "typing"}, {"type": "message", "text": "It ships today."}]})))
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(bot_message(&mut widget).await["text"], "It ships today.");
    let (status, body) = as_bot(&other_token)
        .call(
            Method::POST,
            &path,
            Some(json!({"actions": [{"type": "message", "text": "me too"}]})),
        )
        .await;
    assert_eq!(status, 403, "another bot: {body}");
    let (status, _) = api
        .call(
            Method::POST,
            &path,
            Some(json!({"actions": [{"type": "end"}]})),
        )
        .await;
    assert_eq!(status, 403, "a person's token");
    let (status, body) = as_bot(&token)
        .call(
            Method::POST,
            &path,
            Some(json!({"actions": [{"type": "transfer", "bot_id": bot_id}]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("same_bot")),
        "{body}"
    );

    widget.say("v-2", "thanks, bye").await;
    let resolved = api
        .conversation_until(&conversation, |c| c["status"] == "resolved")
        .await;
    assert_eq!(resolved["outcome"], "resolved_by_chatbot", "{resolved}");
    assert_eq!(resolved["chatbot_counted"], true);
    bot.wait_for("conversation.resolved").await;
    assert_eq!(api.used().await, 1);
    // Insights list the bots beside the flows.
    let (_, insights) = api
        .call(Method::GET, "/api/v1/chatbot/insights", None)
        .await;
    let helper = insights["bots"]
        .as_array()
        .expect("bots")
        .iter()
        .find(|b| b["bot_id"] == bot_id)
        .cloned()
        .expect("the bot");
    assert_eq!(helper["figures"]["triggered"], 1, "{helper}");
    assert_eq!(helper["figures"]["resolved_by_chatbot"], 1, "{helper}");
    assert_eq!(helper["figures"]["resolution_rate"], 1.0);
    let other = insights["bots"]
        .as_array()
        .expect("bots")
        .iter()
        .find(|b| b["bot_id"] == other_id)
        .cloned()
        .expect("the other bot");
    assert_eq!(other["figures"]["triggered"], 0);
    bot.stop().await;
}

#[tokio::test]
async fn a_second_bot_in_the_same_conversation_is_still_one_count() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let second = BotServer::start(|event| match event["type"].as_str() {
        Some("conversation.assigned") => {
            Reply::actions(json!([{"type": "message", "text": "Second bot here."}]))
        }
        Some("message.created") => {
            Reply::actions(json!([{"type": "message", "text": "Still me."}]))
        }
        _ => Reply::nothing(),
    })
    .await;
    let (second_id, _, _) = register(&api, &second.url, json!({"name": "Second"})).await;
    let target = second_id.clone();
    let first = BotServer::start(move |event| match event["type"].as_str() {
        Some("message.created") => Reply::actions(json!([{"type": "transfer", "bot_id": target}])),
        _ => Reply::nothing(),
    })
    .await;
    let (first_id, _, _) = register(&api, &first.url, json!({"name": "First"})).await;
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "hello").await;
    api.transfer_to_bot(&conversation, &first_id).await;
    first.wait_for("conversation.assigned").await;
    widget.say("v-2", "I need the other bot").await;
    first.wait_for("message.created").await;
    let assigned = second.wait_for("conversation.assigned").await;
    assert!(
        assigned["transcript"]
            .as_array()
            .expect("transcript")
            .iter()
            .any(|m| m["text"] == "I need the other bot")
    );
    widget.say("v-3", "hi second bot").await;
    second.wait_for("message.created").await;
    // The second bot answers (its greeting may come before or after the visitor's ack).
    while bot_message(&mut widget).await["text"] != "Still me." {}
    let current = api.conversation(&conversation).await;
    assert_eq!(current["chatbot_counted"], true);
    assert_eq!(api.used().await, 1, "two bots, one chatbot conversation");
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn at_the_limit_the_bot_is_not_called_and_the_visitor_stays_with_people() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Free).await;
    let bot = BotServer::start(|_| Reply::nothing()).await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({})).await;
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "hello?").await;
    let (status, body) = api.transfer_to_bot(&conversation, &bot_id).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("chatbot_limit_reached")),
        "{body}"
    );
    widget.say("v-2", "anyone?").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        bot.events().is_empty(),
        "the bot was called: {:?}",
        bot.kinds()
    );
    let current = api.conversation(&conversation).await;
    assert_ne!(current["handler"], "bot");
    assert_eq!(current["chatbot_counted"], false);
    assert_eq!(api.used().await, 0);
    bot.stop().await;
}

#[tokio::test]
async fn a_bot_sleeping_past_its_timeout_hands_the_visitor_over_with_a_note() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let bot = BotServer::start(|event| match event["type"].as_str() {
        Some("message.created") => Reply {
            delay: Duration::from_secs(2),
            ..Reply::actions(json!([{"type": "message", "text": "too late"}]))
        },
        _ => Reply::nothing(),
    })
    .await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({"timeout_ms": 300})).await;
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "hi").await;
    api.transfer_to_bot(&conversation, &bot_id).await;
    bot.wait_for("conversation.assigned").await;
    widget.say("v-2", "are you there?").await;
    let handed = api
        .conversation_until(&conversation, |c| c["handler"] == "human")
        .await;
    assert_eq!(handed["outcome"], "escalated_to_human", "{handed}");
    let notes = api.notes(&conversation).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Helper") && n.contains("timed out after 300 ms")),
        "{notes:?}"
    );
    let (_, log) = api
        .call(
            Method::GET,
            &format!("/api/v1/bots/{bot_id}/deliveries"),
            None,
        )
        .await;
    let failed = log["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["event"] == "message.created")
        .cloned()
        .expect("logged");
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{failed}"
    );
    // The late answer is never shown to the visitor.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_, messages) = api
        .call(
            Method::GET,
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert!(!messages.to_string().contains("too late"));
    bot.stop().await;
}

#[tokio::test]
async fn events_of_one_conversation_arrive_in_order() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    // A slow bot: later events queue up behind the one in flight.
    let bot = BotServer::start(|_| Reply {
        delay: Duration::from_millis(40),
        ..Reply::nothing()
    })
    .await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({})).await;
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "start").await;
    api.transfer_to_bot(&conversation, &bot_id).await;
    for i in 1..=8 {
        widget
            .say(&format!("v-{}", i + 1), &format!("message {i}"))
            .await;
    }
    bot.wait_for_nth("message.created", 8).await;
    let texts: Vec<String> = bot
        .events()
        .iter()
        .filter(|e| e["type"] == "message.created")
        .map(|e| e["message"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = (1..=8).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected);
    assert_eq!(bot.kinds()[0], "conversation.assigned");
    let mut ids: Vec<String> = bot
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no event id twice");
    bot.stop().await;
}

#[tokio::test]
async fn a_pending_bot_event_is_delivered_after_the_server_is_killed() {
    let (database_url, _dir) = fresh_database().await;
    let binary = Binary::new(&database_url)
        .env("FRONTDESK_JOBS", "1")
        .env("FRONTDESK_WEBHOOK_RETRY_BASE_SECONDS", "2")
        .env("FRONTDESK_WEBHOOK_POLL_MILLIS", "100");
    let (account, token) = binary.account_with_token("Restarted", "bots-r@example.com");
    let key = account["widget_key"].as_str().expect("key").to_owned();
    let answering = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = answering.clone();
    let bot = BotServer::start(move |_| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::nothing()
        } else {
            Reply {
                status: 503,
                ..Reply::nothing()
            }
        }
    })
    .await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = binary.serve(port).await;
    let api = Api {
        base: base.clone(),
        token,
    };
    let (bot_id, _, _) = register(&api, &bot.url, json!({})).await;
    let (_widget, conversation) = visitor_writes(&base, &key, "hello").await;
    let (status, body) = api.transfer_to_bot(&conversation, &bot_id).await;
    assert_eq!(status, 200, "{body}");
    // The first attempt fails (503): people take over, and the event waits for its retry.
    let first = bot.wait_for("conversation.assigned").await;
    let log_path = format!("/api/v1/bots/{bot_id}/deliveries");
    let mut logged = Value::Null;
    for _ in 0..200 {
        logged = api.call(Method::GET, &log_path, None).await.1;
        let assigned = logged["deliveries"].as_array().and_then(|d| {
            d.iter()
                .find(|d| d["event"] == "conversation.assigned")
                .cloned()
        });
        if assigned.is_some_and(|d| d["last_status_code"] == 503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(logged.to_string().contains("503"), "{logged}");
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reap the server");

    answering.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut restarted = binary.serve(port).await;
    for _ in 0..500 {
        if bot
            .events()
            .iter()
            .filter(|e| e["id"] == first["id"])
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let same: Vec<Value> = bot
        .events()
        .into_iter()
        .filter(|e| e["id"] == first["id"])
        .collect();
    assert!(
        same.len() >= 2,
        "the pending event came again after the restart: {:?}",
        bot.kinds()
    );
    assert_eq!(
        same[0].to_string(),
        same[1].to_string(),
        "the same event, not a new one"
    );
    let mut delivered = Value::Null;
    for _ in 0..200 {
        delivered = api.call(Method::GET, &log_path, None).await.1;
        if delivered["deliveries"].as_array().is_some_and(|d| {
            d.iter()
                .any(|d| d["event"] == "conversation.assigned" && d["status"] == "delivered")
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        delivered.to_string().contains("\"delivered\""),
        "{delivered}"
    );
    let notes = api.notes(&conversation).await;
    assert!(notes.iter().any(|n| n.contains("HTTP 503")), "{notes:?}");
    restarted.kill().expect("stop the server");
    restarted.wait().expect("reap the server");
    bot.stop().await;
}

#[allow(dead_code)]
#[path = "../../examples/echo_bot.rs"]
mod echo_bot;

#[tokio::test]
async fn the_sample_bot_answers_a_signed_event_and_refuses_a_tampered_one() {
    let secret = "bsec_sample";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let server = echo_bot::server(secret.to_owned(), listener).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    let body =
        json!({"id": "e1", "type": "message.created", "message": {"text": "hello"}}).to_string();
    let now = chrono::Utc::now().timestamp();
    let signature = frontdesk::domain::webhook::signature_header(secret, now, body.as_bytes());
    let client = reqwest::Client::new();
    let post = |signature: String, body: String| {
        client
            .post(&url)
            .header("Frontdesk-Signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let answered = post(signature.clone(), body.clone()).await.expect("post");
    assert_eq!(answered.status().as_u16(), 200);
    let actions: Value = answered.json().await.expect("json");
    assert_eq!(actions["actions"][1]["text"], "You said: hello");
    let tampered = body.replace("hello", "hell0");
    assert_eq!(
        post(signature.clone(), tampered)
            .await
            .expect("post")
            .status()
            .as_u16(),
        401
    );
    let wrong_key =
        frontdesk::domain::webhook::signature_header("bsec_other", now, body.as_bytes());
    assert_eq!(
        post(wrong_key, body.clone())
            .await
            .expect("post")
            .status()
            .as_u16(),
        401
    );
    let stale = frontdesk::domain::webhook::signature_header(secret, now - 3600, body.as_bytes());
    assert_eq!(
        post(stale, body).await.expect("post").status().as_u16(),
        401
    );
    handle.stop(false).await;
}

#[tokio::test]
async fn the_sample_bot_greets_with_buttons_and_hands_over_through_frontdesk() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let avatar = "https://example.com/ava.png";
    let (bot_id, secret, _) = register(
        &api,
        &url,
        json!({"name": "Echo", "label": "Ava", "avatar": avatar}),
    )
    .await;
    let server = echo_bot::server(secret, listener).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "hi").await;
    api.transfer_to_bot(&conversation, &bot_id).await;
    let greeting = bot_message(&mut widget).await;
    assert_eq!(greeting["buttons"][0]["label"], "Talk to a person");
    let author = json!({"kind": "bot", "name": "Ava", "avatar": avatar});
    assert_eq!(
        greeting["author"], author,
        "the widget shows the bot's label and avatar"
    );
    let (_, listed) = api
        .call(
            Method::GET,
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert!(
        listed["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["author"] == author),
        "the API shows the same author: {listed}"
    );
    widget
        .send(json!({"type": "choose", "client_id": "v-3", "button_id": "human"}))
        .await;
    let handed = api
        .conversation_until(&conversation, |c| c["handler"] == "human")
        .await;
    assert_eq!(handed["context"]["topic"], "echo");
    assert_eq!(handed["outcome"], "escalated_to_human");
    handle.stop(false).await;
}

#[tokio::test]
async fn admins_register_a_bot_on_the_bots_page_and_agents_cannot() {
    let app = spawn_app().await;
    let account = app.create_account("Paged").await;
    let owner = app.signed_in(&account.owner_email).await;
    let html = app.get(&owner, "/bots").await.text().await.expect("page");
    assert!(html.contains("href=\"/bots\""), "nav link for owners");
    let response = app
        .post_form(
            &owner,
            "/bots",
            "/bots",
            &[
                ("name", "Page bot"),
                ("url", "https://bots.example.com/hook"),
                ("timeout_ms", "2500"),
                ("label", "Ava"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("page");
    assert!(
        html.contains("data-secret") && html.contains("value=\"bsec_"),
        "secret shown once"
    );
    assert!(html.contains("value=\"fdbot_"), "token shown once");
    let again = app.get(&owner, "/bots").await.text().await.expect("page");
    assert!(
        again.contains("Page bot") && again.contains("2500 ms") && again.contains("shown as Ava")
    );
    assert!(
        !again.contains("value=\"bsec_"),
        "the secret is not shown again"
    );
    let bad = app
        .post_form(
            &owner,
            "/bots",
            "/bots",
            &[("name", ""), ("url", "ftp://x")],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422);

    let agent_email = app
        .create_user(&account, frontdesk::domain::role::Role::Agent)
        .await;
    let agent = app.signed_in(&agent_email).await;
    assert_eq!(app.get(&agent, "/bots").await.status().as_u16(), 403);
    let inbox = app.get(&agent, "/inbox").await.text().await.expect("inbox");
    assert!(!inbox.contains("href=\"/bots\""), "no nav link for agents");
    let token = app.token_for(&agent_email).await;
    let (status, _) = app.call(&token, Method::GET, "/api/v1/bots", None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_routing_rule_sends_new_conversations_to_a_bot_and_its_team_takes_the_handover() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let (_, general) = api
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "General", "shared_queue": true})),
        )
        .await;
    let (_, sales) = api
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Sales", "shared_queue": true})),
        )
        .await;
    let bot = BotServer::start(|event| match event["type"].as_str() {
        Some("conversation.assigned") => {
            Reply::actions(json!([{"type": "message", "text": "Pricing bot here."}]))
        }
        Some("message.created") => {
            Reply::actions(json!([{"type": "handover", "summary": "Wants a quote"}]))
        }
        _ => Reply::nothing(),
    })
    .await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({"name": "Pricing"})).await;
    let (status, rule) = api
        .call(
            Method::POST,
            "/api/v1/routing-rules",
            Some(json!({"name": "Pricing pages",
            "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}],
            "team_id": sales["id"], "target": {"bot_id": bot_id}})),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(rule["target"]["bot_id"], bot_id);
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/routing-rules",
            Some(json!({"name": "x",
            "conditions": [{"field": "url", "op": "contains", "value": "/x"}],
            "team_id": sales["id"], "target": {"bot_id": uuid::Uuid::now_v7()}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // The widget's visitor is on /pricing (sockets.rs `hello`).
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "how much is it?").await;
    let assigned = bot.wait_for("conversation.assigned").await;
    assert_eq!(assigned["message"]["text"], "how much is it?");
    let current = api
        .conversation_until(&conversation, |c| c["handler"] == "bot")
        .await;
    assert_eq!(
        current["team_id"],
        Value::Null,
        "not in a queue while the bot has it"
    );
    assert_eq!(
        current["chatbot_counted"], true,
        "the first message to the bot counts"
    );
    assert_eq!(bot_message(&mut widget).await["text"], "Pricing bot here.");
    widget.say("v-2", "I want a quote").await;
    let handed = api
        .conversation_until(&conversation, |c| c["handler"] == "human")
        .await;
    assert_eq!(handed["team_id"], sales["id"], "{handed}");
    assert_ne!(handed["team_id"], general["id"]);
    assert_eq!(api.used().await, 1);
    bot.stop().await;
}

#[tokio::test]
async fn a_malformed_answer_or_a_disabled_bot_hands_over_with_a_note_naming_the_cause() {
    let app = spawn_app().await;
    let (api, key) = owner_api(&app, PlanCode::Solo).await;
    let bot = BotServer::start(|event| match event["type"].as_str() {
        Some("message.created") => Reply {
            body: "<html>oops</html>".to_owned(),
            ..Reply::nothing()
        },
        _ => Reply::nothing(),
    })
    .await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({"name": "Sloppy"})).await;
    let (mut widget, conversation) = visitor_writes(&app.address, &key, "hi").await;
    api.transfer_to_bot(&conversation, &bot_id).await;
    bot.wait_for("conversation.assigned").await;
    widget.say("v-2", "hello bot").await;
    api.conversation_until(&conversation, |c| c["handler"] == "human")
        .await;
    let notes = api.notes(&conversation).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Sloppy") && n.contains("malformed JSON")),
        "{notes:?}"
    );

    // Disabled: the next conversation handed to it goes to people at the visitor's first word.
    let (status, patched) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/bots/{bot_id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        (status, patched["enabled"].clone()),
        (200, json!(false)),
        "{patched}"
    );
    let (mut other, second) = {
        let mut widget = Socket::open(&app.address, &format!("/ws/widget?key={key}"), None, None)
            .await
            .expect("widget");
        widget.hello(None, None, None).await;
        let ack = widget.say("w-1", "second visitor").await;
        (
            widget,
            ack["conversation_id"].as_str().expect("id").to_owned(),
        )
    };
    let before = bot.events().len();
    let (status, body) = api.transfer_to_bot(&second, &bot_id).await;
    assert_eq!(status, 200, "{body}");
    let handed = api
        .conversation_until(&second, |c| c["handler"] == "human")
        .await;
    assert_eq!(handed["status"], "open");
    let notes = api.notes(&second).await;
    assert!(
        notes.iter().any(|n| n.contains("the bot is disabled")),
        "{notes:?}"
    );
    other.say("w-2", "still there?").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        bot.events()[before..]
            .iter()
            .all(|e| e["type"] != "conversation.assigned" && e["type"] != "message.created"),
        "a disabled bot is not invoked: {:?}",
        bot.kinds()
    );
    bot.stop().await;
}

#[tokio::test]
async fn the_supervisor_page_shows_who_handles_each_conversation_and_the_wait() {
    let app = spawn_app().await;
    let account = app.create_account("Supervised").await;
    let api = Api {
        base: app.address.clone(),
        token: app.token_for(&account.owner_email).await,
    };
    let bot = BotServer::start(|_| Reply::nothing()).await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({"name": "Night shift"})).await;
    let (_, team) = api
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Support", "shared_queue": true})),
        )
        .await;
    let (_first, with_bot) = visitor_writes(&app.address, &account.widget_key, "to the bot").await;
    let (_second, queued) = visitor_writes(&app.address, &account.widget_key, "to people").await;
    api.transfer_to_bot(&with_bot, &bot_id).await;
    let owner = app.signed_in(&account.owner_email).await;
    let html = app
        .get(&owner, "/supervisor")
        .await
        .text()
        .await
        .expect("page");
    let row = |id: &str| {
        let start = html
            .find(&format!("data-conversation=\"{id}\""))
            .expect("row");
        html[start..start + html[start..].find("</tr>").expect("row end")].to_owned()
    };
    assert!(
        row(&with_bot).contains("data-handler=\"bot\"")
            && row(&with_bot).contains("bot Night shift"),
        "{}",
        row(&with_bot)
    );
    assert!(
        row(&queued).contains("queue of Support") && row(&queued).contains("in queue"),
        "{}",
        row(&queued)
    );
    assert_eq!(team["name"], "Support");
    let agent = app
        .create_user(&account, frontdesk::domain::role::Role::Agent)
        .await;
    let agent = app.signed_in(&agent).await;
    assert_eq!(app.get(&agent, "/supervisor").await.status().as_u16(), 403);
    bot.stop().await;
}

/// A routing rule sends `/pricing` visitors to a bot, Ann is the free agent of its team, and
/// one chatbot conversation is left when a visitor writes while another conversation takes
/// it.
struct LastConversationRace {
    app: TestApp,
    api: Api,
    ann: String,
    team: Value,
    bot: BotServer,
    conversation: String,
    _ann_socket: Socket,
    _widget: Socket,
}

async fn a_rule_to_a_bot_races_for_the_last_conversation() -> LastConversationRace {
    use frontdesk::storage::entities::chatbot_usage::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, sea_query::Expr};
    let app = spawn_app().await;
    let account = app.create_account_on("Racing bots", PlanCode::Solo).await;
    let api = Api {
        base: app.address.clone(),
        token: app.token_for(&account.owner_email).await,
    };
    // One free slot: routed once, the conversation is Ann's; routed a second time in the same
    // transaction, Ann is full of it and it goes back to the queue.
    let (ann, ann_socket) = crate::routing::online_agent(&app, &account, 1).await;
    let (status, team) = api
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Support", "members": [ann], "shared_queue": false})),
        )
        .await;
    assert_eq!(status, 201, "{team}");
    let bot = BotServer::start(|_| Reply::nothing()).await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({"name": "Racer"})).await;
    let (status, rule) = api
        .call(
            Method::POST,
            "/api/v1/routing-rules",
            Some(json!({"name": "Pricing to the bot",
            "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}],
            "team_id": team["id"], "target": {"bot_id": bot_id}})),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    crate::billing::leave(&app, account.account_id, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // Ann's presence registered

    // Another conversation takes the last chatbot conversation in a transaction that is still
    // open while the visitor writes: on PostgreSQL the visitor's write sees one left, gives the
    // conversation to the bot, and loses the count when that transaction commits (the bot
    // hands over, "Chatbot limit reached"); on SQLite, where writes take turns, it waits and
    // sees none left.
    let holder = frontdesk::storage::begin_write(&app.ctx.db)
        .await
        .expect("begin");
    Entity::update_many()
        .col_expr(Column::Used, Expr::col(Column::Used).add(1))
        .filter(Column::AccountId.eq(account.account_id.as_uuid()))
        .exec(&holder)
        .await
        .expect("use the last conversation");
    let (address, key) = (app.address.clone(), account.widget_key.clone());
    let writing =
        tokio::spawn(async move { visitor_writes(&address, &key, "how much is it?").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    holder.commit().await.expect("commit");
    let (widget, conversation) = writing.await.expect("visitor");
    LastConversationRace {
        app,
        api,
        ann,
        team,
        bot,
        conversation,
        _ann_socket: ann_socket,
        _widget: widget,
    }
}

#[tokio::test]
async fn a_rule_to_a_bot_that_loses_the_last_conversation_routes_the_visitor_to_people_once() {
    // Bound by name, not `..`: the app and the sockets must live to the end of the test.
    let LastConversationRace {
        app: _app,
        api,
        ann,
        team,
        bot,
        conversation,
        _ann_socket,
        _widget,
    } = a_rule_to_a_bot_races_for_the_last_conversation().await;

    // Routed in the visitor's write: it is placed once the write is acknowledged.
    let current = api.conversation(&conversation).await;
    assert_ne!(current["handler"], "bot", "{current}");
    assert_eq!(
        (
            current["assignee"]["id"].clone(),
            current["queued_at"].clone()
        ),
        (json!(ann), Value::Null),
        "routed once, to the free agent, not queued again: {current}"
    );
    assert_eq!(current["team_id"], team["id"]);
    assert_eq!(current["chatbot_counted"], false);
    // Not even `conversation.handed_over`: the bot never heard of the conversation.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        bot.events().is_empty(),
        "the bot is not invoked: {:?}",
        bot.kinds()
    );
    bot.stop().await;
}

/// Whether the agents' note "Chatbot limit reached" is in the conversation.
async fn limit_reached_noted(api: &Api, conversation: &str) -> bool {
    let (status, messages) = api
        .call(
            Method::GET,
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{messages}");
    messages
        .as_array()
        .or_else(|| messages["messages"].as_array())
        .expect("messages")
        .iter()
        .any(|message| message["text"] == frontdesk::services::chatbot::LIMIT_REACHED_NOTE)
}

#[tokio::test]
async fn a_rule_to_a_bot_that_loses_the_last_conversation_marks_it_escalated_to_human() {
    let race = a_rule_to_a_bot_races_for_the_last_conversation().await;
    let current = race.api.conversation(&race.conversation).await;
    assert_eq!(current["chatbot_counted"], false, "{current}");
    if limit_reached_noted(&race.api, &race.conversation).await {
        // The bot took the conversation and lost the count (PostgreSQL, as a flow's first
        // click can): the outcome is a flow's then (rule 8), though nothing was counted.
        assert_eq!(current["outcome"], "escalated_to_human", "{current}");
    } else {
        // The write found nothing left first (SQLite, where writes take turns): the bot never
        // had the conversation, as no flow triggers then, so there is no outcome.
        assert_eq!(current["outcome"], Value::Null, "{current}");
    }
    race.bot.stop().await;
}

#[tokio::test]
async fn a_bot_given_the_conversation_that_finds_the_limit_reached_marks_it_escalated_to_human() {
    let app = spawn_app().await;
    let account = app.create_account_on("Late bot", PlanCode::Solo).await;
    let api = Api {
        base: app.address.clone(),
        token: app.token_for(&account.owner_email).await,
    };
    let bot = BotServer::start(|_| Reply::nothing()).await;
    let (bot_id, _, _) = register(&api, &bot.url, json!({"name": "Late"})).await;
    crate::billing::leave(&app, account.account_id, 1).await;
    let (mut widget, conversation) =
        visitor_writes(&app.address, &account.widget_key, "hello?").await;
    let (status, body) = api.transfer_to_bot(&conversation, &bot_id).await;
    assert_eq!(status, 200, "{body}");
    // Another conversation takes the last one before the visitor answers the bot.
    crate::billing::leave(&app, account.account_id, 0).await;
    widget.say("v-2", "is anyone there?").await;
    let current = api
        .conversation_until(&conversation, |row| row["handler"] != "bot")
        .await;
    assert!(limit_reached_noted(&api, &conversation).await);
    assert_eq!(current["chatbot_counted"], false, "{current}");
    assert_eq!(current["outcome"], "escalated_to_human", "{current}");
    bot.stop().await;
}

#[tokio::test]
async fn a_supervisor_socket_gets_the_accounts_events_without_taking_conversations() {
    let app = spawn_app().await;
    let account = app.create_account("Watched").await;
    let api = Api {
        base: app.address.clone(),
        token: app.token_for(&account.owner_email).await,
    };
    let owner = app.user_id(&account.owner_email).await.to_string();
    let (status, team) = api
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Support", "members": [owner], "shared_queue": false})),
        )
        .await;
    assert_eq!(status, 201, "{team}");
    let cookie = crate::agent_socket::session_cookie(&app, &account.owner_email).await;
    let mut watcher = Socket::open(
        &app.address,
        "/ws/agent?watch=1",
        Some(&app.address),
        Some(&cookie),
    )
    .await
    .expect("supervisor socket");
    tokio::time::sleep(Duration::from_millis(300)).await; // as an inbox's presence would register
    let (_widget, conversation) =
        visitor_writes(&app.address, &account.widget_key, "anyone there?").await;
    let frame = watcher.recv_type("conversation").await;
    assert_eq!(frame["id"], conversation.as_str());
    let current = api.conversation(&conversation).await;
    assert_eq!(
        (current["assignee"].clone(), current["team_id"].clone()),
        (Value::Null, team["id"].clone()),
        "watching does not make the owner available: {current}"
    );
    assert!(current["queued_at"].is_string(), "{current}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_bots_shapes() {
    let app = spawn_app().await;
    let doc = crate::api_errors::openapi_document(&app).await;
    for (path, method) in [
        ("/api/v1/bots", "post"),
        ("/api/v1/bots/{id}", "patch"),
        ("/api/v1/bots/{id}/deliveries", "get"),
        ("/api/v1/conversations/{id}/bot-actions", "post"),
        ("/api/v1/conversations/{id}/transfer", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} documented"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> Vec<String> {
        schemas[name]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    for (schema, field) in [
        ("BotView", "label"),
        ("BotView", "avatar"),
        ("CreatedBot", "secret"),
        ("Author", "avatar"),
        ("TransferBody", "bot_id"),
        ("RuleView", "target"),
    ] {
        let fields = properties(schema);
        let flattened = schemas[schema].to_string();
        assert!(
            fields.iter().any(|f| f == field) || flattened.contains(&format!("\"{field}\"")),
            "{schema}.{field} documented: {}",
            schemas[schema]
        );
    }
    let actions = schemas["BotActionSchema"].to_string();
    for kind in ["message", "typing", "handover", "end", "transfer"] {
        assert!(
            actions.contains(&format!("\"{kind}\"")),
            "action {kind}: {actions}"
        );
    }
}
