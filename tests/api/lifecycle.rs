//! The `frontdesk` process over its life: logs, several processes starting on one new
//! database, and shutdown on SIGTERM.

use crate::{
    agent_socket::session_cookie_at,
    durability::{
        Acked, assert_each_ack_stored_once, start_senders, stored_messages, wait_for_acks,
    },
    helpers::fresh_database,
    server_process::{Binary, free_port, wait_until_ready},
    sockets::Socket,
};
use std::{
    process::Stdio,
    time::{Duration, Instant},
};

/// The server's grace period for in-flight requests after SIGTERM (`startup.rs`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Sends SIGTERM to a child process.
pub fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits at most `wait` for the child to exit; kills it and fails the test otherwise.
pub async fn exits_within(
    child: &mut std::process::Child,
    wait: Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if let Some(exit) = child.try_wait().expect("poll the server") {
            return exit;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the process did not exit within {wait:?}");
}

#[tokio::test]
async fn pretty_logs_written_to_a_file_carry_no_colour_codes() {
    let (database_url, _dir) = fresh_database().await;
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log_path = log_dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let mut server = Binary::new(&database_url)
        .env("FRONTDESK_LOG", "info")
        .env("FRONTDESK_LOG_FORMAT", "pretty")
        .serve_logging(port, log)
        .await;
    sigterm(&server);
    exits_within(&mut server, Duration::from_secs(15)).await;
    let written = std::fs::read_to_string(&log_path).expect("read the log");
    assert!(written.contains("serving"), "the log has lines: {written}");
    assert!(
        !written.contains('\u{1b}'),
        "the log holds terminal escape codes: {written:?}"
    );
}

#[tokio::test]
async fn sigterm_closes_idle_widget_and_inbox_sockets_with_1012_and_exits_within_the_grace_period()
{
    let (database_url, _dir) = fresh_database().await;
    let binary = Binary::new(&database_url);
    let (created, _) = binary.account_with_token("Idle", "idle@example.com");
    let key = created["widget_key"].as_str().expect("key");
    let port = free_port();
    let mut server = binary.serve(port).await;
    let address = format!("http://127.0.0.1:{port}");
    let mut widget = Socket::open(&address, &format!("/ws/widget?key={key}"), None, None)
        .await
        .expect("widget socket");
    widget.hello(None, None, None).await;
    let cookie = session_cookie_at(&address, "idle@example.com", "a long test password").await;
    let mut inbox = Socket::open(&address, "/ws/agent", Some(&address), Some(&cookie))
        .await
        .expect("inbox socket");

    let asked = Instant::now();
    sigterm(&server);
    for socket in [&mut widget, &mut inbox] {
        let (_, close) = socket.until_close_frame().await;
        let (code, reason) = close.expect("a close frame, not a dropped connection");
        assert_eq!(code, 1012, "service restart: {reason}");
    }
    let exit = exits_within(&mut server, SHUTDOWN_GRACE - Duration::from_secs(1)).await;
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    assert!(
        asked.elapsed() < SHUTDOWN_GRACE,
        "an idle socket held the shutdown for {:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn sigterm_under_load_panics_nowhere_and_every_acknowledged_message_is_stored() {
    let (database_url, _dir) = fresh_database().await;
    let binary = Binary::new(&database_url);
    let (created, token) = binary.account_with_token("Busy", "busy@example.com");
    let key = created["widget_key"].as_str().expect("key").to_owned();
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log_path = log_dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let output = log.try_clone().expect("log file");
    let port = free_port();
    let mut server = wait_until_ready(binary.start_serving(port, output, log), port).await;
    let address = format!("http://127.0.0.1:{port}");
    let acked = Acked::default();
    // Senders stop at the latest well after the old grace period (10 s) ran out.
    let until = Instant::now() + Duration::from_secs(40);
    let senders = start_senders(&address, &key, 50, &acked, until, None);
    // 50 sockets connect and say hello first: on a busy machine that takes seconds.
    wait_for_acks(&acked, 300, Duration::from_secs(30)).await;

    sigterm(&server);
    exits_within(&mut server, Duration::from_secs(20)).await;
    for sender in senders {
        let _ = tokio::time::timeout(Duration::from_secs(30), sender).await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 50, "traffic flowed ({} acks)", acked.len());
    let written = std::fs::read_to_string(&log_path).expect("read the log");
    assert_eq!(
        written.matches("panicked").count(),
        0,
        "the server panicked while stopping (its output and log):\n{written}"
    );

    let mut restarted = binary.serve(port).await;
    assert_each_ack_stored_once(&acked, &stored_messages(port, &token).await);
    restarted.kill().expect("stop the server");
    let _ = restarted.wait();
}

/// Two `serve` and one `account create` started at the same instant on a new database, as
/// nodes of a fresh install come up together: every one of them starts (each round on a
/// database of its own, five rounds to give the race its chances).
#[tokio::test]
async fn two_servers_and_a_cli_command_started_at_once_on_a_new_database_all_succeed() {
    for round in 0..5 {
        let (database_url, _dir) = fresh_database().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let binary = Binary::new(&database_url).env("FRONTDESK_DEMO", "1");
        let ports = [free_port(), free_port()];
        let logs: Vec<std::path::PathBuf> = (0..2)
            .map(|n| dir.path().join(format!("serve-{n}.log")))
            .collect();
        let servers: Vec<_> = ports
            .iter()
            .zip(&logs)
            .map(|(port, log)| {
                let log = std::fs::File::create(log).expect("log file");
                binary.start_serving(*port, Stdio::null(), log)
            })
            .collect();
        let email = format!("owner-{round}@example.com");
        let cli = binary.start(&[
            "account",
            "create",
            "--name",
            "Together",
            "--owner-email",
            &email,
            "--owner-password",
            "a long test password",
            "--json",
        ]);
        let output = cli.wait_with_output().expect("account create");
        assert!(
            output.status.success(),
            "round {round}: account create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("account create prints JSON");
        assert!(created["widget_key"].is_string(), "{created}");
        for ((server, port), log) in servers.into_iter().zip(ports).zip(&logs) {
            let mut server = tokio::spawn(wait_until_ready(server, port))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "round {round}: serve on {port} failed:\n{}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    )
                });
            let plans = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                .await
                .expect("readyz");
            assert!(plans.status().is_success());
            server.kill().expect("stop the server");
            let _ = server.wait();
        }
        // The catalogue was seeded once: six plans, whoever migrated.
        let plans = binary.cli_json(&["plan", "list", "--json"]);
        assert_eq!(
            plans.as_array().map(Vec::len),
            Some(6),
            "round {round}: {plans}"
        );
    }
}
