//! Acknowledged messages survive the server being killed (SIGKILL) mid-traffic.

use crate::{
    helpers::fresh_database,
    server_process::{Binary, free_port},
    sockets::Socket,
};
use serde_json::Value;
use std::{
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Acknowledgements collected from every sender.
pub type Acked = Arc<Mutex<Vec<Value>>>;

/// `visitors` widgets of the account, each sending messages one after the other (waiting
/// for each ack) until its socket fails or `until` passes; every ack lands in `acked`. With
/// `reply_token`, an agent answers each conversation's first message (REST), so the later
/// messages go into a conversation people have: the message path's typed form (on SQLite
/// in the writer's batches, on PostgreSQL one statement each).
pub fn start_senders(
    address: &str,
    widget_key: &str,
    visitors: usize,
    acked: &Acked,
    until: Instant,
    reply_token: Option<&str>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..visitors)
        .map(|visitor| {
            let (address, key, acked) = (address.to_owned(), widget_key.to_owned(), acked.clone());
            let reply_token = reply_token.map(str::to_owned);
            tokio::spawn(async move {
                let Ok(mut socket) =
                    Socket::open(&address, &format!("/ws/widget?key={key}"), None, None).await
                else {
                    return;
                };
                socket.hello(None, None, None).await;
                for n in 0.. {
                    if Instant::now() > until {
                        return;
                    }
                    match socket
                        .try_say(&format!("v{visitor}-{n}"), &format!("message {n}"))
                        .await
                    {
                        Some(ack) => {
                            if n == 0
                                && let Some(token) = &reply_token
                            {
                                // The server may be killed meanwhile: then the reply is lost
                                // and nothing is claimed about it.
                                let _ = reqwest::Client::new()
                                    .post(format!(
                                        "{address}/api/v1/conversations/{}/messages",
                                        ack["conversation_id"].as_str().unwrap_or_default()
                                    ))
                                    .bearer_auth(token)
                                    .json(&serde_json::json!({
                                        "client_id": format!("agent-{visitor}"),
                                        "text": "On it"
                                    }))
                                    .send()
                                    .await;
                            }
                            acked.lock().expect("lock").push(ack);
                        }
                        None => return,
                    }
                }
            })
        })
        .collect()
}

/// Waits (at most `within`) until `count` acks have come.
pub async fn wait_for_acks(acked: &Acked, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline && acked.lock().expect("lock").len() < count {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message of the account, read through the API of the server on `port`.
pub async fn stored_messages(port: u16, token: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut stored: Vec<Value> = Vec::new();
    let list: Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/conversations?limit=100"
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    for conversation in list["conversations"].as_array().expect("array") {
        let id = conversation["id"].as_str().expect("id");
        let messages: Value = client
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/conversations/{id}/messages"
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("messages")
            .json()
            .await
            .expect("json");
        stored.extend(
            messages["messages"]
                .as_array()
                .expect("array")
                .iter()
                .cloned(),
        );
    }
    stored
}

/// Each acknowledged message is stored exactly once, with the id and seq of its ack.
pub fn assert_each_ack_stored_once(acked: &[Value], stored: &[Value]) {
    for ack in acked {
        let copies: Vec<&Value> = stored
            .iter()
            .filter(|m| m["client_id"] == ack["client_id"])
            .collect();
        assert_eq!(copies.len(), 1, "acked {} stored once", ack["client_id"]);
        assert_eq!(copies[0]["id"], ack["id"]);
        assert_eq!(copies[0]["seq"], ack["seq"]);
    }
}

#[tokio::test]
async fn every_acknowledged_message_is_stored_exactly_once_after_a_sigkill() {
    sigkill_mid_traffic(4, 80, false).await;
}

/// Many visitors at once keep the writer's batches full (every write that arrives during a
/// commit joins the next one): the kill lands while a full batch is being written. An agent
/// answers each conversation first, so most writes take the typed form (on SQLite the
/// batches are mostly its writes, mixed with the general path's; on PostgreSQL each is one
/// statement of its own, killed mid-flight as well).
#[tokio::test]
async fn a_sigkill_during_full_batches_keeps_every_ack_once_and_leaves_nothing_half_written() {
    sigkill_mid_traffic(48, 600, true).await;
}

/// `visitors` send as fast as they are acknowledged; the server is SIGKILLed once `acks`
/// arrived (or 20 s passed). After a restart every acknowledged message is stored exactly
/// once, and every conversation is whole: its messages are numbered 1..=last_seq with no gap,
/// so no write was half-done (a message without its conversation's update, or the reverse).
async fn sigkill_mid_traffic(visitors: usize, acks: usize, agents_reply: bool) {
    let (database_url, _dir) = fresh_database().await;
    let binary = Binary::new(&database_url);
    let (created, token) = binary.account_with_token("Durable", "d@example.com");
    let widget_key = created["widget_key"].as_str().expect("key").to_owned();

    let port = free_port();
    let mut server = binary.serve(port).await;
    let address = format!("http://127.0.0.1:{port}");
    let acked = Acked::default();
    let until = Instant::now() + Duration::from_secs(60);
    let senders = start_senders(
        &address,
        &widget_key,
        visitors,
        &acked,
        until,
        agents_reply.then_some(token.as_str()),
    );
    // Let traffic build up, then kill the server without warning.
    wait_for_acks(&acked, acks, Duration::from_secs(20)).await;
    if agents_reply {
        let metrics = reqwest::get(format!("{address}/metrics"))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics");
        let typed = crate::metrics::value(&metrics, "frontdesk_message_typed_writes_total");
        assert!(
            typed > 0.0,
            "the typed form wrote some of the messages ({typed})"
        );
    }
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reap the server");
    for sender in senders {
        let _ = sender.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 20,
        "traffic flowed before the kill ({} acks)",
        acked.len()
    );

    let mut restarted = binary.serve(port).await;
    assert_each_ack_stored_once(&acked, &stored_messages(port, &token).await);
    restarted.kill().expect("stop the server");
    let _ = restarted.wait();
    whole_conversations(&database_url).await;
}

/// Every conversation's messages are numbered 1..=last_seq, each number once.
async fn whole_conversations(database_url: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = frontdesk::storage::connect(database_url)
        .await
        .expect("database");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(c.last_seq AS BIGINT) AS last_seq, COUNT(m.id) AS stored, \
             CAST(COALESCE(MAX(m.seq), 0) AS BIGINT) AS highest \
             FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id \
             GROUP BY c.id, c.last_seq",
        ))
        .await
        .expect("conversations");
    assert!(!rows.is_empty());
    for row in rows {
        let last_seq: i64 = row.try_get("", "last_seq").expect("last_seq");
        let stored: i64 = row.try_get("", "stored").expect("stored");
        let highest: i64 = row.try_get("", "highest").expect("highest");
        assert_eq!(
            (stored, highest),
            (last_seq, last_seq),
            "a conversation with last_seq {last_seq} holds {stored} messages up to {highest}"
        );
    }
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let (database_url, _dir) = fresh_database().await;
    let port = free_port();
    let mut server = Binary::new(&database_url).serve(port).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    for _ in 0..100 {
        if let Some(exit) = server.try_wait().expect("poll the server") {
            assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    panic!("the server did not stop within 10 s of SIGTERM");
}
