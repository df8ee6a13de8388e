//! The real `frontdesk` binary as a child process on a test database: CLI calls with JSON
//! output, and `serve` on a free port, so a test can kill the server and start it again.

use serde_json::Value;
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The binary with its configuration: the database, and settings a test adds.
pub struct Binary {
    database_url: String,
    env: Vec<(&'static str, String)>,
}

/// A free port on 127.0.0.1 (bound and released, so a restarted server can take it again).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Binary {
    pub fn new(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            env: Vec::new(),
        }
    }

    /// Adds a `FRONTDESK_*` setting for every run.
    pub fn env(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_frontdesk"));
        command
            .env("FRONTDESK_DATABASE_URL", &self.database_url)
            .env("FRONTDESK_LOG", "warn")
            .env("FRONTDESK_DEMO", "0")
            .env("FRONTDESK_CONFIG", "/nonexistent/frontdesk.toml");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a command that prints JSON; fails the test when it fails.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let output = self.command().args(args).output().expect("run frontdesk");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("json")
    }

    /// Creates an account whose owner is `email`; answers `account create`'s JSON and an API
    /// token of the owner.
    pub fn account_with_token(&self, name: &str, email: &str) -> (Value, String) {
        let created = self.cli_json(&[
            "account",
            "create",
            "--name",
            name,
            "--owner-email",
            email,
            "--owner-password",
            "a long test password",
            "--json",
        ]);
        let token = self.cli_json(&["token", "create", "--email", email, "--json"])["token"]
            .as_str()
            .expect("token")
            .to_owned();
        (created, token)
    }

    /// Starts `frontdesk serve` on the port and waits until it is ready.
    pub async fn serve(&self, port: u16) -> Child {
        self.serve_logging(port, Stdio::null()).await
    }

    /// Starts `frontdesk serve` with its log (stderr) going to `log`, and waits until it is ready.
    pub async fn serve_logging(&self, port: u16, log: impl Into<Stdio>) -> Child {
        let child = self.start_serving(port, Stdio::null(), log);
        wait_until_ready(child, port).await
    }

    /// Starts `frontdesk serve` on the port, its output and log (stderr) going to `output`
    /// and `log`, without waiting.
    pub fn start_serving(
        &self,
        port: u16,
        output: impl Into<Stdio>,
        log: impl Into<Stdio>,
    ) -> Child {
        self.command()
            .arg("serve")
            .env("FRONTDESK_BIND", format!("127.0.0.1:{port}"))
            .stdout(output)
            .stderr(log)
            .spawn()
            .expect("start frontdesk serve")
    }

    /// Starts a command without waiting; its output is kept for `wait_with_output`.
    pub fn start(&self, args: &[&str]) -> Child {
        self.command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start frontdesk")
    }
}

/// Waits (at most 10 s) until the server on `port` answers `/readyz`; kills it and fails the
/// test otherwise, or when it exits first.
pub async fn wait_until_ready(mut child: Child, port: u16) -> Child {
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && response.status().is_success()
        {
            return child;
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("the server exited before it was ready: {exit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not become ready");
}
