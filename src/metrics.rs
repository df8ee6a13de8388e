//! Prometheus metrics of this node: one registry per `Context` (tests run many applications in
//! one process), updated on hot paths with atomic operations only (no lock, no allocation per
//! observation), and rendered as text by `GET /metrics`. docs/operations.md lists every metric.

use crate::domain::conversation::AuthorKind;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder, core::Collector,
};
use std::{future::Future, sync::Mutex, time::Instant};

/// Latency buckets of a chat server, in seconds: from 1 ms (an in-process fan-out) to 10 s (a
/// stalled database), 1-2-5 per decade, so a quantile is known within a factor of 2.5.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// One statement is often well under a millisecond (an indexed SQLite read): three finer
/// buckets below the chat ones.
const STATEMENT_BUCKETS: [f64; 16] = [
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    10.0,
];
/// The `kind` label of `frontdesk_messages_total`, in `AuthorKind` order.
const AUTHOR_KINDS: [AuthorKind; 4] = [
    AuthorKind::Visitor,
    AuthorKind::Agent,
    AuthorKind::Bot,
    AuthorKind::System,
];
/// The `statement` label of `frontdesk_db_statement_seconds`; the last one catches the rest.
const STATEMENT_KINDS: [&str; 5] = ["select", "insert", "update", "delete", "other"];

tokio::task_local! {
    /// When the widget socket read the visitor's `message` frame this task is handling.
    static FRAME_RECEIVED: Instant;
}

/// Runs `handling` (storing one visitor `message` frame) with the moment the frame was read,
/// so that handing the stored message to the agent sockets can observe the delivery latency.
/// (Not an `async fn`: that would keep `handling` twice in its state, as the argument and
/// inside the scope.)
pub fn from_visitor_frame<F: Future>(handling: F) -> impl Future<Output = F::Output> {
    FRAME_RECEIVED.scope(Instant::now(), handling)
}

/// The writes whose time to commit is measured, by `operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transaction {
    /// `post_visitor_message`: a visitor's message stored (through the message writer), with
    /// the bot and routing work.
    VisitorMessage,
    /// `post_agent_message`: an agent's reply or internal note stored (through the writer).
    AgentMessage,
    /// `chatbot::choose`: a button click stored, counted and answered by the bot.
    ButtonClick,
}

impl Transaction {
    const ALL: [Transaction; 3] = [
        Transaction::VisitorMessage,
        Transaction::AgentMessage,
        Transaction::ButtonClick,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::VisitorMessage => "visitor_message",
            Self::AgentMessage => "agent_message",
            Self::ButtonClick => "button_click",
        }
    }
}

/// How one send of an outbox item (a webhook delivery, an email) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered,
    /// Not sent on purpose (an email while no mail server is configured).
    Skipped,
    /// Failed; it will be retried.
    Failed,
    /// Failed, and it was the last attempt: the item is given up.
    GaveUp,
}

/// The counters of one outbox: attempts by result, and items given up.
struct Outbox {
    delivered: IntCounter,
    failed: IntCounter,
    skipped: Option<IntCounter>,
    given_up: IntCounter,
}

impl Outbox {
    /// `delivered` names the success result (`delivered`, `sent`); `skips` adds `skipped`.
    fn new(
        registry: &Registry,
        attempts: Opts,
        delivered: &str,
        skips: bool,
        given_up: Opts,
    ) -> prometheus::Result<Self> {
        let counters = register(registry, IntCounterVec::new(attempts, &["result"])?)?;
        let result = |label: &str| counters.get_metric_with_label_values(&[label]);
        Ok(Self {
            delivered: result(delivered)?,
            failed: result("failed")?,
            skipped: if skips {
                Some(result("skipped")?)
            } else {
                None
            },
            given_up: register(registry, IntCounter::with_opts(given_up)?)?,
        })
    }

    fn record(&self, send: SendOutcome) {
        match send {
            SendOutcome::Delivered => self.delivered.inc(),
            SendOutcome::Skipped => {
                if let Some(skipped) = &self.skipped {
                    skipped.inc();
                }
            }
            SendOutcome::Failed => self.failed.inc(),
            SendOutcome::GaveUp => {
                self.failed.inc();
                self.given_up.inc();
            }
        }
    }
}

/// Every metric of this node, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    widget_sockets: IntGauge,
    agent_sockets: IntGauge,
    /// By author kind, in `AUTHOR_KINDS` order.
    messages: Vec<IntCounter>,
    delivery: Histogram,
    /// By operation, in `Transaction::ALL` order.
    transactions: Vec<Histogram>,
    /// By statement kind, in `STATEMENT_KINDS` order.
    statements: Vec<Histogram>,
    chatbot_conversations: IntCounter,
    webhooks: Outbox,
    emails: Outbox,
    /// The message writer's own counts, copied in at each scrape.
    write_batches: IntCounter,
    writes: IntCounter,
    typed_writes: IntCounter,
    /// The writer's WAL checkpoints, by who ran them (`aside`, `writer`).
    checkpoints: [IntCounter; 2],
    /// Serialises scrapes, so two at once cannot both add the same writer counts.
    scraping: Mutex<()>,
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    metric: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// A histogram family with one label, and its children for `values` resolved once (so an
/// observation never looks a label up).
fn histograms(
    registry: &Registry,
    opts: HistogramOpts,
    label: &str,
    values: impl IntoIterator<Item = &'static str>,
) -> prometheus::Result<Vec<Histogram>> {
    let family = register(registry, prometheus::HistogramVec::new(opts, &[label])?)?;
    values
        .into_iter()
        .map(|value| family.get_metric_with_label_values(&[value]))
        .collect()
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let build = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("frontdesk_build_info", "The running version; always 1."),
                &["version"],
            )?,
        )?;
        build
            .get_metric_with_label_values(&[env!("CARGO_PKG_VERSION")])?
            .set(1);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let messages = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "frontdesk_messages_total",
                    "Messages stored (committed and handed to the hub), by author kind.",
                ),
                &["kind"],
            )?,
        )?;
        Ok(Self {
            widget_sockets: register(
                &registry,
                IntGauge::new(
                    "frontdesk_widget_sockets",
                    "Widget (visitor) WebSocket connections open on this node.",
                )?,
            )?,
            agent_sockets: register(
                &registry,
                IntGauge::new(
                    "frontdesk_agent_sockets",
                    "Inbox (agent) WebSocket connections open on this node.",
                )?,
            )?,
            messages: AUTHOR_KINDS
                .iter()
                .map(|kind| messages.get_metric_with_label_values(&[kind.as_str()]))
                .collect::<prometheus::Result<_>>()?,
            delivery: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "frontdesk_message_delivery_seconds",
                        "From reading a visitor's message frame on the widget socket to handing \
                         the stored message's frame to this node's agent sockets.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            transactions: histograms(
                &registry,
                HistogramOpts::new(
                    "frontdesk_db_transaction_seconds",
                    "Committed writes, from asking for the transaction (with the wait for a \
                     connection, or for the SQLite group commit's batch) to its commit, by \
                     operation.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                "operation",
                Transaction::ALL.map(Transaction::label),
            )?,
            statements: histograms(
                &registry,
                HistogramOpts::new(
                    "frontdesk_db_statement_seconds",
                    "Every SQL statement the application runs, by kind.",
                )
                .buckets(STATEMENT_BUCKETS.to_vec()),
                "statement",
                STATEMENT_KINDS,
            )?,
            chatbot_conversations: register(
                &registry,
                IntCounter::new(
                    "frontdesk_chatbot_conversations_total",
                    "Chatbot conversations counted against an account's allowance.",
                )?,
            )?,
            webhooks: Outbox::new(
                &registry,
                Opts::new(
                    "frontdesk_webhook_attempts_total",
                    "Webhook delivery attempts, by result (failed: no answer or not 2xx).",
                ),
                "delivered",
                false,
                Opts::new(
                    "frontdesk_webhook_deliveries_given_up_total",
                    "Webhook deliveries whose last attempt failed.",
                ),
            )?,
            emails: Outbox::new(
                &registry,
                Opts::new(
                    "frontdesk_email_attempts_total",
                    "Email sends, by result (skipped: no mail server is configured).",
                ),
                "sent",
                true,
                Opts::new(
                    "frontdesk_emails_given_up_total",
                    "Emails whose last attempt failed, or that the server refused for good.",
                ),
            )?,
            write_batches: register(
                &registry,
                IntCounter::new(
                    "frontdesk_message_write_batches_total",
                    "Transactions of the SQLite group-commit writer (0 on PostgreSQL, where \
                     each message write has a transaction of its own).",
                )?,
            )?,
            writes: register(
                &registry,
                IntCounter::new(
                    "frontdesk_message_writes_total",
                    "Message writes carried by the group-commit writer's transactions.",
                )?,
            )?,
            typed_writes: register(
                &registry,
                IntCounter::new(
                    "frontdesk_message_typed_writes_total",
                    "Message writes done by typed statements (the common case of a \
                     visitor's message or an agent's reply), without the general path's SQL \
                     building.",
                )?,
            )?,
            checkpoints: {
                let by = register(
                    &registry,
                    IntCounterVec::new(
                        Opts::new(
                            "frontdesk_wal_checkpoints_total",
                            "Checkpoint passes over the SQLite message writer's WAL, by who ran \
                             them: `aside` (a thread of its own, beside the writer; the bulk of \
                             the copying) or `writer` (the writer between two batches: what was \
                             committed meanwhile and the database file's sync, so the WAL starts \
                             over). Passes that found another checkpoint running, or nothing new \
                             to copy, are not counted.",
                        ),
                        &["by"],
                    )?,
                )?;
                [
                    by.with_label_values(&["aside"]),
                    by.with_label_values(&["writer"]),
                ]
            },
            scraping: Mutex::new(()),
            registry,
        })
    }

    /// Every metric in the Prometheus text format, with the message writer's counts so far
    /// (`Writer::stats`: batches, writes, typed writes; `Writer::checkpoints`: aside, by the
    /// writer).
    pub fn render(
        &self,
        (batches, writes, typed): (u64, u64, u64),
        checkpoints: (u64, u64),
    ) -> prometheus::Result<String> {
        let _one_at_a_time = self
            .scraping
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Counters only go up: add what the writer counted since the last scrape.
        self.write_batches
            .inc_by(batches.saturating_sub(self.write_batches.get()));
        self.writes.inc_by(writes.saturating_sub(self.writes.get()));
        self.typed_writes
            .inc_by(typed.saturating_sub(self.typed_writes.get()));
        for (counter, count) in self.checkpoints.iter().zip([checkpoints.0, checkpoints.1]) {
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text)?;
        Ok(text)
    }

    /// A widget socket opened; it counts until the returned guard is dropped.
    pub fn widget_socket(&self) -> OpenSocket {
        OpenSocket::new(&self.widget_sockets)
    }

    /// An inbox socket opened; it counts until the returned guard is dropped.
    pub fn agent_socket(&self) -> OpenSocket {
        OpenSocket::new(&self.agent_sockets)
    }

    /// A committed message was handed to the hub (its frame is in the agent sockets' channels).
    /// When this task is storing a visitor's frame, also observes the delivery latency.
    pub fn message_published(&self, author_kind: &str) {
        let Some(index) = AUTHOR_KINDS
            .iter()
            .position(|kind| kind.as_str() == author_kind)
        else {
            return;
        };
        self.messages[index].inc();
        if AUTHOR_KINDS[index] == AuthorKind::Visitor
            && let Ok(received) = FRAME_RECEIVED.try_with(|received| *received)
        {
            self.delivery.observe(received.elapsed().as_secs_f64());
        }
    }

    /// Starts timing a service transaction; call [`TransactionTimer::committed`] after commit.
    pub fn transaction(&self, operation: Transaction) -> TransactionTimer<'_> {
        TransactionTimer {
            // `Transaction::ALL` is in declaration order.
            histogram: &self.transactions[operation as usize],
            started: Instant::now(),
        }
    }

    /// The database's per-statement callback: observes each statement's duration by kind.
    pub fn statement_observer(
        &self,
    ) -> impl Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static {
        let statements = self.statements.clone();
        move |info| {
            // Every statement, with its time, for `FRONTDESK_LOG=frontdesk::sql=trace`.
            tracing::trace!(target: "frontdesk::sql", elapsed_us = info.elapsed.as_micros(), sql = %info.statement.sql);
            let kind = statement_kind(&info.statement.sql);
            statements[kind].observe(info.elapsed.as_secs_f64());
        }
    }

    /// A chatbot conversation was counted (after its transaction committed).
    pub fn chatbot_conversation_counted(&self) {
        self.chatbot_conversations.inc();
    }

    /// A webhook delivery attempt ended (and was recorded).
    pub fn webhook_attempt(&self, send: SendOutcome) {
        self.webhooks.record(send);
    }

    /// An email send ended (and was recorded).
    pub fn email_attempt(&self, send: SendOutcome) {
        self.emails.record(send);
    }
}

/// Which `STATEMENT_KINDS` entry a statement belongs to, from its first word.
fn statement_kind(sql: &str) -> usize {
    let head = sql.trim_start().as_bytes();
    STATEMENT_KINDS[..STATEMENT_KINDS.len() - 1]
        .iter()
        .position(|kind| {
            head.get(..kind.len())
                .is_some_and(|word| word.eq_ignore_ascii_case(kind.as_bytes()))
        })
        .unwrap_or(STATEMENT_KINDS.len() - 1)
}

/// Counts one open socket for as long as it lives, whichever way the socket's task ends.
pub struct OpenSocket(IntGauge);

impl OpenSocket {
    fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A transaction being timed from its begin.
pub struct TransactionTimer<'a> {
    histogram: &'a Histogram,
    started: Instant,
}

impl TransactionTimer<'_> {
    /// The transaction committed: observe its duration. A rolled-back one is not observed.
    pub fn committed(self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn statements_are_sorted_by_their_first_word() {
        assert_eq!(STATEMENT_KINDS[statement_kind("SELECT 1")], "select");
        assert_eq!(
            STATEMENT_KINDS[statement_kind("  insert into x values (1)")],
            "insert"
        );
        assert_eq!(
            STATEMENT_KINDS[statement_kind("UPDATE x SET y = 1")],
            "update"
        );
        assert_eq!(STATEMENT_KINDS[statement_kind("DELETE FROM x")], "delete");
        assert_eq!(STATEMENT_KINDS[statement_kind("PRAGMA foo")], "other");
        assert_eq!(STATEMENT_KINDS[statement_kind("SEL")], "other");
    }

    #[test]
    fn sockets_count_while_their_guard_lives() {
        let metrics = Metrics::new().expect("metrics");
        let first = metrics.widget_socket();
        let second = metrics.widget_socket();
        let agent = metrics.agent_socket();
        let text = metrics.render((0, 0, 0), (0, 0)).expect("render");
        assert_eq!(sample(&text, "frontdesk_widget_sockets"), 2.0);
        assert_eq!(sample(&text, "frontdesk_agent_sockets"), 1.0);
        drop((first, second, agent));
        let text = metrics.render((0, 0, 0), (0, 0)).expect("render");
        assert_eq!(sample(&text, "frontdesk_widget_sockets"), 0.0);
        assert_eq!(sample(&text, "frontdesk_agent_sockets"), 0.0);
    }

    #[test]
    fn the_writers_counts_are_copied_in_at_each_scrape() {
        let metrics = Metrics::new().expect("metrics");
        metrics.render((2, 9, 4), (3, 1)).expect("render");
        let text = metrics.render((3, 10, 5), (5, 2)).expect("render");
        assert_eq!(sample(&text, "frontdesk_message_write_batches_total"), 3.0);
        assert_eq!(sample(&text, "frontdesk_message_writes_total"), 10.0);
        assert_eq!(sample(&text, "frontdesk_message_typed_writes_total"), 5.0);
        let checkpoints = "frontdesk_wal_checkpoints_total";
        assert_eq!(
            sample(&text, &format!("{checkpoints}{{by=\"aside\"}}")),
            5.0
        );
        assert_eq!(
            sample(&text, &format!("{checkpoints}{{by=\"writer\"}}")),
            2.0
        );
    }

    #[tokio::test]
    async fn a_visitor_message_observes_delivery_only_inside_its_frame() {
        let metrics = Metrics::new().expect("metrics");
        metrics.message_published("visitor");
        from_visitor_frame(async {
            metrics.message_published("bot");
            metrics.message_published("visitor");
        })
        .await;
        let text = metrics.render((0, 0, 0), (0, 0)).expect("render");
        assert_eq!(
            sample(&text, "frontdesk_messages_total{kind=\"visitor\"}"),
            2.0
        );
        assert_eq!(sample(&text, "frontdesk_messages_total{kind=\"bot\"}"), 1.0);
        assert_eq!(
            sample(&text, "frontdesk_message_delivery_seconds_count"),
            1.0
        );
    }

    #[test]
    fn a_given_up_send_is_also_a_failed_attempt() {
        let metrics = Metrics::new().expect("metrics");
        metrics.webhook_attempt(SendOutcome::Failed);
        metrics.webhook_attempt(SendOutcome::GaveUp);
        metrics.webhook_attempt(SendOutcome::Delivered);
        metrics.email_attempt(SendOutcome::Skipped);
        let text = metrics.render((0, 0, 0), (0, 0)).expect("render");
        let attempts = "frontdesk_webhook_attempts_total";
        assert_eq!(
            sample(&text, &format!("{attempts}{{result=\"failed\"}}")),
            2.0
        );
        assert_eq!(
            sample(&text, &format!("{attempts}{{result=\"delivered\"}}")),
            1.0
        );
        assert_eq!(
            sample(&text, "frontdesk_webhook_deliveries_given_up_total"),
            1.0
        );
        assert_eq!(
            sample(&text, "frontdesk_email_attempts_total{result=\"skipped\"}"),
            1.0
        );
    }
}
