//! Issue 17: business hours (settings, validation, flow schedule and the widget's "we reply"
//! across daylight-saving changes with the test clock), verified visitor identity (two devices,
//! forged signatures, `require_verified_identity`) and anonymised IP addresses.

use crate::{
    blocking::refused_at_hello,
    chatbot_runtime::create_flow,
    helpers::{TestApp, spawn_app, spawn_app_with},
    sockets::Socket,
};
use frontdesk::storage::entities::visitor;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::Sha256;
use std::{net::Ipv4Addr, time::Duration};

fn prague_office_hours() -> Value {
    let day = json!([["09:00", "17:00"]]);
    json!({"time_zone": "Europe/Prague",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
        "holidays": ["2027-01-01"]})
}

async fn patch_account(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let (status, body) = app
        .call(token, Method::PATCH, "/api/v1/account", Some(body))
        .await;
    (status, body)
}

/// Gives the account [`prague_office_hours`].
async fn set_office_hours(app: &TestApp, owner: &str) {
    let (status, body) =
        patch_account(app, owner, json!({"business_hours": prague_office_hours()})).await;
    assert_eq!(status, 200, "{body}");
}

async fn set_clock(app: &TestApp, token: &str, now: &str) {
    let (status, body) = app
        .call(
            token,
            Method::POST,
            "/api/v1/test-clock",
            Some(json!({"now": now})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|detail| detail["field"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn business_hours_are_set_shown_and_cleared_through_the_account_api() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let (status, before) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(status, 200);
    assert_eq!(before["business_hours"], Value::Null);
    assert_eq!(
        before["inside_business_hours"], true,
        "no hours: always inside"
    );

    let mut hours = prague_office_hours();
    hours["weekly"]["sat"] = json!([["13:00", "16:00"], ["8:00", "12:00"]]);
    let (status, saved) = patch_account(&app, &owner, json!({"business_hours": hours})).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["business_hours"]["time_zone"], "Europe/Prague");
    assert_eq!(
        saved["business_hours"]["weekly"]["sat"],
        json!([["08:00", "12:00"], ["13:00", "16:00"]]),
        "sorted and normalised"
    );
    assert_eq!(saved["business_hours"]["weekly"]["sun"], json!([]));
    assert_eq!(saved["business_hours"]["holidays"], json!(["2027-01-01"]));
    let (_, shown) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(shown["business_hours"], saved["business_hours"]);

    let (status, cleared) = patch_account(&app, &owner, json!({"business_hours": null})).await;
    assert_eq!(status, 200);
    assert_eq!(cleared["business_hours"], Value::Null);

    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/api/v1/account/identity-secret"]["post"].is_object());
    let fields = &doc["components"]["schemas"]["AccountPatchBody"]["properties"];
    for field in [
        "business_hours",
        "require_verified_identity",
        "anonymize_ips",
    ] {
        assert!(
            fields[field].is_object(),
            "{field} documented in the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn invalid_business_hours_get_a_422_naming_every_bad_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let (status, body) = patch_account(
        &app,
        &owner,
        json!({"name": "Renamed", "business_hours": {
            "time_zone": "Mars/Olympus_Mons",
            "weekly": {
                "mon": [["09:00", "13:00"], ["12:00", "17:00"]],
                "tue": [["17:00", "09:00"]],
                "wed": [["9 am", "17:00"]]
            },
            "holidays": ["2027-13-01"]
        }}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(
        fields(&body),
        [
            "business_hours.time_zone",
            "business_hours.weekly.mon[1]",
            "business_hours.weekly.tue[0]",
            "business_hours.weekly.wed[0]",
            "business_hours.holidays[0]",
        ]
    );
    let (_, stored) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(stored["name"], "Acme", "nothing is half-written");
    assert_eq!(stored["business_hours"], Value::Null);

    let agent = app
        .create_user(&account, frontdesk::domain::role::Role::Agent)
        .await;
    let agent_token = app.token_for(&agent).await;
    let (status, _) = patch_account(
        &app,
        &agent_token,
        json!({"business_hours": prague_office_hours()}),
    )
    .await;
    assert_eq!(status, 403, "agents cannot change business hours");
}

/// Names of the flows a new widget is offered now.
async fn offered(
    app: &TestApp,
    widget_key: &str,
    flows: &[(&str, String)],
) -> (Vec<String>, Value) {
    let mut widget = Socket::widget(app, widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    let mut names: Vec<String> = welcome["triggers"]
        .as_array()
        .expect("triggers")
        .iter()
        .filter_map(|t| {
            flows
                .iter()
                .find(|(_, id)| t["flow_id"] == id.as_str())
                .map(|(name, _)| (*name).to_owned())
        })
        .collect();
    names.sort();
    widget.close().await;
    (names, welcome)
}

fn scheduled_flow(name: &str, business_hours: &str) -> Value {
    json!({"name": name, "start": "hi",
        "trigger": {"schedule": {"agents": "any", "business_hours": business_hours}, "frequency": "every_page"},
        "steps": {"hi": {"type": "message", "text": "Hi", "buttons": [{"id": "ok", "label": "OK", "next": "hi"}]}}})
}

#[tokio::test]
async fn flow_schedule_and_the_widgets_next_reply_follow_prague_time_across_both_dst_changes() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let flows = [
        (
            "inside",
            create_flow(&app, &owner, &scheduled_flow("inside", "inside")).await,
        ),
        (
            "outside",
            create_flow(&app, &owner, &scheduled_flow("outside", "outside")).await,
        ),
        (
            "any",
            create_flow(&app, &owner, &scheduled_flow("any", "any")).await,
        ),
    ];
    let key = account.widget_key.as_str();
    set_clock(&app, &owner, "2027-03-26T07:30:00Z").await;
    let (names, welcome) = offered(&app, key, &flows).await;
    assert_eq!(names, ["any", "inside"], "no hours yet: always inside");
    assert_eq!(welcome["business_hours"], Value::Null);

    set_office_hours(&app, &owner).await;

    // (UTC instant, open?) on both sides of 2027-03-28 (CET +01 -> CEST +02) and 2027-10-31
    // (back to +01). A clock that ignored the change would answer each one the other way.
    let cases = [
        ("2027-03-26T07:30:00Z", false), // Friday 08:30 CET
        ("2027-03-26T08:30:00Z", true),  // Friday 09:30 CET
        ("2027-03-29T06:30:00Z", false), // Monday 08:30 CEST
        ("2027-03-29T07:30:00Z", true),  // Monday 09:30 CEST (08:30 in CET)
        ("2027-03-29T15:30:00Z", false), // Monday 17:30 CEST (16:30 in CET)
        ("2027-10-29T07:30:00Z", true),  // Friday 09:30 CEST
        ("2027-11-01T07:30:00Z", false), // Monday 08:30 CET (09:30 in CEST)
        ("2027-11-01T15:30:00Z", true),  // Monday 16:30 CET (17:30 in CEST)
    ];
    for (now, open) in cases {
        set_clock(&app, &owner, now).await;
        let (names, welcome) = offered(&app, key, &flows).await;
        let expected = if open {
            ["any", "inside"]
        } else {
            ["any", "outside"]
        };
        assert_eq!(names, expected, "at {now}");
        assert_eq!(welcome["business_hours"]["open"], open, "at {now}");
        let (_, shown) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
        assert_eq!(shown["inside_business_hours"], open, "at {now}");
    }

    // Saturday evening before the spring change: "on Monday at 9:00", which is 07:00 UTC.
    set_clock(&app, &owner, "2027-03-27T18:00:00Z").await;
    let (_, welcome) = offered(&app, key, &flows).await;
    let next = &welcome["business_hours"]["next_reply"];
    assert_eq!(next["at"], "2027-03-29T09:00:00+02:00");
    assert_eq!(next["day"], "weekday");
    assert_eq!(next["weekday"], "Monday");
    assert_eq!(next["time"], "9:00");
    // Sunday night after the autumn change: "tomorrow at 9:00", 08:00 UTC.
    set_clock(&app, &owner, "2027-10-31T20:00:00Z").await;
    let (_, welcome) = offered(&app, key, &flows).await;
    let next = &welcome["business_hours"]["next_reply"];
    assert_eq!(next["at"], "2027-11-01T09:00:00+01:00");
    assert_eq!(next["day"], "tomorrow");
    // A holiday is closed all day.
    set_clock(&app, &owner, "2027-01-01T10:00:00Z").await;
    let (names, welcome) = offered(&app, key, &flows).await;
    assert_eq!(names, ["any", "outside"], "New Year's Day");
    assert_eq!(
        welcome["business_hours"]["next_reply"]["at"],
        "2027-01-04T09:00:00+01:00"
    );
}

fn sign(secret: &str, user_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn identity_secret(app: &TestApp, owner: &str) -> String {
    let (status, account) = app.call(owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(status, 200);
    account["identity_secret"]
        .as_str()
        .expect("owners see the identity secret")
        .to_owned()
}

async fn hello_as(widget: &mut Socket, token: Option<&str>, identity: Value) -> Value {
    widget
        .send(json!({"type": "hello", "visitor_token": token,
            "page": {"url": "https://shop.example.com/account", "title": "Account"},
            "identity": identity}))
        .await;
    widget.recv_type("welcome").await
}

/// The stored visitors whose `column` holds `value`.
async fn visitors_with(app: &TestApp, column: visitor::Column, value: &str) -> Vec<visitor::Model> {
    visitor::Entity::find()
        .filter(column.eq(value))
        .all(&app.ctx.db)
        .await
        .expect("visitor query")
}

async fn stored_visitor(app: &TestApp, user_id: &str) -> Option<visitor::Model> {
    visitors_with(app, visitor::Column::VerifiedUserId, user_id)
        .await
        .pop()
}

#[tokio::test]
async fn a_verified_user_sees_the_same_conversations_on_a_second_device() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let secret = identity_secret(&app, &owner).await;
    let identity = json!({"user_id": "user-42", "email": "jana@example.com", "name": "Jana",
        "signature": sign(&secret, "user-42")});

    // Laptop: anonymous first, then the page signs the user in.
    let mut laptop = Socket::widget(&app, &account.widget_key).await;
    let anonymous = laptop.hello(None, None, None).await;
    assert_eq!(anonymous["verified"], false);
    let laptop_token = anonymous["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    laptop
        .send(json!({"type": "identify", "identity": identity}))
        .await;
    let verified = laptop.recv_type("identity").await;
    assert_eq!(verified["verified"], true);
    assert_eq!(
        verified["reconnect"], false,
        "the laptop's visitor becomes the user's"
    );
    let shared_token = verified["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_ne!(shared_token, laptop_token);
    let ack = laptop.say("l-1", "Where is my order 1042?").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    let stored = stored_visitor(&app, "user-42")
        .await
        .expect("verified visitor");
    assert_eq!(stored.email.as_deref(), Some("jana@example.com"));
    assert_eq!(stored.name.as_deref(), Some("Jana"));

    // Phone: a new browser with its own token, signed in as the same user.
    let mut phone = Socket::widget(&app, &account.widget_key).await;
    let welcome = hello_as(&mut phone, None, identity.clone()).await;
    assert_eq!(welcome["verified"], true);
    assert_eq!(welcome["visitor_token"], shared_token.as_str());
    assert_eq!(welcome["conversation"]["id"], conversation.as_str());
    assert_eq!(welcome["messages"][0]["text"], "Where is my order 1042?");
    // Both devices are one visitor: the laptop sees the phone's message live.
    phone.say("p-1", "Sent from my phone").await;
    loop {
        let frame = laptop.recv_type("message").await;
        if frame["text"] == "Sent from my phone" {
            break;
        }
    }

    // A third browser that was anonymous and identifies mid-session is told to reconnect
    // with the user's token, and then joins the same visitor.
    let mut tablet = Socket::widget(&app, &account.widget_key).await;
    tablet.hello(None, None, None).await;
    tablet
        .send(json!({"type": "identify", "identity": identity}))
        .await;
    let relink = tablet.recv_type("identity").await;
    assert_eq!(relink["reconnect"], true);
    assert_eq!(relink["visitor_token"], shared_token.as_str());
    let mut tablet = Socket::widget(&app, &account.widget_key).await;
    let welcome = hello_as(&mut tablet, relink["visitor_token"].as_str(), identity).await;
    assert_eq!(welcome["conversation"]["id"], conversation.as_str());

    // The inbox shows the verified badge and the user id.
    let agent = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&agent, &format!("/inbox/{conversation}"))
        .await
        .text()
        .await
        .expect("html");
    assert!(page.contains("badge verified"), "verified badge");
    assert!(page.contains("user-42"));
}

#[tokio::test]
async fn a_forged_signature_gets_identity_invalid_and_links_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let secret = identity_secret(&app, &owner).await;
    // The real user chats first.
    let mut real = Socket::widget(&app, &account.widget_key).await;
    let genuine = json!({"user_id": "user-7", "signature": sign(&secret, "user-7")});
    hello_as(&mut real, None, genuine).await;
    real.say("r-1", "My private question").await;

    // An attacker claims the same user with a signature made with another key.
    let forged = json!({"user_id": "user-7", "email": "boss@example.com",
        "signature": sign("guessed-secret", "user-7")});
    let mut attacker = Socket::widget(&app, &account.widget_key).await;
    let welcome = hello_as(&mut attacker, None, forged.clone()).await;
    assert_eq!(welcome["verified"], false);
    assert_eq!(
        welcome["conversation"],
        Value::Null,
        "none of the user's conversations"
    );
    assert_eq!(welcome["messages"], json!([]));
    let error = attacker.recv_type("error").await;
    assert_eq!(error["code"], "identity_invalid");
    attacker
        .send(json!({"type": "identify", "identity": forged}))
        .await;
    let error = attacker.recv_type("error").await;
    assert_eq!(error["code"], "identity_invalid");
    let user = stored_visitor(&app, "user-7").await.expect("the real user");
    assert_ne!(user.email.as_deref(), Some("boss@example.com"));
    assert!(
        visitors_with(&app, visitor::Column::Email, "boss@example.com")
            .await
            .is_empty(),
        "a forged identity stores nothing"
    );

    // After the secret is regenerated, the old signature no longer verifies.
    let (status, regenerated) = app
        .call(
            &owner,
            Method::POST,
            "/api/v1/account/identity-secret",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(regenerated["identity_secret"], secret.as_str());
    let mut stale = Socket::widget(&app, &account.widget_key).await;
    let welcome = hello_as(
        &mut stale,
        None,
        json!({"user_id": "user-7", "signature": sign(&secret, "user-7")}),
    )
    .await;
    assert_eq!(welcome["verified"], false);
    assert_eq!(stale.recv_type("error").await["code"], "identity_invalid");
}

#[tokio::test]
async fn require_verified_identity_refuses_an_unsigned_identify() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let secret = identity_secret(&app, &owner).await;
    let (status, body) =
        patch_account(&app, &owner, json!({"require_verified_identity": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["require_verified_identity"], true);

    let mut widget = Socket::widget(&app, &account.widget_key).await;
    let welcome = widget.hello(None, None, None).await;
    let token = welcome["visitor_token"].as_str().expect("token").to_owned();
    widget
        .send(json!({"type": "identify", "email": "ceo@example.com", "name": "The CEO"}))
        .await;
    let error = widget.recv_type("error").await;
    assert_eq!(error["code"], "identity_required");
    assert!(
        visitors_with(&app, visitor::Column::Email, "ceo@example.com")
            .await
            .is_empty(),
        "the unsigned email was not stored"
    );

    // The same details with a valid signature are taken.
    widget
        .send(json!({"type": "identify", "phone": "+420 777 123 456",
            "identity": {"user_id": "u-1", "email": "ceo@example.com",
                "signature": sign(&secret, "u-1")}}))
        .await;
    let verified = widget.recv_type("identity").await;
    assert_eq!(verified["reconnect"], false);
    let mut again = Socket::widget(&app, &account.widget_key).await;
    let welcome = again.hello(Some(&token), None, None).await;
    assert_ne!(
        welcome["visitor_token"],
        token.as_str(),
        "the old anonymous token no longer opens the verified visitor"
    );
    let user = stored_visitor(&app, "u-1").await.expect("verified");
    assert_eq!(user.email.as_deref(), Some("ceo@example.com"));
    assert_eq!(user.phone.as_deref(), Some("+420 777 123 456"));
}

#[tokio::test]
async fn with_anonymize_ips_the_last_octet_is_zeroed_and_a_block_covers_that_network() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    // Before the switch the whole address is kept.
    let mut before =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 9, 5)).await;
    let welcome = before.hello(None, None, None).await;
    let ack = before.say("b-1", "Hi").await;
    let _ = (welcome, ack);
    assert_eq!(
        visitors_with(&app, visitor::Column::LastIp, "127.0.9.5")
            .await
            .len(),
        1,
        "full address without anonymize_ips"
    );

    let (status, body) = patch_account(&app, &owner, json!({"anonymize_ips": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["anonymize_ips"], true);
    let mut widget =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 10, 77)).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("a-1", "Hello").await;
    let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
    let (_, view) = app
        .call(
            &owner,
            Method::GET,
            &format!("/api/v1/conversations/{conversation}"),
            None,
        )
        .await;
    let visitor_id: uuid::Uuid = view["visitor"]["id"]
        .as_str()
        .expect("visitor id")
        .parse()
        .expect("uuid");
    let row = visitor::Entity::find_by_id(visitor_id)
        .one(&app.ctx.db)
        .await
        .expect("query")
        .expect("visitor");
    assert_eq!(row.last_ip.as_deref(), Some("127.0.10.0"));
    assert!(
        visitors_with(&app, visitor::Column::LastIp, "127.0.10.77")
            .await
            .is_empty(),
        "the full address is stored nowhere"
    );

    // Blocking stores the zeroed address; a neighbour in the same /24 is refused, another
    // network is not.
    let (status, block) = app
        .call(
            &owner,
            Method::POST,
            &format!("/api/v1/visitors/{visitor_id}/block"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{block}");
    assert_eq!(block["ip"], "127.0.10.0");
    let mut neighbour =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 10, 200)).await;
    refused_at_hello(&mut neighbour, None).await;
    let mut elsewhere =
        Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 11, 1)).await;
    let welcome = tokio::time::timeout(Duration::from_secs(10), elsewhere.hello(None, None, None))
        .await
        .expect("welcome");
    assert!(welcome["visitor_token"].is_string());
}

#[tokio::test]
async fn reports_split_first_response_times_inside_and_outside_business_hours() {
    let app = spawn_app_with(|settings| settings.test_clock = true).await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    set_office_hours(&app, &owner).await;
    // (visitor writes, agent replies): Monday after the spring change, 09:30 CEST (inside,
    // though 08:30 in CET), and 20:00 CEST (outside).
    let chats = [
        (1, "2027-03-29T07:30:00Z", "2027-03-29T07:31:00Z"),
        (2, "2027-03-29T18:00:00Z", "2027-03-29T19:00:00Z"),
        (3, "2027-03-29T18:10:00Z", "2027-03-29T21:10:00Z"),
    ];
    for (source, writes, replies) in chats {
        set_clock(&app, &owner, writes).await;
        let mut widget =
            Socket::widget_from(&app, &account.widget_key, Ipv4Addr::new(127, 0, 41, source)).await;
        widget.hello(None, None, None).await;
        let ack = widget.say("v-1", "Anyone there?").await;
        let conversation = ack["conversation_id"].as_str().expect("id").to_owned();
        set_clock(&app, &owner, replies).await;
        let (status, body) = app
            .call(
                &owner,
                Method::POST,
                &format!("/api/v1/conversations/{conversation}/messages"),
                Some(json!({"text": "Hello!", "client_id": format!("a-{source}")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, report) = app
        .call(
            &owner,
            Method::GET,
            "/api/v1/reports?from=2027-03-29&to=2027-03-29",
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let total = &report["total"];
    assert_eq!(total["first_responses"], 3);
    assert_eq!(total["first_responses_inside_hours"], 1);
    assert_eq!(total["median_first_response_inside_hours_seconds"], 60);
    assert_eq!(total["first_responses_outside_hours"], 2);
    assert_eq!(total["median_first_response_outside_hours_seconds"], 7200);

    let client = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&client, "/reports?from=2027-03-29&to=2027-03-29")
        .await
        .text()
        .await
        .expect("html");
    assert!(page.contains("id=\"first-response-hours\""));
    assert!(page.contains("Outside business hours"));
}

#[tokio::test]
async fn the_settings_page_saves_business_hours_identity_and_privacy_and_shows_errors() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let owner = app.token_for(&account.owner_email).await;
    let client = app.signed_in(&account.owner_email).await;
    let page = "/settings/account";

    let bad = app
        .post_form(
            &client,
            page,
            "/settings/account/hours",
            &[
                ("time_zone", "Europe/Prague"),
                ("hours_mon", "09:00-13:00, 12:00-17:00"),
                ("hours_tue", "9to5"),
                ("holidays", ""),
            ],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let html = bad.text().await.expect("html");
    assert!(
        html.contains("Monday, interval 2: overlaps 09:00-13:00"),
        "{html}"
    );
    assert!(html.contains("Tuesday, interval 1:"));
    assert!(html.contains("value=\"9to5\""), "what was typed is kept");

    let saved = app
        .post_form(
            &client,
            page,
            "/settings/account/hours",
            &[
                ("time_zone", "America/New_York"),
                ("hours_mon", "09:00-12:00, 13:00-17:00"),
                ("hours_sat", "10:00-14:00"),
                ("holidays", "2027-07-05\n2027-12-24"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let (_, shown) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(shown["business_hours"]["time_zone"], "America/New_York");
    assert_eq!(
        shown["business_hours"]["weekly"]["mon"],
        json!([["09:00", "12:00"], ["13:00", "17:00"]])
    );
    assert_eq!(
        shown["business_hours"]["weekly"]["sat"],
        json!([["10:00", "14:00"]])
    );
    assert_eq!(
        shown["business_hours"]["holidays"],
        json!(["2027-07-05", "2027-12-24"])
    );
    let html = app.get(&client, page).await.text().await.expect("html");
    assert!(html.contains("value=\"09:00-12:00, 13:00-17:00\""));

    let secret = shown["identity_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(html.contains(&secret), "owners see the identity secret");
    let regenerated = app
        .post_form(&client, page, "/settings/account/identity-secret", &[])
        .await;
    assert_eq!(regenerated.status().as_u16(), 303);
    let toggled = app
        .post_form(
            &client,
            page,
            "/settings/account/identity",
            &[("require_verified_identity", "on"), ("anonymize_ips", "on")],
        )
        .await;
    assert_eq!(toggled.status().as_u16(), 303);
    let (_, shown) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_ne!(shown["identity_secret"], secret.as_str());
    assert_eq!(shown["require_verified_identity"], true);
    assert_eq!(shown["anonymize_ips"], true);

    let cleared = app
        .post_form(
            &client,
            page,
            "/settings/account/hours",
            &[("time_zone", ""), ("holidays", "")],
        )
        .await;
    assert_eq!(cleared.status().as_u16(), 303);
    let (_, shown) = app.call(&owner, Method::GET, "/api/v1/account", None).await;
    assert_eq!(shown["business_hours"], Value::Null);

    // An agent neither sees the secret in the API nor changes these settings.
    let agent = app
        .create_user(&account, frontdesk::domain::role::Role::Agent)
        .await;
    let agent_token = app.token_for(&agent).await;
    let (_, seen) = app
        .call(&agent_token, Method::GET, "/api/v1/account", None)
        .await;
    assert_eq!(seen["identity_secret"], Value::Null);
    let (status, _) = app
        .call(
            &agent_token,
            Method::POST,
            "/api/v1/account/identity-secret",
            None,
        )
        .await;
    assert_eq!(status, 403);
}
