//! DESIGN section 2, rules 2 and 3: a conversation becomes a chatbot conversation on the first
//! interaction, is labelled "Joined by chatbot", and is counted exactly once, also when many
//! interactions (and flows) race.

use crate::{helpers::spawn_app, sockets::Socket};
use frontdesk::{
    domain::ids::{ConversationId, FlowId},
    services,
};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn concurrent_interactions_count_a_conversation_once_and_label_it() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    widget.hello(None, None, None).await;
    let ack = widget.say("c-1", "hello").await;
    let conversation_id: ConversationId = ack["conversation_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);

    // Two flows, thirty clicks at once: one count.
    let flows = [FlowId::generate(), FlowId::generate()];
    let mut tasks = Vec::new();
    for n in 0..30 {
        let ctx = app.ctx.clone();
        let account_id = account.account_id;
        let flow = flows[n % 2];
        tasks.push(tokio::spawn(async move {
            services::chatbot::record_interaction(&ctx, account_id, conversation_id, Some(flow))
                .await
        }));
    }
    let mut counted = 0;
    for task in tasks {
        if task.await.expect("task").expect("recorded") == services::billing::Count::Counted {
            counted += 1;
        }
    }
    assert_eq!(
        counted, 1,
        "exactly one interaction counted the conversation"
    );
    assert_eq!(
        frontdesk::storage::chatbot::count_since(&app.ctx.db, account.account_id.as_uuid(), since)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        services::chatbot::record_interaction(&app.ctx, account.account_id, conversation_id, None)
            .await
            .expect("again"),
        services::billing::Count::AlreadyCounted
    );

    let conversation: Value = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/conversations/{conversation_id}"),
        )
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(
        conversation["labels"],
        serde_json::json!(["joined_by_chatbot"])
    );
    assert_eq!(conversation["chatbot_counted"], true);
    // The widget hears the new label (after the frame that announced the conversation).
    while widget.recv_type("conversation").await["labels"]
        != serde_json::json!(["joined_by_chatbot"])
    {}
}

#[tokio::test]
async fn the_label_filters_lists_and_a_normal_conversation_carries_none() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token_for(&account.owner_email).await;
    let mut bot_visitor = Socket::widget(&app, &account.widget_key).await;
    bot_visitor.hello(None, None, None).await;
    let bot = bot_visitor.say("b-1", "clicked a button").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut typer = Socket::widget(&app, &account.widget_key).await;
    typer.hello(None, None, None).await;
    let normal = typer.say("t-1", "just typing").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    services::chatbot::record_interaction(
        &app.ctx,
        account.account_id,
        bot.parse().expect("uuid"),
        None,
    )
    .await
    .expect("recorded");

    let labelled: Value = app
        .api(
            &token,
            Method::GET,
            "/api/v1/conversations?label=joined_by_chatbot",
        )
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = labelled["conversations"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [bot.as_str()]);
    let plain: Value = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/conversations/{normal}"),
        )
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (plain["labels"].clone(), plain["chatbot_counted"].clone()),
        (serde_json::json!([]), Value::Bool(false))
    );
    let bad = app
        .api(&token, Method::GET, "/api/v1/conversations?label=vip")
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status().as_u16(), 422);

    let client = app.signed_in(&account.owner_email).await;
    let page = app
        .get(&client, "/inbox?label=joined_by_chatbot")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Joined by chatbot")
            && page.contains("clicked a button")
            && !page.contains("just typing")
    );

    let other = app.create_account("Other").await;
    let refused = services::chatbot::record_interaction(
        &app.ctx,
        other.account_id,
        normal.parse().expect("uuid"),
        None,
    )
    .await;
    assert!(
        matches!(refused, Err(services::ServiceError::NotFound)),
        "another account's conversation is not found"
    );
}
