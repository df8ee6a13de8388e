//! Storage: sea-orm entities and the repository functions that are the only code to know SQL.

/// An `ActiveModel` of `$entity` that writes, of the listed fields, only those that differ
/// between `$before` (the row as read) and `$after` (as the caller changed it), so a save
/// never undoes a concurrent change to another field.
macro_rules! changed_fields {
    ($entity:ident, $before:expr, $after:expr, [$($field:ident),+ $(,)?]) => {{
        let mut model = $entity::ActiveModel {
            id: sea_orm::ActiveValue::Set($before.id),
            ..Default::default()
        };
        $(if $before.$field != $after.$field {
            model.$field = sea_orm::ActiveValue::Set($after.$field.clone());
        })+
        model
    }};
}
pub(crate) use changed_fields;

pub mod accounts;
pub mod api_tokens;
pub mod attachments;
pub mod billing;
pub mod blocking;
pub mod bots;
pub mod chatbot;
pub mod conversations;
pub mod emails;
pub mod entities;
pub mod files;
pub mod flow_runs;
pub mod flows;
pub mod instance;
pub mod job_leases;
pub mod messages;
pub mod plans;
pub mod privacy;
pub mod reports;
pub mod shortcuts;
pub mod sqlite_checkpoint;
pub mod sqlite_writer;
pub mod teams;
pub mod typed;
pub mod typed_pg;
pub mod users;
pub mod visitors;
pub mod webhooks;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, RuntimeErr, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// How long a SQLite writer waits for the lock before giving up; generous, since writes are short.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL pool size: enough for a 2-core node's request concurrency without starving the server.
const POSTGRES_MAX_CONNECTIONS: u32 = 20;

/// Connects to SQLite (WAL, synchronous=FULL, foreign keys on) or PostgreSQL.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        // One connection: SQLite has one writer anyway, and a single connection rules out
        // SQLITE_BUSY on read-to-write lock upgrades. Readers are fast local reads.
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
    } else {
        options.max_connections(POSTGRES_MAX_CONNECTIONS);
    }
    open(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))
}

/// Opens a pool. On SQLite, a connection's set-up (`PRAGMA journal_mode = WAL` first of all,
/// which turns a new file into WAL mode) fails with "database is locked" at once, without
/// the busy timeout, while another process holds the file's lock (processes starting
/// together on a new file): it is tried again until the busy timeout has passed.
async fn open(options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let waited = std::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Err(error) if is_sqlite_busy(&error) && waited.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tokio::time::sleep(SQLITE_CONNECT_RETRY).await;
            }
            opened => return opened,
        }
    }
}

/// The pause between two attempts to open a SQLite file another process holds locked.
const SQLITE_CONNECT_RETRY: Duration = Duration::from_millis(20);

/// Whether an error is SQLite's SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock).
fn is_sqlite_busy(error: &DbErr) -> bool {
    let (DbErr::Conn(RuntimeErr::SqlxError(error))
    | DbErr::Exec(RuntimeErr::SqlxError(error))
    | DbErr::Query(RuntimeErr::SqlxError(error))) = error
    else {
        return false;
    };
    error
        .as_database_error()
        .and_then(|database| database.code())
        .and_then(|code| code.parse::<i32>().ok())
        // The primary result code is the low byte of an extended one.
        .is_some_and(|code| matches!(code & 0xFF, 5 | 6))
}

/// Read-only connections next to the one writing connection on SQLite.
const SQLITE_READERS: u32 = 4;

/// Where reads that need no transaction go. On SQLite a pool of read-only connections: in WAL
/// mode a reader never waits for the writer, so a page load or an API request's sign-in
/// lookup does not queue behind a batch of messages being written and synced (the one
/// writing connection is `connect`'s). On PostgreSQL the same pool as `writer`.
pub async fn connect_reader(
    url: &str,
    writer: &DatabaseConnection,
) -> anyhow::Result<DatabaseConnection> {
    // An in-memory SQLite database exists only on its own connection: no readers then.
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !url.starts_with("sqlite:") || in_memory {
        return Ok(writer.clone());
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30))
        .max_connections(SQLITE_READERS)
        .min_connections(1)
        .map_sqlx_sqlite_opts(|opts| {
            use sea_orm::sqlx::sqlite::SqliteJournalMode;
            // The writer made the file and put it in WAL mode; asking for WAL again is a
            // no-op that a read-only connection may do.
            opts.read_only(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    open(options)
        .await
        .with_context(|| format!("cannot open readers of the database at {}", redact_url(url)))
}

/// The PostgreSQL advisory lock key that serialises migrations ("frontdesk" in ASCII, as a
/// number): any fixed key works, as long as every node uses the same one.
const MIGRATION_LOCK_KEY: i64 = 0x6672_6f6e_7464_6573;

/// Applies every pending migration (the plan catalogue's seed is one of them), one process
/// at a time: nodes and CLI commands started together on a new database would otherwise
/// each find the schema missing and create it at once (PostgreSQL: duplicate key on
/// `pg_type`; SQLite: "UNIQUE constraint failed: plans.code"). Everything runs in one
/// transaction that first takes the lock: on SQLite the write lock (`begin_write`; the
/// others wait in the busy timeout), on PostgreSQL a transaction-level advisory lock. Whoever
/// comes second finds nothing pending. A failed migration leaves nothing half-applied.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    let txn = begin_write(db)
        .await
        .context("locking the database for migrations")?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
        ))
        .await
        .context("waiting for another node's migrations")?;
    }
    Migrator::up(&txn, None)
        .await
        .context("running database migrations")?;
    txn.commit().await.context("committing database migrations")
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), waiting in the busy timeout while another process (a second node's CLI
/// command, `billing tick`) writes: a deferred transaction that read first failed at its
/// first write with "database is locked", since SQLite does not wait where a reader's
/// upgrade could deadlock. In-process it costs nothing: one connection writes anyway. On
/// PostgreSQL a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Rows after `(at, id)` in a newest-first list ordered by time, then id: older, or as old
/// with a smaller id (the keyset a cursor continues from).
pub fn older_than(
    at_column: impl sea_orm::ColumnTrait,
    id_column: impl sea_orm::ColumnTrait,
    (at, id): (chrono::DateTime<chrono::Utc>, uuid::Uuid),
) -> sea_orm::Condition {
    sea_orm::Condition::any().add(at_column.lt(at)).add(
        sea_orm::Condition::all()
            .add(at_column.eq(at))
            .add(id_column.lt(id)),
    )
}

/// Whether an error is a unique-constraint violation (a duplicate).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
        // The message writer's own connection words it as SQLite does.
        || error.to_string().contains("UNIQUE constraint failed")
}

/// The file of a SQLite URL (`sqlite://frontdesk.db`, `sqlite:///var/lib/fd.db?mode=rwc`);
/// `None` for an in-memory database or another kind of URL.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.contains(":memory:") || query.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_removed_from_database_urls() {
        assert_eq!(
            super::redact_url("postgres://fd:hunter2@db:5432/frontdesk"),
            "postgres://fd:***@db:5432/frontdesk"
        );
        assert_eq!(
            super::redact_url("sqlite://frontdesk.db"),
            "sqlite://frontdesk.db"
        );
    }

    /// The readers see what the writer committed, never wait for its open transaction, and
    /// cannot write (so they never compete for SQLite's one write lock).
    #[tokio::test]
    async fn sqlite_readers_see_commits_do_not_wait_for_the_writer_and_cannot_write()
    -> anyhow::Result<()> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let writer = super::connect(&url).await?;
        writer
            .execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await?;
        writer
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await?;
        let reads = super::connect_reader(&url, &writer).await?;
        let count = |conn: &sea_orm::DatabaseConnection| {
            let conn = conn.clone();
            async move {
                let row = conn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT COUNT(*) AS n FROM t",
                    ))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no row"))?;
                anyhow::Ok(row.try_get::<i64>("", "n")?)
            }
        };
        assert_eq!(count(&reads).await?, 1);
        // The writer's one connection is inside a write transaction: a read on it would wait;
        // the readers answer at once, from the last commit.
        let txn = writer.begin().await?;
        txn.execute_unprepared("INSERT INTO t VALUES (2)").await?;
        let read = tokio::time::timeout(std::time::Duration::from_secs(2), count(&reads)).await;
        assert_eq!(read.ok().transpose()?, Some(1));
        txn.commit().await?;
        assert_eq!(count(&reads).await?, 2);
        let write = reads.execute_unprepared("INSERT INTO t VALUES (3)").await;
        assert!(write.is_err(), "a reader wrote");
        assert_eq!(count(&writer).await?, 2);
        Ok(())
    }
}
