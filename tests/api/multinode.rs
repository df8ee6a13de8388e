//! Two `frontdesk serve` processes on one PostgreSQL database and one Redis: a visitor on one
//! node and an agent on the other chat live, through a Redis restart without losing or
//! repeating a message, blocking reaches the other node, and each lease-guarded job runs on one
//! node at a time. Needs PostgreSQL (`TEST_DATABASE_URL`, else the local server) and
//! `redis-server`: it fails, never skips, when either is missing.

use crate::{
    agent_socket::session_cookie_at,
    helpers::fresh_postgres_database,
    server_process::{Binary, free_port},
    sockets::Socket,
};
use reqwest::{Client, Method};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::time::{Instant, sleep};

/// The PostgreSQL server used when `TEST_DATABASE_URL` is not set.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// How long a frame may take to cross from one node to the other (generous: CI machines are
/// busy; a stalled fan-out takes forever, not ten seconds).
const LIVE: Duration = Duration::from_secs(10);
/// How long the nodes get to notice Redis is back, resubscribe and have every socket replay.
const RECOVERY: Duration = Duration::from_secs(20);
const OWNER_EMAIL: &str = "owner@multi.example.com";
const OWNER_PASSWORD: &str = "a long test password";

/// A `redis-server` of the test's own, without persistence.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    async fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "the multi-node test needs `redis-server` on the PATH \
                     (Debian: apt-get install redis-server): {error}"
                )
            });
        let mut redis = Redis {
            port,
            child: Some(child),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return redis;
            }
            sleep(Duration::from_millis(50)).await;
        }
        redis.kill();
        panic!("redis-server did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `frontdesk serve` process, killed when dropped.
struct Node {
    address: String,
    child: Child,
}

impl Node {
    async fn start(binary: &Binary, name: &str) -> Node {
        let port = free_port();
        let log = std::fs::File::create(std::env::temp_dir().join(format!("multinode-{name}.log")))
            .expect("log file");
        let child = binary.serve_logging(port, log).await;
        Node {
            address: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn readiness(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.address))
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json")
    }

    /// Waits until `/readyz` reports Redis as `state`.
    async fn wait_for_redis(&self, state: &str) {
        let deadline = Instant::now() + RECOVERY;
        while Instant::now() < deadline {
            if self.readiness().await["redis"] == state {
                return;
            }
            sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never reported Redis {state}", self.address);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The messages one side holds, by seq, as widget.js keeps them: `held` only moves over seqs
/// held without a gap (so a reconnect asks for everything after it), a replay may repeat
/// messages already held (dropped, as the widget drops ids it has), and a frame pushed live
/// twice is a failure.
#[derive(Default)]
struct Transcript {
    seen: BTreeMap<i64, String>,
    live: BTreeMap<i64, usize>,
    held: i64,
}

impl Transcript {
    fn insert(&mut self, message: &Value) -> Option<i64> {
        let (Some(seq), Some(text)) = (message["seq"].as_i64(), message["text"].as_str()) else {
            return None;
        };
        self.seen.insert(seq, text.to_owned());
        Some(seq)
    }

    fn advance(&mut self) {
        while self.seen.contains_key(&(self.held + 1)) {
            self.held += 1;
        }
    }

    /// A message pushed on the socket.
    fn live(&mut self, message: &Value) {
        if let Some(seq) = self.insert(message) {
            *self.live.entry(seq).or_default() += 1;
            self.advance();
        }
    }

    /// Every message after `held`, read from the database (a welcome, or the REST API).
    fn replay(&mut self, messages: &[Value]) {
        for message in messages {
            if let Some(seq) = self.insert(message) {
                self.held = self.held.max(seq);
            }
        }
        self.advance();
    }

    fn has(&self, texts: &[String]) -> bool {
        texts
            .iter()
            .all(|text| self.seen.values().any(|seen| seen == text))
    }

    /// The texts in seq order; fails on any message pushed live twice.
    fn texts(&self) -> Vec<String> {
        for (seq, count) in &self.live {
            assert_eq!(*count, 1, "message {seq} was pushed {count} times");
        }
        self.seen.values().cloned().collect()
    }
}

/// A visitor's widget, reconnecting with `last_seq` when the server closes it, as widget.js does.
struct Visitor {
    address: String,
    key: String,
    socket: Socket,
    token: String,
    conversation: Option<String>,
    transcript: Transcript,
    reconnects: usize,
}

impl Visitor {
    async fn connect(address: &str, key: &str) -> Visitor {
        let mut socket = open_widget(address, key).await;
        let welcome = socket.hello(None, None, None).await;
        Visitor {
            address: address.to_owned(),
            key: key.to_owned(),
            socket,
            token: welcome["visitor_token"]
                .as_str()
                .expect("visitor token")
                .to_owned(),
            conversation: None,
            transcript: Transcript::default(),
            reconnects: 0,
        }
    }

    async fn reconnect(&mut self) {
        self.reconnects += 1;
        self.socket = open_widget(&self.address, &self.key).await;
        let last_seq = self.transcript.held;
        let welcome = self
            .socket
            .hello(
                Some(&self.token),
                self.conversation.as_deref(),
                Some(last_seq),
            )
            .await;
        let messages = welcome["messages"].as_array().cloned().unwrap_or_default();
        self.transcript.replay(&messages);
    }

    /// Handles one frame; answers it for the caller to look at.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        match self.socket.next_within(wait).await? {
            Ok(frame) => {
                if frame["type"] == "message" {
                    self.transcript.live(&frame);
                }
                Some(frame)
            }
            Err(reason) => {
                assert_ne!(reason, "blocked", "the visitor was blocked unexpectedly");
                self.reconnect().await;
                None
            }
        }
    }

    /// Sends a message and waits for its ack (recording every frame meanwhile); after a
    /// reconnect it sends it again with the same `client_id`, as the widget's outbox does.
    async fn say(&mut self, client_id: &str, text: &str) {
        let frame = json!({"type": "message", "client_id": client_id, "text": text});
        let mut sent_on = None;
        let deadline = Instant::now() + LIVE;
        while Instant::now() < deadline {
            if sent_on != Some(self.reconnects) {
                self.socket.send(frame.clone()).await;
                sent_on = Some(self.reconnects);
            }
            if let Some(frame) = self.next(deadline - Instant::now()).await
                && frame["type"] == "ack"
                && frame["client_id"] == client_id
            {
                self.conversation = frame["conversation_id"].as_str().map(str::to_owned);
                return;
            }
        }
        panic!("no ack for {client_id}");
    }

    /// Reads (and reconnects) until every text arrived, or `wait` passed.
    async fn until_has(&mut self, texts: &[String], wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while !self.transcript.has(texts) && Instant::now() < deadline {
            self.next(deadline - Instant::now()).await;
        }
        self.transcript.has(texts)
    }

    /// Reads until `kind` arrives (reconnecting if told to), or `wait` passed.
    async fn until_frame(&mut self, kind: &str, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(frame) = self.next(deadline - Instant::now()).await
                && frame["type"] == kind
            {
                return Some(frame);
            }
        }
        None
    }
}

async fn open_widget(address: &str, key: &str) -> Socket {
    Socket::open(address, &format!("/ws/widget?key={key}"), None, None)
        .await
        .expect("widget socket")
}

/// An agent's inbox socket; on a close it reconnects and reloads the conversation from the
/// REST API after the last seq it has, as the inbox re-renders from the database.
struct Agent {
    address: String,
    cookie: String,
    token: String,
    socket: Socket,
    conversation: Option<String>,
    transcript: Transcript,
    reconnects: usize,
}

impl Agent {
    async fn connect(address: &str, token: &str) -> Agent {
        let cookie = session_cookie_at(address, OWNER_EMAIL, OWNER_PASSWORD).await;
        let socket = open_inbox(address, &cookie).await;
        Agent {
            address: address.to_owned(),
            cookie,
            token: token.to_owned(),
            socket,
            conversation: None,
            transcript: Transcript::default(),
            reconnects: 0,
        }
    }

    async fn next(&mut self, wait: Duration) {
        match self.socket.next_within(wait).await {
            Some(Ok(frame)) if frame["type"] == "message" => {
                if self.conversation.is_none() {
                    self.conversation = frame["conversation_id"].as_str().map(str::to_owned);
                }
                self.transcript.live(&frame["message"]);
            }
            Some(Ok(_)) | None => {}
            Some(Err(_)) => {
                self.reconnects += 1;
                self.socket = open_inbox(&self.address, &self.cookie).await;
                if let Some(conversation) = &self.conversation {
                    let path = format!(
                        "/api/v1/conversations/{conversation}/messages?after_seq={}",
                        self.transcript.held
                    );
                    let (status, body) =
                        call(&self.address, &self.token, Method::GET, &path, None).await;
                    assert_eq!(status, 200, "{body}");
                    let messages = body["messages"].as_array().cloned().unwrap_or_default();
                    self.transcript.replay(&messages);
                }
            }
        }
    }

    async fn until_has(&mut self, texts: &[String], wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while !self.transcript.has(texts) && Instant::now() < deadline {
            self.next(deadline - Instant::now()).await;
        }
        self.transcript.has(texts)
    }

    /// Replies through the REST API of this agent's node.
    async fn reply(&self, client_id: &str, text: &str) {
        let conversation = self.conversation.as_deref().expect("a conversation");
        let (status, body) = call(
            &self.address,
            &self.token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"client_id": client_id, "text": text})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn open_inbox(address: &str, cookie: &str) -> Socket {
    Socket::open(address, "/ws/agent", Some(address), Some(cookie))
        .await
        .expect("inbox socket")
}

async fn call(
    address: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = Client::new()
        .request(method, format!("{address}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn conversation_detail(address: &str, token: &str, conversation: &str) -> Value {
    let path = format!("/api/v1/conversations/{conversation}");
    let (status, body) = call(address, token, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Who holds each job's lease now: job name -> holder.
async fn lease_holders(db: &DatabaseConnection) -> BTreeMap<String, String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name, holder FROM job_leases",
        ))
        .await
        .expect("read job_leases");
    rows.into_iter()
        .map(|row| {
            (
                row.try_get::<String>("", "name").expect("name"),
                row.try_get::<String>("", "holder").expect("holder"),
            )
        })
        .collect()
}

/// The process id in a holder (`pid <pid> <random>`).
fn holder_pid(holder: &str) -> u32 {
    holder
        .split(' ')
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("holder {holder:?} names no process"))
}

fn texts(prefix: &str, count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("{prefix} {n}")).collect()
}

#[tokio::test]
async fn two_nodes_share_chat_presence_and_jobs_through_redis_and_survive_its_restart() {
    let base = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| LOCAL_POSTGRES.to_owned());
    let database_url = fresh_postgres_database(&base).await;
    let mut redis = Redis::start(free_port()).await;
    let binary = Binary::new(&database_url)
        .env("FRONTDESK_REDIS_URL", redis.url())
        .env("FRONTDESK_JOB_INTERVAL_SECONDS", "1")
        .env("FRONTDESK_LOG", "info,sqlx=warn,sea_orm=warn");
    let (created, token) = binary.account_with_token("Multi", OWNER_EMAIL);
    let key = created["widget_key"].as_str().expect("key").to_owned();
    let owner_id = created["owner_id"].as_str().expect("owner").to_owned();
    let a = Node::start(&binary, "a").await;
    let b = Node::start(&binary, "b").await;
    a.wait_for_redis("connected").await;
    b.wait_for_redis("connected").await;
    let (status, body) = call(
        &b.address,
        &token,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Desk", "members": [owner_id], "shared_queue": false})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Presence crosses nodes: the widget on A hears that the agent on B came online.
    let mut visitor = Visitor::connect(&a.address, &key).await;
    let mut agent = Agent::connect(&b.address, &token).await;
    let status = visitor
        .until_frame("status", LIVE)
        .await
        .expect("the widget on A hears the agent on B come online");
    assert_eq!(status["online"], true);

    // Live both ways; routing on A offers the conversation to the agent online on B.
    visitor.say("v-0", "hello from node A").await;
    assert!(
        agent
            .until_has(&["hello from node A".to_owned()], LIVE)
            .await,
        "the agent on B sees the visitor's message live"
    );
    let conversation = agent.conversation.clone().expect("conversation");
    let detail = conversation_detail(&b.address, &token, &conversation).await;
    assert_eq!(
        detail["assignee"]["id"], owner_id,
        "routing on A assigns the agent online on B"
    );
    agent.reply("a-0", "hello from node B").await;
    assert!(
        visitor
            .until_has(&["hello from node B".to_owned()], LIVE)
            .await,
        "the visitor on A sees the agent's reply live"
    );
    assert_eq!((visitor.reconnects, agent.reconnects), (0, 0));

    // Redis dies: both sides keep writing, each node keeps serving its own sockets.
    redis.kill();
    a.wait_for_redis("disconnected").await;
    b.wait_for_redis("disconnected").await;
    let from_visitor = texts("visitor while Redis is down", 3);
    let from_agent = texts("agent while Redis is down", 3);
    for (n, (mine, theirs)) in from_visitor.iter().zip(&from_agent).enumerate() {
        visitor.say(&format!("v-{}", n + 1), mine).await;
        agent.reply(&format!("a-{}", n + 1), theirs).await;
    }
    // Redis comes back on the same port: the nodes resubscribe and their sockets replay.
    let redis = Redis::start(redis.port).await;
    a.wait_for_redis("connected").await;
    b.wait_for_redis("connected").await;
    let mut expected = vec![
        "hello from node A".to_owned(),
        "hello from node B".to_owned(),
    ];
    for (mine, theirs) in from_visitor.iter().zip(&from_agent) {
        expected.push(mine.clone());
        expected.push(theirs.clone());
    }
    assert!(
        visitor.until_has(&expected, RECOVERY).await,
        "the visitor got every message after Redis came back: {:?}",
        visitor.transcript.seen
    );
    assert!(
        agent.until_has(&expected, RECOVERY).await,
        "the agent got every message after Redis came back: {:?}",
        agent.transcript.seen
    );
    assert!(
        visitor.reconnects >= 1 && agent.reconnects >= 1,
        "both replayed"
    );

    // Live again, both ways.
    visitor.say("v-after", "visitor after the restart").await;
    agent.reply("a-after", "agent after the restart").await;
    expected.push("visitor after the restart".to_owned());
    expected.push("agent after the restart".to_owned());
    assert!(visitor.until_has(&expected, LIVE).await);
    assert!(agent.until_has(&expected, LIVE).await);
    // Late duplicates would show up now.
    visitor
        .until_has(&["never".to_owned()], Duration::from_secs(1))
        .await;
    agent
        .until_has(&["never".to_owned()], Duration::from_secs(1))
        .await;
    assert_eq!(
        visitor.transcript.texts(),
        expected,
        "visitor: in order, once each"
    );
    assert_eq!(
        agent.transcript.texts(),
        expected,
        "agent: in order, once each"
    );

    // Blocking on B closes the visitor's socket on A.
    let detail = conversation_detail(&b.address, &token, &conversation).await;
    let visitor_id = detail["visitor"]["id"].as_str().expect("visitor id");
    let (status, body) = call(
        &b.address,
        &token,
        Method::POST,
        &format!("/api/v1/visitors/{visitor_id}/block"),
        Some(json!({"block_ip": false})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, reason) = visitor.socket.until_closed().await;
    assert_eq!(
        reason, "blocked",
        "the widget on A is closed by a block placed on B"
    );

    // Jobs: each lease-guarded job has one holder among the two nodes, and keeps it while
    // both run (were the lease not exclusive, both nodes would take it every second).
    let db = Database::connect(&database_url).await.expect("connect");
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let watch = Instant::now() + Duration::from_secs(4);
    while Instant::now() < watch {
        for (job, holder) in lease_holders(&db).await {
            holders.entry(job).or_default().insert(holder);
        }
        sleep(Duration::from_millis(100)).await;
    }
    let pids = [a.pid(), b.pid()];
    for job in ["billing", "inactivity"] {
        let seen = holders.get(job).cloned().unwrap_or_default();
        assert_eq!(seen.len(), 1, "{job} had one holder at a time: {seen:?}");
        let holder = seen.iter().next().expect("holder");
        assert!(
            pids.contains(&holder_pid(holder)),
            "{holder} is one of the nodes"
        );
    }
    // The node holding billing dies: the other takes over once the lease has run out.
    let billing_pid = holder_pid(holders["billing"].iter().next().expect("holder"));
    let (mut dead, survivor) = if billing_pid == a.pid() {
        (a, b)
    } else {
        (b, a)
    };
    dead.kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut taken_over = false;
    while Instant::now() < deadline && !taken_over {
        let now = lease_holders(&db).await;
        taken_over = ["billing", "inactivity"]
            .iter()
            .all(|job| now.get(*job).map(|h| holder_pid(h)) == Some(survivor.pid()));
        sleep(Duration::from_millis(200)).await;
    }
    assert!(taken_over, "the surviving node took both leases over");
    drop(redis);
}
