//! DESIGN section 2, rules 1 to 5, through the widget socket: a trigger alone counts nothing;
//! the first click counts once and labels; typing first is a normal conversation; handover
//! and agent replies escalate; `end` and inactivity resolve by chatbot. Also `collect`,
//! stale and unknown buttons, concurrent clicks, and FREE triggering nothing.

use crate::{
    helpers::{TestAccount, TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
};
use frontdesk::domain::plan::PlanCode;
use reqwest::Method;
use serde_json::{Value, json};

pub fn support_flow() -> Value {
    json!({
      "name": "Support", "priority": 10, "welcome": "Hi! Can I help?",
      "trigger": {"when": {"type": "delay", "seconds": 0}},
      "start": "menu",
      "steps": {
        "menu": {"type": "message", "text": "What do you need?", "buttons": [
            {"id": "price", "label": "Pricing", "next": "pricing"},
            {"id": "mail", "label": "Email me", "next": "email"},
            {"id": "human", "label": "Talk to a person", "next": "handover"},
            {"id": "docs", "label": "Docs", "url": "https://example.com/docs"}]},
        "pricing": {"type": "message", "text": "Plans start at 19.", "buttons": [
            {"id": "back", "label": "Back", "next": "menu"},
            {"id": "done", "label": "That helped", "next": "bye"}]},
        "email": {"type": "collect", "field": "email", "prompt": "Your email?", "next": "tagit"},
        "tagit": {"type": "tag", "tags": ["lead"], "next": "handover"},
        "handover": {"type": "handover", "message": "Connecting you.", "context": {"topic": "sales"}},
        "bye": {"type": "end", "message": "Glad I could help!"}
      }
    })
}

pub struct Bot {
    pub app: TestApp,
    pub account: TestAccount,
    pub token: String,
    pub flow_id: String,
}

pub async fn create_flow(app: &TestApp, token: &str, flow: &Value) -> String {
    let response = app
        .api(token, Method::POST, "/api/v1/flows")
        .json(flow)
        .send()
        .await
        .expect("POST flow");
    assert_eq!(response.status().as_u16(), 201, "flow created");
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

async fn bot_on(app: TestApp, plan: PlanCode) -> Bot {
    let account = app.create_account_on("Acme", plan).await;
    let token = app.token_for(&account.owner_email).await;
    let flow_id = create_flow(&app, &token, &support_flow()).await;
    Bot {
        app,
        account,
        token,
        flow_id,
    }
}

async fn bot() -> Bot {
    bot_on(spawn_app().await, PlanCode::Solo).await
}

impl Bot {
    async fn get(&self, path: &str) -> Value {
        let response = self
            .app
            .api(&self.token, Method::GET, path)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    async fn conversation(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/conversations/{id}")).await
    }

    async fn messages(&self, id: &str) -> Vec<Value> {
        self.get(&format!("/api/v1/conversations/{id}/messages"))
            .await["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn listed(&self) -> Vec<Value> {
        self.get("/api/v1/conversations").await["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn counted(&self) -> u64 {
        frontdesk::storage::chatbot::count_since(
            &self.app.ctx.db,
            self.account.account_id.as_uuid(),
            chrono::DateTime::UNIX_EPOCH,
        )
        .await
        .expect("count")
    }

    /// A visitor whose widget connected and whose flow triggered; answers the socket, the
    /// welcome and the conversation id (from the bot's first message).
    async fn triggered(&self) -> (Socket, Value, String) {
        let mut widget = Socket::widget(&self.app, &self.account.widget_key).await;
        let welcome = widget.hello(None, None, None).await;
        widget
            .send(json!({"type": "trigger", "flow_id": self.flow_id}))
            .await;
        let greeting = widget.recv_type("message").await;
        assert_eq!(greeting["welcome"], true, "the welcome comes first");
        assert_eq!(greeting["author"]["kind"], "bot");
        let conversation_id = greeting["conversation_id"].as_str().expect("id").to_owned();
        let menu = widget.recv_type("message").await;
        assert_eq!(menu["step_id"], "menu");
        (widget, welcome, conversation_id)
    }
}

/// The bot's next message (the widget also hears its own messages echoed).
async fn bot_says(widget: &mut Socket) -> Value {
    loop {
        let frame = widget.recv_type("message").await;
        if frame["author"]["kind"] == "bot" {
            return frame;
        }
    }
}

/// Sends `choose` and answers the ack (or the error), then the bot's next message, if any.
async fn choose(widget: &mut Socket, client_id: &str, button_id: &str) -> Value {
    widget
        .send(json!({"type": "choose", "client_id": client_id, "button_id": button_id}))
        .await;
    loop {
        let frame = widget.recv().await;
        if (frame["type"] == "ack" || frame["type"] == "error") && frame["client_id"] == client_id {
            return frame;
        }
    }
}

#[tokio::test]
async fn rule_1_a_trigger_alone_counts_nothing_and_stays_out_of_the_inbox() {
    let bot = bot().await;
    let mut widget = Socket::widget(&bot.app, &bot.account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    assert_eq!(
        welcome["triggers"],
        json!([{"flow_id": bot.flow_id, "when": {"type": "delay", "seconds": 0}}]),
        "the eligible flow arrives with its `when`"
    );
    widget.close().await;
    let (_widget, _, conversation_id) = bot.triggered().await;
    assert_eq!(bot.counted().await, 0, "triggering uses no quota");
    assert!(
        bot.listed().await.is_empty(),
        "nothing the visitor did yet: kept out of the inbox"
    );
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["labels"], json!([]));
    assert_eq!(conversation["handler"], "bot");
    assert_eq!(conversation["outcome"], Value::Null);
}

#[tokio::test]
async fn rules_2_and_3_the_first_click_counts_once_and_labels_however_many_clicks_and_flows() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    let ack = choose(&mut widget, "c-1", "price").await;
    assert_eq!(ack["type"], "ack");
    let next = bot_says(&mut widget).await;
    assert_eq!(next["step_id"], "pricing");
    assert_eq!(
        next["buttons"],
        json!([{"id": "back", "label": "Back"}, {"id": "done", "label": "That helped"}])
    );
    let labelled = widget.recv_type("conversation").await;
    assert_eq!(labelled["labels"], json!(["joined_by_chatbot"]));
    assert_eq!(bot.counted().await, 1);
    for (n, button) in ["back", "price", "back", "docs", "price"]
        .iter()
        .enumerate()
    {
        let ack = choose(&mut widget, &format!("c-{}", n + 2), button).await;
        assert_eq!(ack["type"], "ack", "{button}: {ack}");
    }
    widget.drain().await;
    // A second flow in the same conversation replaces the first and counts nothing more.
    let second = create_flow(
        &bot.app,
        &bot.token,
        &json!({"name": "Second", "start": "hi", "steps": {
            "hi": {"type": "message", "text": "Another bot", "buttons": [{"id": "ok", "label": "OK", "next": "hi"}]}}}),
    )
    .await;
    widget
        .send(json!({"type": "trigger", "flow_id": second}))
        .await;
    let hi = bot_says(&mut widget).await;
    assert_eq!(hi["step_id"], "hi");
    assert_eq!(hi["conversation_id"], conversation_id, "same conversation");
    assert_eq!(choose(&mut widget, "c-9", "ok").await["type"], "ack");
    assert_eq!(bot.counted().await, 1, "one conversation, counted once");

    let listed = bot.listed().await;
    assert_eq!(listed.len(), 1, "a click starts the conversation");
    assert_eq!(listed[0]["labels"], json!(["joined_by_chatbot"]));
    assert_eq!(listed[0]["chatbot_counted"], true);
    let messages = bot.messages(&conversation_id).await;
    let first_choice = messages
        .iter()
        .find(|m| m["client_id"] == "c-1")
        .expect("the click is a message");
    assert_eq!(
        first_choice["text"], "Pricing",
        "stored as the button's label"
    );
    assert_eq!(first_choice["choice"], "price");
    assert_eq!(first_choice["author"]["kind"], "visitor");
}

#[tokio::test]
async fn rule_4_typing_before_any_click_is_a_normal_conversation_escalated_to_human() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    let ack = widget.say("t-1", "can I talk to someone?").await;
    assert_eq!(ack["conversation_id"], conversation_id);
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["labels"], json!([]), "no label");
    assert_eq!(conversation["chatbot_counted"], false);
    assert_eq!(conversation["outcome"], "escalated_to_human");
    assert_eq!(conversation["handler"], "human");
    assert_eq!(bot.counted().await, 0);
    // The bot stopped: its buttons are stale now, and the next message is just a message.
    assert_eq!(
        choose(&mut widget, "t-2", "price").await["code"],
        "stale_button"
    );
    widget.say("t-3", "hello?").await;
    assert_eq!(bot.counted().await, 0);
    let note = bot
        .messages(&conversation_id)
        .await
        .into_iter()
        .find(|m| m["author"]["kind"] == "system")
        .expect("a note for agents");
    assert_eq!(note["internal"], true, "agents only");
}

#[tokio::test]
async fn rule_5_clicks_then_a_handover_step_are_counted_and_escalated_with_context() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    choose(&mut widget, "h-1", "price").await;
    choose(&mut widget, "h-2", "back").await;
    assert_eq!(choose(&mut widget, "h-3", "human").await["type"], "ack");
    let said = bot_says(&mut widget).await;
    assert_eq!(said["text"], "Connecting you.");
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["outcome"], "escalated_to_human");
    assert_eq!(conversation["handler"], "human");
    assert_eq!(conversation["labels"], json!(["joined_by_chatbot"]));
    assert_eq!(conversation["context"], json!({"topic": "sales"}));
    assert_eq!(bot.counted().await, 1, "escalated stays counted");
    let note = bot
        .messages(&conversation_id)
        .await
        .into_iter()
        .find(|m| m["author"]["kind"] == "system")
        .expect("summary");
    let text = note["text"].as_str().expect("text");
    assert!(
        text.contains("Pricing → Back → Talk to a person") && text.contains("topic=sales"),
        "{text}"
    );
    // The widget never sees the note.
    assert!(
        widget
            .gets_within("message", std::time::Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn rule_5_clicks_then_an_end_step_are_resolved_by_chatbot() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    choose(&mut widget, "e-1", "price").await;
    choose(&mut widget, "e-2", "done").await;
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["status"], "resolved");
    assert_eq!(conversation["outcome"], "resolved_by_chatbot");
    assert_eq!(bot.counted().await, 1);
    let filtered = bot
        .get("/api/v1/conversations?outcome=resolved_by_chatbot")
        .await;
    assert_eq!(filtered["conversations"].as_array().map(Vec::len), Some(1));
    let none = bot
        .get("/api/v1/conversations?outcome=escalated_to_human")
        .await;
    assert_eq!(none["conversations"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn rule_5_clicks_then_leaving_past_the_inactivity_timeout_resolve_by_chatbot() {
    let bot = bot_on(
        spawn_app_with(|settings| settings.test_clock = true).await,
        PlanCode::Solo,
    )
    .await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    choose(&mut widget, "i-1", "price").await;
    widget.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(31);
    let response = bot
        .app
        .api(&bot.token, Method::POST, "/api/v1/test-clock")
        .json(&json!({"now": later.to_rfc3339()}))
        .send()
        .await
        .expect("clock");
    assert_eq!(response.status().as_u16(), 200);
    let resolved = frontdesk::services::conversations::resolve_inactive(
        &bot.app.ctx,
        chrono::Duration::minutes(30),
    )
    .await
    .expect("job");
    assert_eq!(resolved, 1);
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["status"], "resolved");
    assert_eq!(conversation["outcome"], "resolved_by_chatbot");
}

#[tokio::test]
async fn rule_5_an_agent_writing_while_the_bot_is_active_escalates() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    choose(&mut widget, "a-1", "price").await;
    let response = bot
        .app
        .api(
            &bot.token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .json(&json!({"client_id": "agent-1", "text": "Hi, I'm Jana. Can I help?"}))
        .send()
        .await
        .expect("reply");
    assert_eq!(response.status().as_u16(), 201);
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["outcome"], "escalated_to_human");
    assert_eq!(conversation["handler"], "human");
    assert_eq!(conversation["labels"], json!(["joined_by_chatbot"]));
    // The bot is no longer running; resolving later keeps the escalation.
    assert_eq!(
        choose(&mut widget, "a-2", "back").await["code"],
        "stale_button"
    );
    let response = bot
        .app
        .api(
            &bot.token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
        )
        .send()
        .await
        .expect("resolve");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        bot.conversation(&conversation_id).await["outcome"],
        "escalated_to_human"
    );
}

#[tokio::test]
async fn an_agent_resolving_a_bot_conversation_without_writing_is_resolved_by_chatbot() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    choose(&mut widget, "r-1", "price").await;
    let response = bot
        .app
        .api(
            &bot.token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
        )
        .send()
        .await
        .expect("resolve");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        bot.conversation(&conversation_id).await["outcome"],
        "resolved_by_chatbot"
    );
}

#[tokio::test]
async fn collect_reprompts_invalid_answers_then_stores_tags_and_hands_over() {
    let bot = bot().await;
    let (mut widget, welcome, conversation_id) = bot.triggered().await;
    choose(&mut widget, "m-1", "mail").await;
    let prompt = bot_says(&mut widget).await;
    assert_eq!(prompt["text"], "Your email?");
    widget.say("m-2", "not an email").await;
    let again = bot_says(&mut widget).await;
    assert!(
        again["text"]
            .as_str()
            .is_some_and(|t| t.contains("does not look like an email") && t.contains("Your email?")),
        "{again}"
    );
    widget.say("m-3", "Eva@Example.com").await;
    let said = bot_says(&mut widget).await;
    assert_eq!(said["text"], "Connecting you.");
    let conversation = bot.conversation(&conversation_id).await;
    assert_eq!(conversation["visitor"]["email"], "eva@example.com");
    assert_eq!(conversation["tags"], json!(["lead"]));
    assert_eq!(conversation["outcome"], "escalated_to_human");
    assert_eq!(bot.counted().await, 1);
    assert!(welcome["visitor_token"].is_string());
}

#[tokio::test]
async fn stale_and_unknown_buttons_get_errors_and_change_nothing() {
    let bot = bot().await;
    let (mut widget, _, conversation_id) = bot.triggered().await;
    choose(&mut widget, "s-1", "price").await;
    bot_says(&mut widget).await;
    widget
        .send(
            json!({"type": "choose", "client_id": "s-2", "button_id": "human", "step_id": "menu"}),
        )
        .await;
    let error = widget.recv_type("error").await;
    assert_eq!(error["code"], "stale_button");
    assert_eq!(error["client_id"], "s-2");
    assert_eq!(
        choose(&mut widget, "s-3", "nope").await["code"],
        "unknown_button"
    );
    let before = bot.messages(&conversation_id).await.len();
    // A resend of the first click answers with the original and runs nothing again.
    let resend = choose(&mut widget, "s-1", "price").await;
    assert_eq!(resend["type"], "ack");
    assert_eq!(bot.messages(&conversation_id).await.len(), before);
    // A trigger for a flow that is not the account's is refused.
    widget
        .send(json!({"type": "trigger", "flow_id": uuid::Uuid::now_v7().to_string()}))
        .await;
    assert_eq!(widget.recv_type("error").await["code"], "not_eligible");
}

#[tokio::test]
async fn concurrent_clicks_from_two_tabs_advance_once_and_count_once() {
    let bot = bot().await;
    let (mut first, welcome, _) = bot.triggered().await;
    let token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let mut second = Socket::widget(&bot.app, &bot.account.widget_key).await;
    second.hello(Some(&token), None, None).await;
    first.drain().await;
    second.drain().await;
    first
        .send(json!({"type": "choose", "client_id": "x-1", "button_id": "price"}))
        .await;
    second
        .send(json!({"type": "choose", "client_id": "x-2", "button_id": "price"}))
        .await;
    let mut outcomes = Vec::new();
    for (socket, client_id) in [(&mut first, "x-1"), (&mut second, "x-2")] {
        loop {
            let frame = socket.recv().await;
            if frame["client_id"] == client_id
                && (frame["type"] == "ack" || frame["type"] == "error")
            {
                outcomes.push(frame["type"].as_str().unwrap_or_default().to_owned());
                break;
            }
        }
    }
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["ack", "error"],
        "one click advanced, the other was stale"
    );
    assert_eq!(bot.counted().await, 1);
}

#[tokio::test]
async fn a_plan_without_chatbot_conversations_triggers_nothing() {
    let bot = bot_on(spawn_app().await, PlanCode::Free).await;
    let mut widget = Socket::widget(&bot.app, &bot.account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    assert_eq!(welcome["triggers"], json!([]));
    widget
        .send(json!({"type": "trigger", "flow_id": bot.flow_id}))
        .await;
    assert_eq!(widget.recv_type("error").await["code"], "not_eligible");
    assert_eq!(bot.counted().await, 0);
}

#[tokio::test]
async fn an_agents_follow_up_after_the_bot_resolved_does_not_rewrite_the_outcome() {
    let bot = bot().await;
    let mut widget = Socket::widget(&bot.app, &bot.account.widget_key).await;
    widget.hello(None, None, None).await;
    // Flow A shows and is ignored; flow B replaces it and the visitor clicks through to its end.
    let ignored = create_flow(
        &bot.app,
        &bot.token,
        &json!({"name": "Ignored", "start": "hi", "steps": {
            "hi": {"type": "message", "text": "Anything?", "buttons": [{"id": "x", "label": "X", "next": "hi"}]}}}),
    )
    .await;
    widget
        .send(json!({"type": "trigger", "flow_id": ignored}))
        .await;
    let first = bot_says(&mut widget).await;
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();
    widget
        .send(json!({"type": "trigger", "flow_id": bot.flow_id}))
        .await;
    loop {
        if bot_says(&mut widget).await["step_id"] == "menu" {
            break;
        }
    }
    choose(&mut widget, "f-1", "price").await;
    choose(&mut widget, "f-2", "done").await;
    assert_eq!(
        bot.conversation(&conversation_id).await["outcome"],
        "resolved_by_chatbot"
    );
    let response = bot
        .app
        .api(
            &bot.token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .json(&json!({"client_id": "follow-up", "text": "Anything else we can do?"}))
        .send()
        .await
        .expect("reply");
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        bot.conversation(&conversation_id).await["outcome"],
        "resolved_by_chatbot",
        "the bot was not active when the agent wrote"
    );
    let insights: Value = bot
        .app
        .api(&bot.token, Method::GET, "/api/v1/chatbot/insights")
        .send()
        .await
        .expect("insights")
        .json()
        .await
        .expect("json");
    assert_eq!(insights["total"]["resolved_by_chatbot"], 1);
    assert_eq!(insights["total"]["no_interaction"], 1, "the ignored flow");
    assert_eq!(insights["total"]["escalated_to_human"], 0);
}
