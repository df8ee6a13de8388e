//! Files across processes: the S3 file store (a local S3-compatible server, `moto_server`,
//! which the test starts; it fails, never skips, when the binary is missing) lets a file
//! uploaded through one node be downloaded through another, and erase deletes the object;
//! a server killed (SIGKILL) in the middle of an upload leaves no file and no half message.

use crate::{
    files::{PDF, PNG, form},
    helpers::{fresh_database, fresh_postgres_database},
    server_process::{Binary, free_port},
    sockets::Socket,
};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use std::{
    io::Write as _,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The PostgreSQL server used when `TEST_DATABASE_URL` is not set (two nodes share it).
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const BUCKET: &str = "frontdesk-files";

/// A `moto_server` (an S3-compatible server) of the test's own, stopped when dropped.
struct S3Server {
    port: u16,
    child: Child,
}

impl S3Server {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "the S3 file store test needs `moto_server` on the PATH \
                     (pip install 'moto[server]'; .ci/run installs it): {error}"
                )
            });
        let server = Self { port, child };
        let client = Client::new();
        for _ in 0..150 {
            if let Ok(response) = client.put(server.url(BUCKET)).send().await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start on port {port}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The keys in the bucket.
    async fn keys(&self) -> Vec<String> {
        let listing = Client::new()
            .get(self.url(&format!("{BUCKET}?list-type=2")))
            .send()
            .await
            .expect("list the bucket")
            .text()
            .await
            .expect("listing");
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn upload(url: String, token: Option<&str>, name: &str, bytes: &[u8]) -> (u16, Value) {
    let mut request = Client::new().post(url).multipart(form(name, bytes));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn api(port: u16, token: &str, method: Method, path: &str) -> reqwest::Response {
    Client::new()
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn with_the_s3_store_a_file_uploaded_through_one_node_downloads_through_another() {
    let s3 = S3Server::start().await;
    let base = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| LOCAL_POSTGRES.to_owned());
    let database_url = fresh_postgres_database(&base).await;
    let binary = Binary::new(&database_url)
        .env("FRONTDESK_FILE_STORE", "s3")
        .env("FRONTDESK_S3_BUCKET", BUCKET)
        .env(
            "FRONTDESK_S3_ENDPOINT",
            format!("http://127.0.0.1:{}", s3.port),
        )
        .env("FRONTDESK_S3_ALLOW_HTTP", "1")
        .env("FRONTDESK_S3_ACCESS_KEY_ID", "test")
        .env("FRONTDESK_S3_SECRET_ACCESS_KEY", "test");
    let (created, token) = binary.account_with_token("Shared", "s3@example.com");
    let key = created["widget_key"].as_str().expect("key").to_owned();
    let (port_a, port_b) = (free_port(), free_port());
    let mut node_a = binary.serve(port_a).await;
    let mut node_b = binary.serve(port_b).await;

    // A visitor on node A sends a file.
    let mut widget = Socket::open(
        &format!("http://127.0.0.1:{port_a}"),
        &format!("/ws/widget?key={key}"),
        None,
        None,
    )
    .await
    .expect("widget socket");
    let welcome = widget.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    let (status, file) = upload(
        format!(
            "http://127.0.0.1:{port_a}/widget/attachments?key={key}&visitor_token={visitor_token}"
        ),
        None,
        "photo.png",
        PNG,
    )
    .await;
    assert_eq!(status, 201, "{file}");
    let id = file["id"].as_str().expect("id").to_owned();
    widget
        .send(json!({"type": "message", "client_id": "v-1", "text": "", "attachments": [id]}))
        .await;
    let ack = widget.recv_type("ack").await;
    let conversation_id = ack["conversation_id"].as_str().expect("id").to_owned();
    assert_eq!(s3.keys().await.len(), 1, "the object is in the bucket");

    // The agent reads it through node B.
    let response = api(port_b, &token, Method::GET, &format!("/files/{id}")).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);
    // And replies with a file through node B, which the visitor fetches from node A.
    let (status, reply_file) = upload(
        format!("http://127.0.0.1:{port_b}/api/v1/conversations/{conversation_id}/attachments"),
        Some(&token),
        "terms.pdf",
        PDF,
    )
    .await;
    assert_eq!(status, 201, "{reply_file}");
    let reply_id = reply_file["id"].as_str().expect("id").to_owned();
    let sent = Client::new()
        .post(format!(
            "http://127.0.0.1:{port_b}/api/v1/conversations/{conversation_id}/messages"
        ))
        .bearer_auth(&token)
        .json(&json!({"client_id": "a-1", "text": "Terms", "attachments": [reply_id]}))
        .send()
        .await
        .expect("reply");
    assert_eq!(sent.status().as_u16(), 201);
    let fetched = Client::new()
        .get(format!(
            "http://127.0.0.1:{port_a}/files/{reply_id}?visitor_token={visitor_token}"
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), PDF);

    // Erasing the visitor through node B deletes both objects from the bucket.
    let conversation: Value = api(
        port_b,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}"),
    )
    .await
    .json()
    .await
    .expect("json");
    let visitor_id = conversation["visitor"]["id"]
        .as_str()
        .expect("visitor id")
        .to_owned();
    let erased = api(
        port_b,
        &token,
        Method::DELETE,
        &format!("/api/v1/visitors/{visitor_id}"),
    )
    .await;
    assert!(erased.status().is_success(), "{}", erased.status());
    assert_eq!(s3.keys().await, Vec::<String>::new());
    let gone = api(port_a, &token, Method::GET, &format!("/files/{id}")).await;
    assert_eq!(gone.status().as_u16(), 404);

    for node in [&mut node_a, &mut node_b] {
        let _ = node.kill();
        let _ = node.wait();
    }
}

#[tokio::test]
async fn a_sigkill_in_the_middle_of_an_upload_leaves_no_file_and_no_half_message() {
    let (database_url, _dir) = fresh_database().await;
    let files = tempfile::tempdir().expect("files dir");
    let binary =
        Binary::new(&database_url).env("FRONTDESK_FILE_DIR", files.path().display().to_string());
    let (created, token) = binary.account_with_token("Killed", "kill@example.com");
    let key = created["widget_key"].as_str().expect("key").to_owned();
    let port = free_port();
    let mut server = binary.serve(port).await;
    let address = format!("http://127.0.0.1:{port}");
    let mut widget = Socket::open(&address, &format!("/ws/widget?key={key}"), None, None)
        .await
        .expect("widget socket");
    let welcome = widget.hello(None, None, None).await;
    let visitor_token = welcome["visitor_token"].as_str().expect("token").to_owned();
    // One whole file sent with a message, acknowledged before the kill.
    let (status, file) = upload(
        format!("{address}/widget/attachments?key={key}&visitor_token={visitor_token}"),
        None,
        "kept.png",
        PNG,
    )
    .await;
    assert_eq!(status, 201);
    let kept = file["id"].as_str().expect("id").to_owned();
    widget
        .send(json!({"type": "message", "client_id": "v-1", "text": "kept", "attachments": [kept]}))
        .await;
    widget.recv_type("ack").await;

    // A second upload stops half way: the server is killed while it reads the body.
    let boundary = "frontdesk-test-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    );
    let whole = 200_000;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST /widget/attachments?key={key}&visitor_token={visitor_token} HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n{head}",
        head.len() + whole + boundary.len() + 8
    )
    .expect("send headers");
    stream.write_all(PDF).expect("send part of the file");
    stream
        .write_all(&vec![b'x'; 50_000])
        .expect("send part of the file");
    stream.flush().expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reap the server");
    drop(stream);

    let mut restarted = binary.serve(port).await;
    let conversations: Value = api(port, &token, Method::GET, "/api/v1/conversations")
        .await
        .json()
        .await
        .expect("json");
    let conversation_id = conversations["conversations"][0]["id"]
        .as_str()
        .expect("id");
    let messages: Value = api(
        port,
        &token,
        Method::GET,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
    )
    .await
    .json()
    .await
    .expect("json");
    let messages = messages["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        1,
        "only the acknowledged message: {messages:?}"
    );
    assert_eq!(messages[0]["attachments"][0]["id"], kept.as_str());
    let response = api(port, &token, Method::GET, &format!("/files/{kept}")).await;
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);
    // The half upload left no row and no file.
    let db = frontdesk::storage::connect(&database_url)
        .await
        .expect("database");
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM attachments",
        ))
        .await
        .expect("attachments");
    assert_eq!(rows.len(), 1, "only the kept file has a row");
    let stored: usize = std::fs::read_dir(files.path())
        .expect("files dir")
        .flatten()
        .map(|account| std::fs::read_dir(account.path()).map_or(0, |dir| dir.flatten().count()))
        .sum();
    assert_eq!(stored, 1, "only the kept file is stored");
    let _ = restarted.kill();
    let _ = restarted.wait();
}
