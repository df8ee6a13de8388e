//! The Chatbot section's pages: the flow list (new, import, export, enable, duplicate as
//! translation, delete), the flow editor's one form for the whole flow, and the preview, which
//! runs the flow without writing anything.

use crate::helpers::{TestApp, csrf_from, spawn_app};
use frontdesk::domain::role::Role;
use reqwest::{Client, Method, Response};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

fn support_flow() -> Value {
    json!({
      "name": "Support", "enabled": true, "priority": 10,
      "welcome": "Hi! Can I help you find something?",
      "trigger": {
        "when": {"type": "delay", "seconds": 5},
        "where": {"match": "any", "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}]},
        "audience": {"visitors": "all", "languages": ["en"], "devices": ["desktop", "mobile"]},
        "schedule": {"agents": "any", "business_hours": "any"},
        "frequency": "once_per_session"
      },
      "start": "menu",
      "steps": {
        "menu": {"type": "message", "text": "What do you need?", "buttons": [
            {"id": "price", "label": "Pricing", "next": "pricing"},
            {"id": "human", "label": "Talk to a person", "next": "handover"}]},
        "pricing": {"type": "message", "text": "Plans start at ...", "buttons": [
            {"id": "back", "label": "Back", "next": "menu"},
            {"id": "done", "label": "That helped", "next": "bye"},
            {"id": "docs", "label": "Open docs", "url": "https://example.com/docs"}]},
        "email": {"type": "collect", "field": "email", "prompt": "Your email?", "next": "handover"},
        "tagit": {"type": "tag", "tags": ["pricing"], "next": "menu"},
        "handover": {"type": "handover", "message": "Connecting you to our team.", "context": {"topic": "sales"}},
        "bye": {"type": "end", "message": "Glad I could help!"}
      }
    })
}

/// Every step type, each reachable: like the demo shop's flow.
fn every_step_flow() -> Value {
    json!({
        "name": "Shop assistant", "enabled": true, "priority": 5,
        "welcome": "Hi! Looking for the right tea?",
        "start": "menu",
        "steps": {
            "menu": {"type": "message", "text": "What can I help you with?", "buttons": [
                {"id": "shipping", "label": "Shipping times", "next": "shipping"},
                {"id": "wholesale", "label": "Wholesale orders", "next": "tag_wholesale"},
                {"id": "human", "label": "Talk to a person", "next": "handover"}]},
            "shipping": {"type": "message", "text": "We ship within 2 working days.", "buttons": [
                {"id": "back", "label": "Back", "next": "menu"},
                {"id": "thanks", "label": "That helped", "next": "bye"},
                {"id": "policy", "label": "Shipping policy", "url": "https://example.com/shipping"}]},
            "tag_wholesale": {"type": "tag", "tags": ["wholesale"], "next": "email"},
            "email": {"type": "collect", "field": "email", "prompt": "Which email should we write to?", "next": "handover_sales"},
            "handover_sales": {"type": "handover", "message": "Our sales team takes it from here.", "context": {"topic": "wholesale"}},
            "handover": {"type": "handover", "message": "Connecting you.", "context": {"topic": "support"}},
            "bye": {"type": "end", "message": "Enjoy your tea!"}
        }
    })
}

struct Admin {
    app: TestApp,
    client: Client,
    token: String,
}

async fn owner_of_acme() -> Admin {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let client = app.signed_in(&account.owner_email).await;
    Admin { app, client, token }
}

impl Admin {
    async fn create_flow(&self, flow: &Value) -> String {
        let created = self
            .app
            .api(&self.token, Method::POST, "/api/v1/flows")
            .json(flow)
            .send()
            .await
            .expect("POST");
        assert_eq!(created.status().as_u16(), 201);
        let body: Value = created.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn flow_json(&self, id: &str) -> Value {
        self.app
            .api(&self.token, Method::GET, &format!("/api/v1/flows/{id}"))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json")
    }

    async fn flows(&self) -> Vec<Value> {
        let body: Value = self
            .app
            .api(&self.token, Method::GET, "/api/v1/flows")
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        body["flows"].as_array().expect("flows").clone()
    }

    async fn page(&self, path: &str) -> String {
        let response = self.app.get(&self.client, path).await;
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.text().await.expect("html")
    }

    async fn post(&self, path: &str, fields: &[(String, String)]) -> Response {
        self.client
            .post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    /// The editor's form as a browser would send it, read from the page.
    async fn editor_fields(&self, id: &str) -> Vec<(String, String)> {
        let html = self.page(&format!("/chatbot/flows/{id}")).await;
        form_fields(&html, &format!("/chatbot/flows/{id}"))
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let pattern = regex::Regex::new(&format!(r#"\s{name}="([^"]*)""#)).expect("regex");
    pattern.captures(tag).map(|c| unescape(&c[1]))
}

/// The successful controls of the form posting to `action` (inputs, textareas, selects), as
/// a browser would submit them without pressing any button.
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("action=\"{action}\""))
        .expect("the form is on the page");
    let end = html[start..].find("</form>").expect("form end") + start;
    let form = &html[start..end];
    let mut fields = Vec::new();
    let controls = regex::Regex::new(
        r"(?s)<input\b[^>]*>|<textarea\b([^>]*)>(.*?)</textarea>|<select\b([^>]*)>(.*?)</select>",
    )
    .expect("regex");
    let option = regex::Regex::new(r"<option\b[^>]*>").expect("regex");
    for control in controls.captures_iter(form) {
        let whole = &control[0];
        if whole.starts_with("<input") {
            let Some(name) = attribute(whole, "name") else {
                continue;
            };
            let kind = attribute(whole, "type").unwrap_or_else(|| "text".to_owned());
            if (kind == "checkbox" || kind == "radio") && !whole.contains(" checked") {
                continue;
            }
            fields.push((name, attribute(whole, "value").unwrap_or_default()));
        } else if let (Some(attrs), Some(body)) = (control.get(1), control.get(2)) {
            if let Some(name) = attribute(attrs.as_str(), "name") {
                fields.push((name, unescape(body.as_str())));
            }
        } else if let (Some(attrs), Some(body)) = (control.get(3), control.get(4)) {
            let Some(name) = attribute(attrs.as_str(), "name") else {
                continue;
            };
            let options: Vec<&str> = option
                .find_iter(body.as_str())
                .map(|m| m.as_str())
                .collect();
            let chosen = options
                .iter()
                .find(|o| o.contains(" selected"))
                .or(options.first())
                .and_then(|o| attribute(o, "value"))
                .unwrap_or_default();
            fields.push((name, chosen));
        }
    }
    fields
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(field) => field.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name}"))
}

/// The form index of a step, from its hidden id field.
fn step_index(fields: &[(String, String)], id: &str) -> usize {
    let name = fields
        .iter()
        .find(|(n, v)| {
            n.starts_with("step.") && n.ends_with(".id") && v == id && n.matches('.').count() == 2
        })
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| panic!("no step {id}"));
    name.split('.')
        .nth(1)
        .expect("index")
        .parse()
        .expect("number")
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn with_op(mut fields: Vec<(String, String)>, op: &str) -> Vec<(String, String)> {
    fields.push(("op".to_owned(), op.to_owned()));
    fields
}

fn without_times(mut flow: Value) -> Value {
    if let Value::Object(map) = &mut flow {
        for key in ["id", "created_at", "updated_at"] {
            map.remove(key);
        }
    }
    flow
}

#[tokio::test]
async fn new_flow_creates_a_valid_starter_and_opens_its_editor() {
    let admin = owner_of_acme().await;
    let list = admin.page("/chatbot").await;
    let csrf = csrf_from(&list);
    let response = admin
        .post("/chatbot/flows", &[("csrf_token".to_owned(), csrf)])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let to = location(&response);
    assert!(to.starts_with("/chatbot/flows/"), "{to}");
    let id = to
        .trim_start_matches("/chatbot/flows/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();

    let editor = admin.page(&to).await;
    assert!(editor.contains("New flow") && editor.contains("<svg class=\"flow-graph\""));
    let stored = admin.flow_json(&id).await;
    assert_eq!(
        stored["enabled"], false,
        "a new flow waits until it is enabled"
    );
    assert_eq!(
        stored["steps"][stored["start"].as_str().expect("start")]["type"],
        "message"
    );
    let button = &stored["steps"]["hello"]["buttons"][0];
    assert_eq!(
        stored["steps"][button["next"].as_str().expect("next")]["type"],
        "end"
    );
    assert!(
        admin
            .page("/chatbot")
            .await
            .contains(&format!("/chatbot/flows/{id}"))
    );
}

#[tokio::test]
async fn a_step_and_a_button_are_edited_through_the_form() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let before = admin.flow_json(&id).await;
    let mut fields = admin.editor_fields(&id).await;
    let menu = step_index(&fields, "menu");
    assert_eq!(
        get(&fields, &format!("step.{menu}.text")),
        "What do you need?"
    );
    set(
        &mut fields,
        &format!("step.{menu}.text"),
        "How can we help? <b>today</b>",
    );
    set(
        &mut fields,
        &format!("step.{menu}.button.1.label"),
        "A human, please",
    );
    set(&mut fields, &format!("step.{menu}.button.1.next"), "email");
    let response = admin
        .post(&format!("/chatbot/flows/{id}"), &with_op(fields, "save"))
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), format!("/chatbot/flows/{id}?saved=1"));

    let stored = admin.flow_json(&id).await;
    assert_eq!(
        stored["steps"]["menu"]["text"],
        "How can we help? <b>today</b>"
    );
    assert_eq!(
        stored["steps"]["menu"]["buttons"][1],
        json!({"id": "human", "label": "A human, please", "next": "email"})
    );
    let mut expected = without_times(before);
    expected["steps"]["menu"]["text"] = json!("How can we help? <b>today</b>");
    expected["steps"]["menu"]["buttons"][1] =
        json!({"id": "human", "label": "A human, please", "next": "email"});
    assert_eq!(without_times(stored), expected, "nothing else changed");

    let editor = admin.page(&format!("/chatbot/flows/{id}?saved=1")).await;
    assert!(editor.contains("Saved."));
    assert!(!editor.contains("<b>today</b>"), "the text is escaped");
}

#[tokio::test]
async fn steps_buttons_and_conditions_are_added_and_removed_before_one_save() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let path = format!("/chatbot/flows/{id}");
    let before = admin.flow_json(&id).await;

    // Add a step: the form comes back with it, nothing stored yet.
    let mut fields = admin.editor_fields(&id).await;
    set(&mut fields, "new_step_id", "faq");
    set(&mut fields, "new_step_type", "message");
    let response = admin.post(&path, &with_op(fields, "add_step")).await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("Not saved yet"));
    assert_eq!(admin.flow_json(&id).await, before, "nothing stored");
    let mut fields = form_fields(&html, &path);
    let faq = step_index(&fields, "faq");
    set(&mut fields, &format!("step.{faq}.text"), "Questions?");
    set(&mut fields, &format!("step.{faq}.button.0.id"), "bye");
    set(
        &mut fields,
        &format!("step.{faq}.button.0.label"),
        "No thanks",
    );
    set(&mut fields, &format!("step.{faq}.button.0.next"), "bye");

    // Add a second button to it, and a where condition.
    let html = admin
        .post(&path, &with_op(fields, &format!("add_button:{faq}")))
        .await
        .text()
        .await
        .expect("html");
    let mut fields = form_fields(&html, &path);
    assert_eq!(
        get(&fields, &format!("step.{faq}.button.0.label")),
        "No thanks",
        "typed text kept"
    );
    set(&mut fields, &format!("step.{faq}.button.1.id"), "docs");
    set(&mut fields, &format!("step.{faq}.button.1.label"), "Docs");
    set(
        &mut fields,
        &format!("step.{faq}.button.1.url"),
        "https://example.com/faq",
    );
    let html = admin
        .post(&path, &with_op(fields, "add_condition"))
        .await
        .text()
        .await
        .expect("html");
    let mut fields = form_fields(&html, &path);
    set(&mut fields, "cond.1.value", "/faq");

    // Remove a button of another step and delete the unreachable tag step.
    let pricing = step_index(&fields, "pricing");
    let html = admin
        .post(
            &path,
            &with_op(fields, &format!("remove_button:{pricing}:2")),
        )
        .await
        .text()
        .await
        .expect("html");
    let fields = form_fields(&html, &path);
    let tagit = step_index(&fields, "tagit");
    let html = admin
        .post(&path, &with_op(fields, &format!("delete_step:{tagit}")))
        .await
        .text()
        .await
        .expect("html");
    let fields = form_fields(&html, &path);
    assert_eq!(admin.flow_json(&id).await, before, "still nothing stored");

    let response = admin.post(&path, &with_op(fields, "save")).await;
    assert_eq!(response.status().as_u16(), 303);
    let stored = admin.flow_json(&id).await;
    assert_eq!(
        stored["steps"]["faq"],
        json!({"type": "message", "text": "Questions?", "buttons": [
            {"id": "bye", "label": "No thanks", "next": "bye"},
            {"id": "docs", "label": "Docs", "url": "https://example.com/faq"}]})
    );
    assert_eq!(
        stored["steps"]["pricing"]["buttons"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(stored["steps"].get("tagit").is_none());
    assert_eq!(
        stored["trigger"]["where"]["conditions"][1],
        json!({"field": "url", "op": "contains", "value": "/faq"})
    );
}

#[tokio::test]
async fn an_invalid_save_shows_every_problem_with_its_path_and_stores_nothing() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let before = admin.flow_json(&id).await;
    let mut fields = admin.editor_fields(&id).await;
    let menu = step_index(&fields, "menu");
    let email = step_index(&fields, "email");
    let handover = step_index(&fields, "handover");
    set(&mut fields, &format!("step.{menu}.button.1.next"), "pricng");
    set(
        &mut fields,
        &format!("step.{menu}.text"),
        "Changed, but must not be stored",
    );
    set(&mut fields, &format!("step.{email}.prompt"), "   ");
    set(
        &mut fields,
        &format!("step.{handover}.context"),
        "topic=sales\noops",
    );
    set(&mut fields, "priority", "high");
    set(&mut fields, "languages", "en, klingon!");
    set(&mut fields, "when_type", "scroll");
    set(&mut fields, "when_percent", "250");

    let response = admin
        .post(&format!("/chatbot/flows/{id}"), &with_op(fields, "save"))
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = unescape(&response.text().await.expect("html"));
    // In words (issue 14): the summary names the step, button and field as the form does,
    // with the API's path as a hint, and each message also sits beside its field.
    for expected in [
        "Step “menu”, button 2, next step: no step \"pricng\"",
        "title=\"steps.menu.buttons[1].next\"",
        "Step “email”, prompt: must not be empty",
        "Step “handover”, context: line 2 \"oops\" is not key=value",
        "Priority: must be a whole number",
        "Languages: \"klingon!\" is not a language code like en or cs",
        "Trigger scroll (percent): must be between 1 and 100",
        "</select><span class=\"field-error\">No step \"pricng\"</span>",
        "</textarea><span class=\"field-error\">Must not be empty</span>",
        "<span class=\"field-error\">Line 2 \"oops\" is not key=value</span>",
    ] {
        assert!(html.contains(expected), "{expected} is shown");
    }
    assert!(
        !html.contains("<code>steps."),
        "no bare paths in the editor"
    );
    assert!(html.contains("6 problems; nothing was saved"));
    assert!(
        html.contains("value=\"high\""),
        "what the admin typed is kept"
    );
    assert!(html.contains("Changed, but must not be stored"));
    assert!(html.contains("pricng (missing)"));
    assert_eq!(admin.flow_json(&id).await, before, "nothing half-written");
}

#[tokio::test]
async fn targeting_tabs_round_trip_through_the_stored_json() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let path = format!("/chatbot/flows/{id}");
    let cases = [
        (
            vec![("when_type", "delay"), ("when_seconds", "12")],
            json!({"type": "delay", "seconds": 12}),
        ),
        (
            vec![("when_type", "scroll"), ("when_percent", "40")],
            json!({"type": "scroll", "percent": 40}),
        ),
        (
            vec![("when_type", "exit_intent")],
            json!({"type": "exit_intent"}),
        ),
        (
            vec![("when_type", "returning_visit")],
            json!({"type": "returning_visit"}),
        ),
        (
            vec![("when_type", "chat_opened")],
            json!({"type": "chat_opened"}),
        ),
        (
            vec![("when_type", "custom_event"), ("when_name", "signup")],
            json!({"type": "custom_event", "name": "signup"}),
        ),
    ];
    for (changes, expected) in cases {
        let mut fields = admin.editor_fields(&id).await;
        for (name, value) in changes {
            set(&mut fields, name, value);
        }
        let response = admin.post(&path, &with_op(fields, "save")).await;
        assert_eq!(response.status().as_u16(), 303, "{expected}");
        assert_eq!(admin.flow_json(&id).await["trigger"]["when"], expected);
    }

    let mut fields: Vec<(String, String)> = admin
        .editor_fields(&id)
        .await
        .into_iter()
        .filter(|(name, _)| name != "device" && !name.starts_with("cond."))
        .collect();
    for (name, value) in [
        ("where_match", "all"),
        ("cond.0.field", "title"),
        ("cond.0.op", "regex"),
        ("cond.0.value", "^Pricing"),
        ("cond.1.field", "referrer"),
        ("cond.1.op", "not_contains"),
        ("cond.1.value", "bing"),
        ("cond.2.field", "url"),
        ("cond.2.op", "starts_with"),
        ("cond.2.value", "https://shop."),
        ("visitors", "returning"),
        ("min_visits", "3"),
        ("languages", "en, cs"),
        ("agents", "offline"),
        ("business_hours", "outside"),
        ("frequency", "every_page"),
        ("tab", "frequency"),
    ] {
        set(&mut fields, name, value);
    }
    fields.push(("device".to_owned(), "mobile".to_owned()));
    fields.push(("device".to_owned(), "tablet".to_owned()));
    let response = admin.post(&path, &with_op(fields, "save")).await;
    assert_eq!(response.status().as_u16(), 303);
    let stored = admin.flow_json(&id).await;
    assert_eq!(
        stored["trigger"],
        json!({
            "when": {"type": "custom_event", "name": "signup"},
            "where": {"match": "all", "conditions": [
                {"field": "title", "op": "regex", "value": "^Pricing"},
                {"field": "referrer", "op": "not_contains", "value": "bing"},
                {"field": "url", "op": "starts_with", "value": "https://shop."}]},
            "audience": {"visitors": "returning", "min_visits": 3, "languages": ["en", "cs"], "devices": ["mobile", "tablet"]},
            "schedule": {"agents": "offline", "business_hours": "outside"},
            "frequency": "every_page"
        })
    );

    // The page shows what is stored, and posting it unchanged changes nothing.
    let fields = admin.editor_fields(&id).await;
    assert_eq!(get(&fields, "cond.1.op"), "not_contains");
    assert_eq!(get(&fields, "agents"), "offline");
    let response = admin.post(&path, &with_op(fields, "save")).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        without_times(admin.flow_json(&id).await),
        without_times(stored)
    );
}

#[tokio::test]
async fn duplicate_as_translation_makes_a_disabled_copy_for_one_language() {
    let admin = owner_of_acme().await;
    let mut everyone = support_flow();
    everyone["trigger"]["audience"]["languages"] = json!([]);
    let id = admin.create_flow(&everyone).await;
    let list = admin.page("/chatbot").await;
    let response = admin
        .post(
            &format!("/chatbot/flows/{id}/translate"),
            &[
                ("csrf_token".to_owned(), csrf_from(&list)),
                ("language".to_owned(), " DE ".to_owned()),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let to = location(&response);
    assert!(to.ends_with(&format!("?translated_from={id}")), "{to}");

    let flows = admin.flows().await;
    assert_eq!(flows.len(), 2);
    let copy = flows
        .iter()
        .find(|f| f["name"] == "Support (de)")
        .expect("the copy");
    assert_eq!(copy["enabled"], false);
    assert_eq!(copy["priority"], 10);
    assert_eq!(copy["trigger"]["audience"]["languages"], json!(["de"]));
    assert_eq!(copy["steps"], everyone["steps"]);
    let original = admin.flow_json(&id).await;
    assert_eq!(
        original["trigger"]["audience"]["languages"],
        json!([]),
        "the original is left as it is"
    );
    let editor = unescape(&admin.page(&to).await);
    assert!(
        editor.contains("still matches every language"),
        "the page explains"
    );

    let refused = admin
        .post(
            &format!("/chatbot/flows/{id}/translate"),
            &[
                ("csrf_token".to_owned(), csrf_from(&list)),
                ("language".to_owned(), "not a language".to_owned()),
            ],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    assert!(unescape(&refused.text().await.expect("html")).contains("is not a language code"));
    assert_eq!(admin.flows().await.len(), 2);
}

#[tokio::test]
async fn import_and_export_round_trip() {
    let admin = owner_of_acme().await;
    let list = admin.page("/chatbot").await;
    let csrf = csrf_from(&list);
    let response = admin
        .post(
            "/chatbot/import",
            &[
                ("csrf_token".to_owned(), csrf.clone()),
                ("json".to_owned(), support_flow().to_string()),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let id = location(&response)
        .trim_start_matches("/chatbot/flows/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();

    let export = admin
        .app
        .get(&admin.client, &format!("/chatbot/flows/{id}/export"))
        .await;
    assert_eq!(export.status().as_u16(), 200);
    assert!(
        export
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment")),
        "a download"
    );
    let exported: Value = export.json().await.expect("json");
    assert_eq!(
        exported,
        admin.flow_json(&id).await,
        "the same JSON as the API"
    );
    assert_eq!(exported["name"], "Support");
    assert_eq!(exported["steps"], support_flow()["steps"]);
    assert_eq!(
        exported["trigger"]["where"],
        support_flow()["trigger"]["where"]
    );

    // The export imports again, as a second flow with the same definition.
    let again = admin
        .post(
            "/chatbot/import",
            &[
                ("csrf_token".to_owned(), csrf.clone()),
                ("json".to_owned(), exported.to_string()),
            ],
        )
        .await;
    assert_eq!(again.status().as_u16(), 303);
    let flows = admin.flows().await;
    assert_eq!(flows.len(), 2);
    assert!(
        flows
            .iter()
            .all(|f| without_times(f.clone()) == without_times(exported.clone()))
    );

    // A bad import lists every problem with its path, keeps the text and stores nothing.
    let mut bad = support_flow();
    bad["steps"]["pricing"]["buttons"][1]["next"] = json!("pricng");
    bad["start"] = json!("nowhere");
    let refused = admin
        .post(
            "/chatbot/import",
            &[
                ("csrf_token".to_owned(), csrf.clone()),
                ("json".to_owned(), bad.to_string()),
            ],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let html = unescape(&refused.text().await.expect("html"));
    assert!(html.contains("steps.pricing.buttons[1].next: no step \"pricng\""));
    assert!(html.contains("start: no step \"nowhere\""));
    assert!(html.contains("\"pricng\""), "the pasted JSON is kept");
    let broken = admin
        .post(
            "/chatbot/import",
            &[
                ("csrf_token".to_owned(), csrf),
                ("json".to_owned(), "{not json".to_owned()),
            ],
        )
        .await;
    assert_eq!(broken.status().as_u16(), 422);
    assert!(
        broken
            .text()
            .await
            .expect("html")
            .contains("not valid JSON")
    );
    assert_eq!(admin.flows().await.len(), 2);
}

#[tokio::test]
async fn the_list_switch_enables_and_disables_and_delete_removes() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let csrf = csrf_from(&admin.page("/chatbot").await);
    let response = admin
        .post(
            &format!("/chatbot/flows/{id}/enabled"),
            &[
                ("csrf_token".to_owned(), csrf.clone()),
                ("enabled".to_owned(), "false".to_owned()),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(admin.flow_json(&id).await["enabled"], false);
    assert!(admin.page("/chatbot").await.contains("Disabled"));

    let response = admin
        .post(
            &format!("/chatbot/flows/{id}/delete"),
            &[("csrf_token".to_owned(), csrf)],
        )
        .await;
    assert_eq!(location(&response), "/chatbot?deleted=1");
    assert!(admin.flows().await.is_empty());
    assert!(
        admin
            .page("/chatbot?deleted=1")
            .await
            .contains("The flow was deleted.")
    );
}

#[tokio::test]
async fn agents_get_403_on_every_chatbot_page() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let created: Value = app
        .api(&token, Method::POST, "/api/v1/flows")
        .json(&support_flow())
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    let agent = app.create_user(&account, Role::Agent).await;
    let client = app.signed_in(&agent).await;
    for path in [
        "/chatbot".to_owned(),
        format!("/chatbot/flows/{id}"),
        format!("/chatbot/flows/{id}/export"),
        format!("/chatbot/flows/{id}/preview"),
    ] {
        assert_eq!(
            app.get(&client, &path).await.status().as_u16(),
            403,
            "GET {path}"
        );
    }
    let csrf = csrf_from(&app.get(&client, "/inbox").await.text().await.expect("html"));
    for path in [
        "/chatbot/flows".to_owned(),
        format!("/chatbot/flows/{id}"),
        format!("/chatbot/flows/{id}/delete"),
    ] {
        let response = client
            .post(app.url(&path))
            .form(&[("csrf_token", csrf.as_str()), ("op", "save")])
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status().as_u16(), 403, "POST {path}");
    }
    let step = client
        .post(app.url(&format!("/chatbot/flows/{id}/preview/step")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"event": {"type": "start"}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(step.status().as_u16(), 403);
}

#[tokio::test]
async fn another_accounts_flow_is_404() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let other = admin.app.create_account("Other").await;
    let client = admin.app.signed_in(&other.owner_email).await;
    for path in [
        format!("/chatbot/flows/{id}"),
        format!("/chatbot/flows/{id}/export"),
        format!("/chatbot/flows/{id}/preview"),
        "/chatbot/flows/not-a-uuid".to_owned(),
    ] {
        assert_eq!(
            admin.app.get(&client, &path).await.status().as_u16(),
            404,
            "GET {path}"
        );
    }
    let csrf = csrf_from(
        &admin
            .app
            .get(&client, "/chatbot")
            .await
            .text()
            .await
            .expect("html"),
    );
    for (path, field) in [
        (format!("/chatbot/flows/{id}"), ("op", "save")),
        (format!("/chatbot/flows/{id}/enabled"), ("enabled", "false")),
        (format!("/chatbot/flows/{id}/translate"), ("language", "de")),
        (format!("/chatbot/flows/{id}/delete"), ("op", "delete")),
    ] {
        let response = client
            .post(admin.app.url(&path))
            .form(&[("csrf_token", csrf.as_str()), field])
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status().as_u16(), 404, "POST {path}");
    }
    let step = client
        .post(admin.app.url(&format!("/chatbot/flows/{id}/preview/step")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"event": {"type": "start"}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(step.status().as_u16(), 404);
    assert_eq!(admin.flow_json(&id).await["enabled"], true, "untouched");
}

#[tokio::test]
async fn forms_and_preview_steps_without_the_csrf_token_are_refused() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&support_flow()).await;
    let before = admin.flow_json(&id).await;
    for path in [
        "/chatbot/flows".to_owned(),
        "/chatbot/import".to_owned(),
        format!("/chatbot/flows/{id}"),
        format!("/chatbot/flows/{id}/enabled"),
        format!("/chatbot/flows/{id}/translate"),
        format!("/chatbot/flows/{id}/delete"),
    ] {
        let response = admin
            .post(
                &path,
                &[
                    ("csrf_token".to_owned(), "forged".to_owned()),
                    ("enabled".to_owned(), "false".to_owned()),
                    ("language".to_owned(), "de".to_owned()),
                    ("json".to_owned(), support_flow().to_string()),
                ],
            )
            .await;
        assert_eq!(response.status().as_u16(), 403, "POST {path}");
    }
    for header in [None, Some("forged")] {
        let mut request = admin
            .client
            .post(admin.app.url(&format!("/chatbot/flows/{id}/preview/step")))
            .json(&json!({"event": {"type": "start"}}));
        if let Some(value) = header {
            request = request.header("x-csrf-token", value);
        }
        let response = request.send().await.expect("POST");
        assert_eq!(response.status().as_u16(), 403);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "csrf_rejected");
    }
    assert_eq!(admin.flows().await.len(), 1);
    assert_eq!(admin.flow_json(&id).await, before);
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let backend = app.ctx.db.get_database_backend();
    let row = app
        .ctx
        .db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

const COUNTED_TABLES: [&str; 6] = [
    "conversations",
    "visitors",
    "messages",
    "chatbot_conversations",
    "flow_runs",
    "flow_run_events",
];

#[tokio::test]
async fn the_preview_runs_every_step_type_and_writes_nothing() {
    let admin = owner_of_acme().await;
    let id = admin.create_flow(&every_step_flow()).await;
    let page = admin.page(&format!("/chatbot/flows/{id}/preview")).await;
    assert!(page.contains("/static/flow-preview.js"));
    let csrf = csrf_from(&page);
    let mut before = Vec::new();
    for table in COUNTED_TABLES {
        before.push(count(&admin.app, table).await);
    }
    let url = admin.app.url(&format!("/chatbot/flows/{id}/preview/step"));
    let step = |state: Value, event: Value| {
        let request = admin
            .client
            .post(url.clone())
            .header("x-csrf-token", &csrf)
            .json(&json!({"state": state, "event": event}));
        async move {
            let response = request.send().await.expect("POST");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let types = |body: &Value| -> Vec<String> {
        body["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a["type"].as_str().expect("type").to_owned())
            .collect()
    };

    // message -> tag -> collect (a bad answer, then a good one) -> handover
    let (status, body) = step(Value::Null, json!({"type": "start"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(types(&body), ["welcome", "say"]);
    assert_eq!(body["actions"][1]["buttons"][0]["label"], "Shipping times");
    let (_, body) = step(
        body["state"].clone(),
        json!({"type": "choose", "button_id": "wholesale", "step_id": "menu"}),
    )
    .await;
    assert_eq!(types(&body), ["clicked", "tag", "prompt"]);
    let (_, body) = step(
        body["state"].clone(),
        json!({"type": "text", "text": "nope"}),
    )
    .await;
    assert_eq!(types(&body), ["reprompt"]);
    assert_eq!(
        body["actions"][0]["reason"],
        "That does not look like an email address."
    );
    let (_, body) = step(
        body["state"].clone(),
        json!({"type": "text", "text": "buyer@example.com"}),
    )
    .await;
    assert_eq!(types(&body), ["store", "handover"]);
    assert_eq!(body["actions"][1]["context"], json!({"topic": "wholesale"}));
    assert_eq!(body["state"]["finished"], true);
    let (status, body) = step(
        body["state"].clone(),
        json!({"type": "text", "text": "hello?"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_running"))
    );

    // message -> message (a stale and an unknown button refused) -> end
    let (_, started) = step(Value::Null, json!({"type": "start"})).await;
    let (status, refused) = step(started["state"].clone(), json!({"type": "start"})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("already_started"))
    );
    let (_, body) = step(
        started["state"].clone(),
        json!({"type": "choose", "button_id": "shipping", "step_id": "menu"}),
    )
    .await;
    assert_eq!(types(&body), ["clicked", "say"]);
    let (_, stale) = step(
        body["state"].clone(),
        json!({"type": "choose", "button_id": "human", "step_id": "menu"}),
    )
    .await;
    assert_eq!(stale["error"]["code"], "stale_button");
    let (_, unknown) = step(
        body["state"].clone(),
        json!({"type": "choose", "button_id": "nope"}),
    )
    .await;
    assert_eq!(unknown["error"]["code"], "unknown_button");
    let (_, body) = step(
        body["state"].clone(),
        json!({"type": "choose", "button_id": "thanks", "step_id": "shipping"}),
    )
    .await;
    assert_eq!(types(&body), ["clicked", "end"]);

    // Typing instead of clicking hands over too.
    let (_, body) = step(
        started["state"].clone(),
        json!({"type": "text", "text": "hi"}),
    )
    .await;
    assert_eq!(body["actions"][0]["reason"], "visitor_typed");

    let (status, bad) = step(Value::Null, json!({"type": "dance"})).await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    let mut after = Vec::new();
    for table in COUNTED_TABLES {
        after.push(count(&admin.app, table).await);
    }
    assert_eq!(
        before, after,
        "the preview wrote nothing to {COUNTED_TABLES:?}"
    );
}
