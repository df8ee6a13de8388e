//! Open-loop load at stepped rates. Every frame has an intended send time on a fixed schedule
//! (message i of a step at t0 + i / rate), carried in its `client_id`; a receiver records
//! "received now − intended" in an HDR histogram. A server that stalls delays the sends behind
//! it too, and that delay is counted (no coordinated omission). Senders and receivers are in
//! this one process, on one clock.

use super::client::Ws;
use futures_util::{SinkExt as _, StreamExt as _, stream::SplitSink, stream::SplitStream};
use hdrhistogram::Histogram;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message;

pub type Sink = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

/// Latencies up to a minute, to three significant digits, in microseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid histogram bounds")
}

/// Which latencies a socket's reader records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    /// Frames whose `client_id` starts with `b` (a visitor's message) into the main histogram.
    Messages,
    /// Frames whose `client_id` starts with `r` (an agent's reply) into the replies histogram.
    Replies,
    /// Nothing (acks); only errors count.
    Nothing,
}

/// The clock, the histograms and the counters of one run.
pub struct Meter {
    epoch: Instant,
    step: AtomicU32,
    messages: Mutex<Histogram<u64>>,
    replies: Mutex<Histogram<u64>>,
    received: AtomicU64,
    replies_received: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Set when the bench closes its sockets itself: closes are no longer errors.
    closing: AtomicBool,
    /// The server process under load, when the bench knows it: its CPU is read per step.
    server_pid: std::sync::OnceLock<u32>,
}

/// One latency distribution, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            step: AtomicU32::new(0),
            messages: Mutex::new(histogram()),
            replies: Mutex::new(histogram()),
            received: AtomicU64::new(0),
            replies_received: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
            closing: AtomicBool::new(false),
            server_pid: std::sync::OnceLock::new(),
        }
    }
}

impl Meter {
    /// Reads the CPU time of process `pid` (the server under load) around every step.
    pub fn watch_server(&self, pid: Option<u32>) {
        if let Some(pid) = pid {
            let _ = self.server_pid.set(pid);
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The `client_id` of frame `n` of this step, intended to be sent at `intended`.
    pub fn client_id(&self, kind: char, n: u64, intended: Instant) -> String {
        format!(
            "{kind}{}-{n}-{}",
            self.step.load(Ordering::Relaxed),
            self.micros(intended)
        )
    }

    /// Records the latency of a frame received now whose `client_id` this run made.
    pub fn observe(&self, text: &str, records: Records) {
        let kind = match records {
            Records::Messages => 'b',
            Records::Replies => 'r',
            Records::Nothing => return,
        };
        let Some((step, intended)) = parse_client_id(text, kind) else {
            return;
        };
        if step != self.step.load(Ordering::Relaxed) {
            return; // a straggler of an earlier step
        }
        let latency = self.micros(Instant::now()).saturating_sub(intended).max(1);
        let (histogram, counter) = match records {
            Records::Replies => (&self.replies, &self.replies_received),
            _ => (&self.messages, &self.received),
        };
        let _ = lock(histogram).record(latency.min(60_000_000));
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A latency measured by its caller (the chatbot scenario).
    pub fn record(&self, intended: Instant) {
        let latency = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = lock(&self.messages).record(latency.clamp(1, 60_000_000));
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, what: impl Into<String>) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = lock(&self.first_error);
        if first.is_none() {
            *first = Some(what.into());
        }
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn first_error(&self) -> Option<String> {
        lock(&self.first_error).clone()
    }

    /// From now on, closed sockets are the bench's doing.
    pub fn closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Starts a new step: empty histograms and counters.
    pub fn next_step(&self) {
        self.step.fetch_add(1, Ordering::Relaxed);
        lock(&self.messages).reset();
        lock(&self.replies).reset();
        self.received.store(0, Ordering::Relaxed);
        self.replies_received.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        *lock(&self.first_error) = None;
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub fn messages(&self) -> Latency {
        Latency::of(&lock(&self.messages))
    }

    pub fn replies(&self) -> Latency {
        Latency::of(&lock(&self.replies))
    }

    fn replies_received(&self) -> u64 {
        self.replies_received.load(Ordering::Relaxed)
    }
}

/// Finds `"client_id":"<kind><step>-<n>-<micros>"` in a frame.
fn parse_client_id(text: &str, kind: char) -> Option<(u32, u64)> {
    const MARKER: &str = "\"client_id\":\"";
    let start = text.find(MARKER)? + MARKER.len();
    let rest = &text[start..];
    let id = &rest[..rest.find('"')?];
    let id = id.strip_prefix(kind)?;
    let mut parts = id.split('-');
    let step = parts.next()?.parse().ok()?;
    let _n = parts.next()?;
    let intended = parts.next()?.parse().ok()?;
    Some((step, intended))
}

/// Reads a socket until it closes, recording what `records` says; error frames and
/// unexpected closes count as errors.
pub async fn read(mut stream: SplitStream<Ws>, meter: Arc<Meter>, records: Records) {
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if text.starts_with("{\"type\":\"error\"") {
                    meter.error(format!("error frame: {}", text.as_str()));
                } else {
                    meter.observe(&text, records);
                }
            }
            Ok(Message::Close(frame)) => {
                meter.error(format!("socket closed by the server: {frame:?}"));
                return;
            }
            Ok(_) => {}
            Err(error) => {
                meter.error(format!("socket failed: {error}"));
                return;
            }
        }
    }
    meter.error("socket ended");
}

/// Agent replies sent during a step over the REST API, each answering a visitor's
/// conversation; their latency ends when the visitor's socket receives them.
pub struct Replier {
    pub client: reqwest::Client,
    pub base: String,
    /// (API token of the conversation's account, conversation id)
    pub conversations: Vec<(String, String)>,
    /// One reply per this many visitor messages.
    pub every: u32,
}

/// One step's outcome.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub rate: f64,
    pub sent: u64,
    pub received: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub latency: Latency,
    pub replies: Option<Latency>,
    /// Share of one core the load generator used during the step (1.0 = a whole core).
    pub load_cpu: f64,
    /// CPU seconds the server process used during the step, when the bench knows its pid.
    pub server_cpu_s: Option<f64>,
}

impl StepResult {
    /// The server's CPU time per message sent in this step (agents' replies included), in
    /// microseconds.
    pub fn server_cpu_us_per_message(&self) -> Option<f64> {
        self.server_cpu_s
            .filter(|_| self.sent > 0)
            .map(|seconds| seconds * 1e6 / self.sent as f64)
    }

    /// Sustained: every frame arrived, no errors, p99 within the bound.
    pub fn passed(&self, bound_ms: f64) -> bool {
        self.errors == 0
            && self.received >= self.sent
            && self.latency.p99_ms <= bound_ms
            && self
                .replies
                .is_none_or(|replies| replies.p99_ms <= bound_ms)
    }
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    process_cpu_seconds("self").unwrap_or(0.0)
}

/// CPU seconds a process has used (user + system, all its threads), from /proc/<pid>/stat.
fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    Some((ticks(11) + ticks(12)) / 100.0)
}

/// The fixed schedule of a step: frame n is intended at t0 + n / rate, until `duration`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub t0: Instant,
    pub rate: f64,
    pub duration: Duration,
}

impl Schedule {
    /// Starts shortly from now, so every sender is ready for frame 0.
    pub fn new(rate: f64, duration: Duration) -> Self {
        Self {
            t0: Instant::now() + Duration::from_millis(50),
            rate,
            duration,
        }
    }

    /// Waits until frame `n`'s intended time and answers it; None past the step's end.
    pub async fn at(&self, n: u64) -> Option<Instant> {
        let offset = Duration::from_secs_f64(n as f64 / self.rate);
        if offset >= self.duration {
            return None;
        }
        let intended = self.t0 + offset;
        sleep_until(intended.into()).await;
        Some(intended)
    }
}

/// The frame a visitor sends (the same text to every server).
pub fn message_frame(client_id: &str) -> String {
    format!(
        "{{\"type\":\"message\",\"client_id\":\"{client_id}\",\"text\":\"Hello, I have a question about my order\"}}"
    )
}

/// Sends `rate` frames a second for `duration`, spread over `senders` (socket k sends frames
/// k, k + n, k + 2n, ...), plus agent replies; then waits up to `drain` for the last ones.
pub async fn run_step(
    meter: &Arc<Meter>,
    senders: &[Sink],
    rate: f64,
    duration: Duration,
    drain: Duration,
    replier: Option<&Arc<Replier>>,
) -> StepResult {
    meter.next_step();
    let server_cpu = || {
        meter
            .server_pid
            .get()
            .and_then(|pid| process_cpu_seconds(&pid.to_string()))
    };
    let server_before = server_cpu();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let schedule = Schedule::new(rate, duration);
    let total = senders.len() as u64;
    let mut tasks = Vec::with_capacity(senders.len());
    for (k, sink) in senders.iter().enumerate() {
        let (sink, meter) = (sink.clone(), meter.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut n = k as u64;
            while let Some(intended) = schedule.at(n).await {
                let frame = message_frame(&meter.client_id('b', n, intended));
                if let Err(error) = sink.lock().await.send(Message::text(frame)).await {
                    meter.error(format!("send failed: {error}"));
                    break;
                }
                sent += 1;
                n += total;
            }
            sent
        }));
    }
    let replies_sent = Arc::new(AtomicU64::new(0));
    let reply_task = replier.map(|replier| {
        let (replier, meter, replies_sent) = (replier.clone(), meter.clone(), replies_sent.clone());
        let every = f64::from(replier.every.max(1));
        tokio::spawn(send_replies(
            replier,
            meter,
            replies_sent,
            Schedule {
                rate: rate / every,
                ..schedule
            },
        ))
    });
    let mut sent = 0;
    for task in tasks {
        sent += task.await.unwrap_or(0);
    }
    let mut requests = Vec::new();
    if let Some(task) = reply_task {
        requests = task.await.unwrap_or_default();
    }
    for request in requests {
        let _ = request.await;
    }
    let deadline = Instant::now() + drain;
    let replies_expected = replies_sent.load(Ordering::Relaxed);
    while Instant::now() < deadline
        && (meter.received() < sent || meter.replies_received() < replies_expected)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = meter.received();
    let replies_received = meter.replies_received();
    if received < sent {
        meter.error(format!(
            "{} of {sent} messages did not arrive within {drain:?}",
            sent - received
        ));
    }
    if replies_received < replies_expected {
        meter.error(format!(
            "{} of {replies_expected} replies did not arrive within {drain:?}",
            replies_expected - replies_received
        ));
    }
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    StepResult {
        rate,
        sent,
        received,
        errors: meter.errors(),
        first_error: meter.first_error(),
        latency: meter.messages(),
        replies: replier.map(|_| meter.replies()),
        load_cpu: (cpu_seconds() - cpu_before) / elapsed,
        server_cpu_s: server_before
            .zip(server_cpu())
            .map(|(before, after)| after - before),
    }
}

/// Sends one agent reply per `every` visitor messages, on the same fixed schedule; each
/// request runs on its own so a slow answer never delays the next.
async fn send_replies(
    replier: Arc<Replier>,
    meter: Arc<Meter>,
    replies_sent: Arc<AtomicU64>,
    schedule: Schedule,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut requests = Vec::new();
    if replier.conversations.is_empty() {
        return requests;
    }
    let mut n = 0u64;
    while let Some(intended) = schedule.at(n).await {
        let client_id = meter.client_id('r', n, intended);
        let (replier, meter, replies_sent) = (replier.clone(), meter.clone(), replies_sent.clone());
        requests.push(tokio::spawn(async move {
            let index = usize::try_from(n).unwrap_or(0) % replier.conversations.len();
            let (token, conversation) = &replier.conversations[index];
            let url = format!(
                "{}/api/v1/conversations/{conversation}/messages",
                replier.base
            );
            let body = serde_json::json!({"client_id": client_id, "text": "Thanks, let me check that for you"});
            match replier
                .client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => {
                    replies_sent.fetch_add(1, Ordering::Relaxed);
                }
                Ok(response) => meter.error(format!("agent reply answered {}", response.status())),
                Err(error) => meter.error(format!("agent reply failed: {error}")),
            }
        }));
        n += 1;
    }
    requests
}

/// The stepped rates and how long each step lasts.
#[derive(Clone, Debug)]
pub struct Ladder {
    pub rates: Vec<f64>,
    pub step: Duration,
    pub drain: Duration,
    /// A step passes while p99 stays within this bound (and nothing failed).
    pub bound_ms: f64,
    /// Pause between steps, for queues to empty.
    pub pause: Duration,
}

/// Climbs the ladder until a step fails; answers every step run.
pub async fn climb(
    meter: &Arc<Meter>,
    senders: &[Sink],
    ladder: &Ladder,
    replier: Option<&Arc<Replier>>,
    label: &str,
) -> Vec<StepResult> {
    let mut steps = Vec::new();
    for &rate in &ladder.rates {
        let step = run_step(meter, senders, rate, ladder.step, ladder.drain, replier).await;
        print_step(label, &step);
        let passed = step.passed(ladder.bound_ms);
        steps.push(step);
        if !passed {
            break;
        }
        tokio::time::sleep(ladder.pause).await;
    }
    steps
}

pub fn print_step(label: &str, step: &StepResult) {
    let replies = step.replies.map_or_else(String::new, |replies| {
        format!(
            ", replies p50 {:.1} p99 {:.1} ms ({})",
            replies.p50_ms, replies.p99_ms, replies.count
        )
    });
    let server = step
        .server_cpu_us_per_message()
        .map_or_else(String::new, |us| format!(", server {us:.0} µs CPU/msg"));
    eprintln!(
        "bench {label}: {:>7.0}/s sent {} received {} errors {} p50 {:.1} p99 {:.1} max {:.1} ms{replies}, load generator {:.0}% of a core{server}{}",
        step.rate,
        step.sent,
        step.received,
        step.errors,
        step.latency.p50_ms,
        step.latency.p99_ms,
        step.latency.max_ms,
        step.load_cpu * 100.0,
        step.first_error
            .as_deref()
            .map_or_else(String::new, |error| format!(" (first error: {error})"))
    );
}

/// The highest rate of a passing step.
pub fn highest(steps: &[StepResult], bound_ms: f64) -> Option<f64> {
    steps
        .iter()
        .filter(|step| step.passed(bound_ms))
        .map(|step| step.rate)
        .reduce(f64::max)
}

/// Open sockets: their sending halves, and the tasks reading them (ended when dropped, which
/// closes the sockets).
#[derive(Default)]
pub struct Sockets {
    pub sinks: Vec<Sink>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

impl Sockets {
    /// Splits sockets into senders (kept) and readers (spawned, recording `records`).
    pub fn split(sockets: Vec<Ws>, meter: &Arc<Meter>, records: Records) -> Self {
        let mut split = Self::default();
        for ws in sockets {
            let (sink, stream) = ws.split();
            split
                .readers
                .push(tokio::spawn(read(stream, meter.clone(), records)));
            split.sinks.push(Arc::new(tokio::sync::Mutex::new(sink)));
        }
        split
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_carries_its_step_and_intended_time() {
        let frame = r#"{"type":"message","message":{"client_id":"b3-17-123456","text":"x"}}"#;
        assert_eq!(parse_client_id(frame, 'b'), Some((3, 123_456)));
        assert_eq!(parse_client_id(frame, 'r'), None);
        assert_eq!(parse_client_id(r#"{"type":"ack"}"#, 'b'), None);
    }
}
