//! B3, the storage baselines of the message-storing scenario S2: raw inserts of the real
//! message row (every column of `messages`, its indexes and foreign key, in a migrated
//! database) through sqlx, durable (SQLite: WAL, `synchronous=FULL`; PostgreSQL: defaults),
//! one row per transaction and in batches of 16, 64 and 256 rows per transaction (one
//! multi-row INSERT each). No service, no seq allocation: the ceiling the database allows.

use super::{
    report::Figure,
    seed::{self, BulkConnection, MessageRow, SeedArgs},
};
use anyhow::Context as _;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Rows per transaction measured after single-row transactions.
const BATCHES: [usize; 3] = [16, 64, 256];

/// Where B3 runs: a fresh SQLite file in `data_dir`, and a fresh PostgreSQL database made
/// through `postgres_url` (an admin connection), when given.
pub struct StorageBench {
    pub data_dir: std::path::PathBuf,
    pub postgres_url: Option<String>,
    /// How long each measurement runs.
    pub seconds: f64,
}

pub async fn run(bench: &StorageBench) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    std::fs::create_dir_all(&bench.data_dir)
        .with_context(|| format!("creating {}", bench.data_dir.display()))?;
    let path = bench.data_dir.join("b3.db");
    remove_sqlite(&path)?;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    figures.extend(measure("B3-sqlite", &url, bench.seconds).await?);
    remove_sqlite(&path)?;
    if let Some(admin) = &bench.postgres_url {
        let url = fresh_postgres_database(admin, "frontdesk_bench_b3").await?;
        figures.extend(measure("B3-postgres", &url, bench.seconds).await?);
    }
    Ok(figures)
}

/// Removes a SQLite database and its WAL files, if there.
pub fn remove_sqlite(path: &std::path::Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}

/// Drops and creates database `name` through the admin URL; answers its URL.
pub async fn fresh_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = BulkConnection::open_durable(admin_url).await?;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.execute(&format!("CREATE DATABASE {name}")).await?;
    admin.close().await?;
    let mut url = url::Url::parse(admin_url).context("reading the PostgreSQL URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Migrates the database, makes one conversation (through the seed) and measures inserts of
/// its messages.
async fn measure(scenario: &str, url: &str, seconds: f64) -> anyhow::Result<Vec<Figure>> {
    let seeded = seed::seed(&SeedArgs {
        database_url: url.to_owned(),
        conversations: 1,
        messages_per_conversation: 1,
        accounts: 1,
        json: false,
    })
    .await?;
    let mut conn = BulkConnection::open_durable(url).await?;
    let conversation_id = conn
        .fetch_uuid(&format!(
            "SELECT id FROM conversations WHERE account_id = {}",
            uuid_literal(&conn, seeded.account_id)
        ))
        .await?;
    let mut rows = Rows {
        account_id: seeded.account_id,
        conversation_id,
        seq: 1,
    };
    let duration = Duration::from_secs_f64(seconds);
    let mut figures = Vec::new();
    let single = insert_for(&mut conn, &mut rows, 1, duration).await?;
    figures.push(Figure::new(scenario, "single_row_tx_per_s", single, "tx/s"));
    for batch in BATCHES {
        let rate = insert_for(&mut conn, &mut rows, batch, duration).await?;
        let mut figure = Figure::new(
            scenario,
            &format!("batch{batch}_rows_per_s"),
            rate,
            "rows/s",
        );
        figure.baseline = Some(format!("{scenario}.single_row_tx_per_s"));
        figures.push(figure);
    }
    conn.close().await?;
    Ok(figures)
}

/// How a UUID is written in SQL on this connection (SQLite stores them as 16-byte blobs).
fn uuid_literal(conn: &BulkConnection, id: Uuid) -> String {
    match conn {
        BulkConnection::Sqlite(_) => format!("X'{}'", id.simple()),
        BulkConnection::Postgres(_) => format!("'{id}'"),
    }
}

/// The next message rows of the one conversation.
struct Rows {
    account_id: Uuid,
    conversation_id: Uuid,
    seq: i64,
}

impl Rows {
    fn next(&mut self, count: usize) -> Vec<MessageRow> {
        (0..count)
            .map(|_| {
                self.seq += 1;
                MessageRow {
                    id: Uuid::now_v7(),
                    account_id: self.account_id,
                    conversation_id: self.conversation_id,
                    seq: self.seq,
                    client_id: Uuid::new_v4().to_string(),
                    author_kind: "visitor",
                    author_user_id: None,
                    author_name: None,
                    text: seed::message_text(self.seq as u64, true).to_owned(),
                    created_at: chrono::Utc::now(),
                }
            })
            .collect()
    }
}

/// Commits transactions of `batch` rows for `duration`; answers rows per second (for a batch
/// of 1: transactions per second).
async fn insert_for(
    conn: &mut BulkConnection,
    rows: &mut Rows,
    batch: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut inserted = 0_u64;
    while started.elapsed() < duration {
        let next = rows.next(batch);
        conn.execute("BEGIN").await?;
        conn.insert_messages(next).await?;
        conn.execute("COMMIT").await?;
        inserted += batch as u64;
    }
    Ok(inserted as f64 / started.elapsed().as_secs_f64())
}
