//! The command line: account, agent and token creation with --json, migrate, demo, bad settings.

use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::Value;
use std::process::{Command, Output};

fn frontdesk(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(args)
        .env("FRONTDESK_DATABASE_URL", database_url)
        .env("FRONTDESK_LOG", "warn")
        .env("FRONTDESK_CONFIG", "/nonexistent/frontdesk.toml")
        .output()
        .expect("run frontdesk")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

#[tokio::test]
async fn account_create_json_prints_the_ids_and_the_widget_key() {
    let app = spawn_app().await;
    let output = frontdesk(
        &app.database_url,
        &[
            "account",
            "create",
            "--name",
            "Moved In",
            "--plan",
            "PRO",
            "--owner-email",
            "boss@example.com",
            "--owner-password",
            "a long password",
            "--billing-anchor",
            "2026-01-31T09:30:00Z",
            "--json",
        ],
    );
    let created = json_of(&output);
    let account_id: frontdesk::domain::ids::AccountId = created["account_id"]
        .as_str()
        .expect("account_id")
        .parse()
        .expect("uuid");
    assert!(
        created["owner_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );
    let account = frontdesk::services::accounts::get_account(&app.ctx, account_id)
        .await
        .expect("stored");
    assert_eq!(created["widget_key"], account.widget_key.as_str());
    assert_eq!(
        account.plan.code, "PRO",
        "legacy plans are allowed for accounts moving in"
    );
    assert_eq!(
        account.billing_anchor.to_rfc3339(),
        "2026-01-31T09:30:00+00:00"
    );
    assert_eq!(
        app.user_id("boss@example.com").await.to_string(),
        created["owner_id"].as_str().expect("id")
    );
}

#[tokio::test]
async fn account_create_reports_every_bad_argument() {
    let app = spawn_app().await;
    let output = frontdesk(
        &app.database_url,
        &[
            "account",
            "create",
            "--name",
            "X",
            "--plan",
            "GOLD",
            "--owner-email",
            "nope",
            "--owner-password",
            "short",
            "--json",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for flag in ["--plan", "--owner-email", "--owner-password"] {
        assert!(stderr.contains(flag), "{flag} named in: {stderr}");
    }
}

#[tokio::test]
async fn token_create_json_prints_a_token_that_the_api_accepts() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let output = frontdesk(
        &app.database_url,
        &["token", "create", "--email", &account.owner_email, "--json"],
    );
    let token = json_of(&output)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let response = app
        .api(&token, Method::GET, "/api/v1/account")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);

    let unknown = frontdesk(
        &app.database_url,
        &["token", "create", "--email", "ghost@example.com", "--json"],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no active user"));
}

#[tokio::test]
async fn agent_create_adds_a_user_to_the_account_named_by_its_widget_key() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let output = frontdesk(
        &app.database_url,
        &[
            "agent",
            "create",
            "--account",
            &account.widget_key,
            "--email",
            "ann@example.com",
            "--name",
            "Ann",
            "--role",
            "admin",
            "--json",
        ],
    );
    let created = json_of(&output);
    assert_eq!(created["account_id"], account.account_id.to_string());
    assert_eq!(
        created["temporary_password"].as_str().map(str::len),
        Some(16)
    );
    let token = app.token_for("ann@example.com").await;
    let me: Value = app
        .api(&token, Method::GET, "/api/v1/account")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(me["id"], account.account_id.to_string());
}

#[tokio::test]
async fn a_bad_setting_stops_the_command_with_its_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .arg("migrate")
        .env("FRONTDESK_BIND", "not-an-address")
        .output()
        .expect("run frontdesk");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FRONTDESK_BIND"), "{stderr}");
}

#[tokio::test]
async fn migrate_and_demo_run_against_the_configured_database() {
    let (database_url, _dir) = crate::helpers::fresh_database().await;
    let migrated = frontdesk(&database_url, &["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let demo = frontdesk(&database_url, &["demo"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let stdout = String::from_utf8_lossy(&demo.stdout);
    for email in [
        "owner@demo.test",
        "admin@demo.test",
        "alice@demo.test",
        "bob@demo.test",
    ] {
        assert!(stdout.contains(email), "{email} printed in {stdout}");
    }
}

#[tokio::test]
async fn the_operator_changes_a_plan_and_new_periods_use_it() {
    let app = spawn_app().await;
    let set = frontdesk(
        &app.database_url,
        &[
            "plan",
            "set",
            "solo",
            "--chatbot-conversations",
            "150",
            "--package-cap",
            "900",
            "--json",
        ],
    );
    let changed = json_of(&set);
    assert_eq!(changed[0]["chatbot_conversations"], 150);
    assert_eq!(changed[0]["package_cap"], 900);
    let listed = json_of(&frontdesk(&app.database_url, &["plan", "list", "--json"]));
    let solo = listed
        .as_array()
        .expect("plans")
        .iter()
        .find(|p| p["code"] == "SOLO")
        .cloned()
        .expect("SOLO");
    assert_eq!(solo["chatbot_conversations"], 150);
    // A new account's first period gets the new allowance.
    let account = app.create_account("After the change").await;
    let (_, allowance) =
        frontdesk::services::billing::allowance(&app.ctx, account.account_id.as_uuid())
            .await
            .expect("allowance");
    assert_eq!(allowance.included, 150);
    let refused = frontdesk(
        &app.database_url,
        &["plan", "set", "SOLO", "--price-minor=-5"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("price_minor"));
    let unknown = frontdesk(
        &app.database_url,
        &["plan", "set", "GOLD", "--price-minor", "5"],
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no plan GOLD"));
    let tick = json_of(&frontdesk(
        &app.database_url,
        &["billing", "tick", "--now", "2026-01-01T00:00:00Z", "--json"],
    ));
    assert_eq!(
        tick["periods"], 0,
        "nothing is due before the accounts' periods end"
    );
}
