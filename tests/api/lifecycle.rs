//! The `frontdesk` process over its life: logs, several processes starting on one new
//! database, and shutdown on SIGTERM.

use crate::{
    helpers::fresh_database,
    server_process::{Binary, free_port},
};
use std::time::Duration;

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
