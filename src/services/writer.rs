//! The message writer: group commit on SQLite, on a connection of its own.
//!
//! Every message write is a closure over a transaction. On SQLite (one writer at a time, one
//! fsync per commit) the closures go to one thread that owns its own connection
//! (`storage::sqlite_writer`): every write that arrives while a commit is in flight joins the
//! next transaction, each in its own savepoint, so one write's error undoes only that write;
//! the closures' statements run inline on that thread, with no hand-off to a driver's worker
//! thread per statement. Each caller hears back only after the transaction holding its write
//! has committed, so an acknowledged message is on disk, and a batch of 100 messages costs
//! one fsync instead of 100.
//!
//! The product's other writes keep their own connection and start their transactions with
//! `BEGIN IMMEDIATE` (`storage::begin_write`), so the two writing connections wait for each other
//! rather than fail on a lock upgrade. An in-memory database has one connection only: there
//! the writer batches on it from a task, as before.
//!
//! On PostgreSQL each write runs in its own transaction from the pool: the server already
//! flushes concurrent commits together (its WAL group commit), and one queue would serialise
//! writes that PostgreSQL runs in parallel; a write's typed form there
//! (`storage::typed_pg`) is one statement that commits by itself. See docs/decisions.md.

use super::ServiceError;
use crate::storage::{sqlite_checkpoint::Checkpoints, sqlite_writer::SqliteProxy};
use anyhow::{Context as _, anyhow};
use sea_orm::{
    Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ProxyDatabaseTrait,
    ProxyExecResult, ProxyRow, Statement, TransactionTrait,
};
use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

tokio::task_local! {
    /// What the writes of one batch read and none of them writes (an account's webhook
    /// endpoints), read once per batch: the batch's transaction holds SQLite's write lock, so
    /// nothing else changes it meanwhile, and the next batch reads it afresh.
    static BATCH_READS: BatchReads;
}

/// Values read once in the current batch, by type and key.
#[derive(Default)]
struct BatchReads(
    std::sync::Mutex<
        std::collections::HashMap<
            (std::any::TypeId, uuid::Uuid),
            Arc<dyn std::any::Any + Send + Sync>,
        >,
    >,
);

/// Inside a writer batch, `load`s a `T` for `key` once per batch and shares it with the
/// batch's other writes; anywhere else (PostgreSQL, the other connections) loads it every
/// time. Only for what no message write changes.
pub(crate) async fn read_once_per_batch<T, E, Fut>(
    key: uuid::Uuid,
    load: impl FnOnce() -> Fut,
) -> Result<Arc<T>, E>
where
    T: Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(found) = batch_read::<T>(key) {
        return Ok(found);
    }
    let loaded = Arc::new(load().await?);
    keep_for_batch(key, &loaded);
    Ok(loaded)
}

/// `read_once_per_batch` for a synchronous `load` (a typed write's statements).
pub(crate) fn read_once_per_batch_now<T, E>(
    key: uuid::Uuid,
    load: impl FnOnce() -> Result<T, E>,
) -> Result<Arc<T>, E>
where
    T: Send + Sync + 'static,
{
    if let Some(found) = batch_read::<T>(key) {
        return Ok(found);
    }
    let loaded = Arc::new(load()?);
    keep_for_batch(key, &loaded);
    Ok(loaded)
}

/// What the current batch read of `T` for `key`, if anything (none outside a batch).
fn batch_read<T: Send + Sync + 'static>(key: uuid::Uuid) -> Option<Arc<T>> {
    let slot = (std::any::TypeId::of::<T>(), key);
    BATCH_READS
        .try_with(|reads| {
            reads
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&slot)
                .cloned()
        })
        .ok()
        .flatten()
        .and_then(|found| found.downcast::<T>().ok())
}

/// Keeps `value` for the rest of the current batch (nothing outside a batch).
fn keep_for_batch<T: Send + Sync + 'static>(key: uuid::Uuid, value: &Arc<T>) {
    let slot = (std::any::TypeId::of::<T>(), key);
    let _ = BATCH_READS.try_with(|reads| {
        reads
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(slot, value.clone() as Arc<dyn std::any::Any + Send + Sync>)
    });
}

/// Most writes one transaction carries; a longer queue waits for the next commit.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writer before callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;
/// A batch that follows a batch of at least this many writes (writes arrive faster than
/// commits) waits up to the writer's linger (`message_linger_ms`) for more before it runs, so
/// that under load each commit carries more messages: a commit's cost is mostly per page
/// written and per `fsync`, and the messages of one batch share pages (the tables' and
/// indexes' newest ones). A write after a quieter batch never waits. See docs/decisions.md.
const LINGER_FROM: usize = 4;

/// What a write closure decides: keep its changes, or undo them and still answer (a resend
/// found the original message after the conversation row was already updated).
pub enum Written<T> {
    Commit(T),
    Rollback(T),
}

/// The future a write closure returns; it borrows the transaction.
pub type WriteFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<Written<T>, ServiceError>> + Send + 'c>>;

/// Runs after the batch's commit with its outcome; sends the caller its answer.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// What the writer's queue carries: a write, or the request to stop once what came before
/// it is committed (answered when the writer's connection is closed).
enum Command {
    Write(Job),
    Close(oneshot::Sender<()>),
}

type Job = Box<
    dyn for<'c> FnOnce(
            &'c DatabaseTransaction,
            Option<&'c SqliteProxy>,
        ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'c>>
        + Send,
>;

/// A write's typed form for its common case (`storage::typed`): tried first on the writer's
/// own SQLite connection; `Ok(None)` (not the common case) hands the write to its general
/// form, with nothing of the typed attempt kept.
pub type TypedWrite<T> =
    Box<dyn FnOnce(&rusqlite::Connection) -> Result<Option<T>, ServiceError> + Send>;

/// A write's typed form on PostgreSQL (`storage::typed_pg`): its statement runs on the pool,
/// outside any transaction, and commits by itself; `Ok(None)` (not the common case, nothing
/// written) hands the write to its general form.
pub type PgTypedWrite<T> = Box<
    dyn FnOnce(
            DatabaseConnection,
        ) -> Pin<Box<dyn Future<Output = Result<Option<T>, ServiceError>> + Send>>
        + Send,
>;

/// A write's typed forms for its common case: on the writer's own SQLite connection, and
/// on PostgreSQL.
pub struct Typed<T> {
    pub sqlite: TypedWrite<T>,
    pub postgres: PgTypedWrite<T>,
}

#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    /// Set on SQLite: the queue of the group-commit task.
    queue: Option<mpsc::Sender<Command>>,
    stats: Arc<Stats>,
}

/// Counts of the group-commit task since start (for /metrics and tests).
#[derive(Debug, Default)]
pub struct Stats {
    /// Transactions committed (or tried) by the writer.
    pub batches: AtomicU64,
    /// Writes those transactions carried.
    pub writes: AtomicU64,
    /// Writes done by their typed form (`Writer::write_typed`): on SQLite among the writes
    /// above, on PostgreSQL each a statement of its own.
    pub typed: AtomicU64,
    /// WAL checkpoint passes over the writer's own SQLite connection (`storage::sqlite_checkpoint`).
    pub checkpoints: Arc<Checkpoints>,
}

impl Writer {
    /// Starts the group-commit thread on SQLite (a task over `db` for an in-memory database);
    /// on PostgreSQL writes run in their own transactions. `url` is the database's; `linger`
    /// how long a batch after a busy one waits for more writes.
    pub fn start(db: DatabaseConnection, url: &str, linger: Duration) -> anyhow::Result<Self> {
        let stats = Arc::new(Stats::default());
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(Self {
                db,
                queue: None,
                stats,
            });
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        match crate::storage::sqlite_file(url) {
            Some(path) => {
                let proxy = Arc::new(SqliteProxy::open(&path, stats.checkpoints.clone())?);
                let thread_stats = stats.clone();
                std::thread::Builder::new()
                    .name("frontdesk-writer".to_owned())
                    .spawn(move || own_thread(proxy, receiver, thread_stats, linger))
                    .context("starting the message writer's thread")?;
            }
            None => {
                let (db, stats) = (db.clone(), stats.clone());
                tokio::spawn(async move {
                    if let Some(closed) = run(db, receiver, stats, None, linger).await {
                        let _ = closed.send(());
                    }
                });
            }
        }
        Ok(Self {
            db,
            queue: Some(sender),
            stats,
        })
    }

    /// Stops the writer once every write queued before has committed, and closes its own
    /// connection (a bulk load that needs the database to itself, e.g. `bench seed`). Writes
    /// asked for afterwards fail.
    pub async fn close(&self) {
        if let Some(queue) = &self.queue {
            let (closed, done) = oneshot::channel();
            if queue.send(Command::Close(closed)).await.is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Batches, writes and typed writes so far (batches to writes is the average batch size).
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.writes.load(Ordering::Relaxed),
            self.stats.typed.load(Ordering::Relaxed),
        )
    }

    /// WAL checkpoint passes so far: run beside the writer, and run by the writer itself.
    pub fn checkpoints(&self) -> (u64, u64) {
        let counts = &self.stats.checkpoints;
        (
            counts.aside.load(Ordering::Relaxed),
            counts.writer.load(Ordering::Relaxed),
        )
    }

    /// Runs `write` in a transaction and answers once that transaction has committed.
    pub async fn write<T, F>(&self, write: F) -> Result<T, ServiceError>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + 'static,
        T: Send + 'static,
    {
        self.write_with(None, write).await
    }

    /// `write`, with typed forms for its common case that run instead of it when they apply
    /// (answering `Ok(Some(_))`): on the writer's own SQLite connection, and on PostgreSQL
    /// (its own statement, committed before `write` would begin). On an in-memory database
    /// only `write` runs.
    pub async fn write_typed<T, F>(&self, typed: Typed<T>, write: F) -> Result<T, ServiceError>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + 'static,
        T: Send + 'static,
    {
        if self.queue.is_none() && self.db.get_database_backend() == DbBackend::Postgres {
            if let Some(done) = (typed.postgres)(self.db.clone()).await? {
                self.stats.typed.fetch_add(1, Ordering::Relaxed);
                return Ok(done);
            }
            return self.write_with(None, write).await;
        }
        self.write_with(Some(typed.sqlite), write).await
    }

    async fn write_with<T, F>(
        &self,
        typed: Option<TypedWrite<T>>,
        write: F,
    ) -> Result<T, ServiceError>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + 'static,
        T: Send + 'static,
    {
        let Some(queue) = &self.queue else {
            let txn = crate::storage::begin_write(&self.db)
                .await
                .context("starting a transaction")?;
            return finish(txn, write).await;
        };
        let (answer, answered) = oneshot::channel::<Result<T, ServiceError>>();
        let span = tracing::Span::current();
        let stats = self.stats.clone();
        let job: Job = Box::new(
            move |batch: &DatabaseTransaction, own: Option<&SqliteProxy>| {
                Box::pin(
                    async move {
                        let done = match (typed, own) {
                            (Some(typed), Some(own)) => own.typed(typed).transpose(),
                            _ => None,
                        };
                        if matches!(done, Some(Ok(_))) {
                            stats.typed.fetch_add(1, Ordering::Relaxed);
                        }
                        let result = match done {
                            Some(done) => done,
                            None => match batch.begin().await {
                                Ok(savepoint) => finish(savepoint, write).await,
                                Err(error) => Err(anyhow::Error::new(error)
                                    .context("starting a savepoint")
                                    .into()),
                            },
                        };
                        Box::new(move |committed: Result<(), String>| {
                            let result = committed
                                .map_err(|error| anyhow!("committing a batch of messages: {error}"))
                                .map_err(ServiceError::from)
                                .and(result);
                            // The caller may have gone (its socket closed): nothing to tell.
                            let _ = answer.send(result);
                        }) as Reply
                    }
                    .instrument(span),
                )
            },
        );
        queue
            .send(Command::Write(job))
            .await
            .map_err(|_| anyhow!("the message writer has stopped"))?;
        answered
            .await
            .map_err(|_| anyhow!("the message writer could not start a transaction"))?
    }
}

/// Runs the closure in `txn` (a transaction or a savepoint), then commits or rolls back.
async fn finish<T, F>(txn: DatabaseTransaction, write: F) -> Result<T, ServiceError>
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, T>,
{
    match write(&txn).await {
        Ok(Written::Commit(value)) => {
            txn.commit().await.context("committing a write")?;
            Ok(value)
        }
        Ok(Written::Rollback(value)) => {
            txn.rollback().await.context("rolling back a write")?;
            Ok(value)
        }
        Err(error) => {
            txn.rollback()
                .await
                .context("rolling back a failed write")?;
            Err(error)
        }
    }
}

/// The writer's thread: a single-threaded runtime that runs every batch's closures, whose
/// statements go straight to the writer's own connection.
fn own_thread(
    proxy: Arc<SqliteProxy>,
    queue: mpsc::Receiver<Command>,
    stats: Arc<Stats>,
    linger: Duration,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            // Dropping the queue tells every caller the writer has stopped.
            tracing::error!(%error, "cannot start the message writer's runtime");
            return;
        }
    };
    let closed = runtime.block_on(async move {
        let handle: Arc<Box<dyn ProxyDatabaseTrait>> = Arc::new(Box::new(Shared(proxy.clone())));
        match Database::connect_proxy(DbBackend::Sqlite, handle).await {
            Ok(db) => run(db, queue, stats, Some(proxy), linger).await,
            Err(error) => {
                tracing::error!(%error, "cannot open the message writer's connection");
                None
            }
        }
    });
    // The runtime held the last handles of the connection: closed once it is dropped.
    drop(runtime);
    if let Some(closed) = closed {
        let _ = closed.send(());
    }
}

/// The writer's connection as sea-orm's proxy (the thread keeps its own handle to begin and
/// commit batches).
#[derive(Debug)]
struct Shared(Arc<SqliteProxy>);

#[async_trait::async_trait]
impl ProxyDatabaseTrait for Shared {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        self.0.query(statement).await
    }
    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        self.0.execute(statement).await
    }
    async fn begin(&self) {
        self.0.begin().await;
    }
    async fn commit(&self) {
        self.0.commit().await;
    }
    async fn rollback(&self) {
        self.0.rollback().await;
    }
    fn start_rollback(&self) {
        self.0.start_rollback();
    }
}

/// The group-commit loop: take every queued write (up to `MAX_BATCH`; after a busy batch,
/// also what arrives within `linger`), run them in one transaction, commit once, answer each.
/// With `own`, the writer's own connection opens and commits each batch (its errors
/// reported); else `db`'s transaction does.
async fn run(
    db: DatabaseConnection,
    mut queue: mpsc::Receiver<Command>,
    stats: Arc<Stats>,
    own: Option<Arc<SqliteProxy>>,
    linger: Duration,
) -> Option<oneshot::Sender<()>> {
    let mut commands = Vec::with_capacity(MAX_BATCH);
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    let mut previous = 0;
    while closing.is_none() && queue.recv_many(&mut commands, MAX_BATCH).await > 0 {
        if previous >= LINGER_FROM && !linger.is_zero() {
            gather(&mut queue, &mut commands, linger).await;
        }
        for command in commands.drain(..) {
            match command {
                Command::Write(job) if closing.is_none() => jobs.push(job),
                // Asked after the close: dropping it tells its caller the writer stopped.
                Command::Write(_) => {}
                Command::Close(closed) => closing = closing.or(Some(closed)),
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let opened = match &own {
            Some(proxy) => proxy.begin_batch(),
            None => Ok(()),
        };
        // On the writer's own connection `begin_batch` already began (IMMEDIATE); this is the
        // batch's sea-orm handle over it.
        let txn = match opened {
            Ok(()) => crate::storage::begin_write(&db).await,
            Err(error) => Err(error),
        };
        let txn = match txn {
            Ok(txn) => txn,
            Err(error) => {
                // Dropping the jobs tells each caller that its write did not happen.
                tracing::error!(%error, writes = jobs.len(), "cannot start a batch of messages");
                if let Some(proxy) = &own {
                    proxy.rollback_batch();
                }
                jobs.clear();
                continue;
            }
        };
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.writes.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        previous = jobs.len();
        let mut replies = Vec::with_capacity(jobs.len());
        BATCH_READS
            .scope(BatchReads::default(), async {
                for job in jobs.drain(..) {
                    replies.push(job(&txn, own.as_deref()).await);
                }
            })
            .await;
        let mut committed = txn.commit().await;
        if let (Ok(()), Some(proxy)) = (&committed, &own) {
            committed = proxy.commit_batch();
        }
        let committed = committed.map_err(|error| {
            tracing::error!(%error, writes = replies.len(), "cannot commit a batch of messages");
            error.to_string()
        });
        for reply in replies {
            reply(committed.clone());
        }
        if let Some(proxy) = &own {
            proxy.after_batch();
        }
    }
    closing
}

/// Adds to `commands` what arrives within `linger`, until the batch is full or a request to
/// close came.
async fn gather(
    queue: &mut mpsc::Receiver<Command>,
    commands: &mut Vec<Command>,
    linger: Duration,
) {
    let deadline = tokio::time::Instant::now() + linger;
    let mut seen = 0;
    while commands.len() < MAX_BATCH {
        if commands[seen..]
            .iter()
            .any(|command| matches!(command, Command::Close(_)))
        {
            return;
        }
        seen = commands.len();
        tokio::select! {
            received = queue.recv_many(commands, MAX_BATCH - commands.len()) => {
                if received == 0 {
                    return;
                }
            }
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnectionTrait;

    async fn writer() -> anyhow::Result<(tempfile::TempDir, Writer)> {
        lingering(Duration::ZERO).await
    }

    /// A writer whose batches after a busy one wait `linger` for more writes.
    async fn lingering(linger: Duration) -> anyhow::Result<(tempfile::TempDir, Writer)> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let db = crate::storage::connect(&url).await?;
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .await?;
        Ok((dir, Writer::start(db, &url, linger)?))
    }

    /// A busy batch: a slow write holds the writer while `n` more queue up behind it.
    async fn busy_batch(writer: &Writer, ids: std::ops::Range<i64>) -> anyhow::Result<()> {
        let slow = hold(writer).await;
        let queued = ids.map(|id| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.write(insert(id)).await })
        });
        for answer in futures_util::future::join_all(queued).await {
            answer?.map_err(|e| anyhow!("{e:?}"))?;
        }
        slow.await?.map_err(|e| anyhow!("{e:?}"))?;
        Ok(())
    }

    /// Waits for `write`, failing after 20 s (a linger of a minute would hold it far longer).
    async fn promptly<T>(
        write: impl Future<Output = Result<T, ServiceError>>,
    ) -> anyhow::Result<T> {
        tokio::time::timeout(Duration::from_secs(20), write)
            .await
            .map_err(|_| anyhow!("the write waited for the linger"))?
            .map_err(|e| anyhow!("{e:?}"))
    }

    #[tokio::test]
    async fn after_a_busy_batch_writes_arriving_within_the_linger_share_one_commit()
    -> anyhow::Result<()> {
        let (_dir, writer) = lingering(Duration::from_secs(3)).await?;
        busy_batch(&writer, 0..LINGER_FROM as i64 + 2).await?;
        let (batches, writes, _) = writer.stats();
        let first = writer.clone();
        let first = tokio::spawn(async move { first.write(insert(100)).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!first.is_finished(), "the write after a busy batch lingers");
        let second = writer
            .write(insert(101))
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        assert_eq!(first.await?.map_err(|e| anyhow!("{e:?}"))?, 100);
        assert_eq!(second, 101);
        assert_eq!(
            writer.stats(),
            (batches + 1, writes + 2, 0),
            "two writes 300 ms apart committed together"
        );
        assert_eq!(ids(&writer).await?.len(), LINGER_FROM + 4);
        Ok(())
    }

    #[tokio::test]
    async fn a_write_after_a_quiet_batch_does_not_wait_and_close_cuts_a_linger_short()
    -> anyhow::Result<()> {
        let (_dir, writer) = lingering(Duration::from_secs(60)).await?;
        // Alone, and after a batch of one: no wait.
        promptly(writer.write(insert(1))).await?;
        promptly(writer.write(insert(2))).await?;
        // After a busy batch the next write lingers, and a close ends the linger: the write
        // is committed and the writer stops.
        busy_batch(&writer, 10..10 + LINGER_FROM as i64).await?;
        let lingering = writer.clone();
        let pending = tokio::spawn(async move { lingering.write(insert(50)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !pending.is_finished(),
            "the write after a busy batch lingers"
        );
        tokio::time::timeout(Duration::from_secs(20), writer.close())
            .await
            .map_err(|_| anyhow!("close waited for the linger"))?;
        let done = tokio::time::timeout(Duration::from_secs(20), pending).await??;
        assert_eq!(done.map_err(|e| anyhow!("{e:?}"))?, 50);
        assert!(
            ids(&writer).await?.contains(&50),
            "committed before the close"
        );
        Ok(())
    }

    fn insert(id: i64) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, i64> {
        insert_sql(id, "INSERT INTO t (id, v) VALUES (?, 'x')")
    }

    /// Inserts `id` with a value of 8 KiB (three pages of the WAL).
    fn insert_large(
        id: i64,
    ) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, i64> {
        insert_sql(id, "INSERT INTO t (id, v) VALUES (?, hex(zeroblob(4096)))")
    }

    fn insert_sql(
        id: i64,
        sql: &'static str,
    ) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, i64> {
        move |txn| {
            Box::pin(async move {
                let statement = Statement::from_sql_and_values(DbBackend::Sqlite, sql, [id.into()]);
                txn.execute_raw(statement).await?;
                Ok(Written::Commit(id))
            })
        }
    }

    /// A write that reads `key` through `read_once_per_batch`, counting the real reads.
    fn read_shared(
        key: uuid::Uuid,
        loads: Arc<AtomicU64>,
    ) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, u64> {
        move |_| {
            Box::pin(async move {
                let value = read_once_per_batch(key, || async {
                    Ok::<_, ServiceError>(loads.fetch_add(1, Ordering::SeqCst))
                })
                .await?;
                Ok(Written::Commit(*value))
            })
        }
    }

    /// Starts a write that holds the writer for 200 ms, and waits until it runs: the writes
    /// asked for meanwhile queue up and share the next batch.
    async fn hold(writer: &Writer) -> tokio::task::JoinHandle<Result<(), ServiceError>> {
        let slow = writer.clone();
        let held = tokio::spawn(async move {
            slow.write(|_| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(Written::Commit(()))
                })
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        held
    }

    async fn ids(writer: &Writer) -> anyhow::Result<Vec<i64>> {
        let rows = writer
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id FROM t ORDER BY id",
            ))
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| row.try_get::<i64>("", "id").ok())
            .collect())
    }

    #[tokio::test]
    async fn concurrent_writes_share_transactions_and_each_is_stored_when_answered()
    -> anyhow::Result<()> {
        let (_dir, writer) = writer().await?;
        let writes = (0..200).map(|id| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.write(insert(id)).await })
        });
        let answered = futures_util::future::join_all(writes).await;
        let mut acked = Vec::new();
        for answer in answered {
            acked.push(answer?.map_err(|error| anyhow!("{error:?}"))?);
        }
        acked.sort_unstable();
        assert_eq!(acked, (0..200).collect::<Vec<_>>());
        assert_eq!(
            ids(&writer).await?,
            acked,
            "every acknowledged write is stored"
        );
        let (batches, writes, _) = writer.stats();
        assert_eq!(writes, 200);
        assert!(
            batches < 200,
            "200 concurrent writes took {batches} transactions: no group commit"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_batch_reads_once_what_its_writes_share_and_the_next_batch_reads_afresh()
    -> anyhow::Result<()> {
        let (_dir, writer) = writer().await?;
        let loads = Arc::new(AtomicU64::new(0));
        let key = uuid::Uuid::new_v4();
        let read = move |loads| read_shared(key, loads);
        // A slow write holds the writer, so the next ten queue up and share one batch.
        let slow = hold(&writer).await;
        let queued = (0..10).map(|_| {
            let (writer, loads) = (writer.clone(), loads.clone());
            tokio::spawn(async move { writer.write(read(loads)).await })
        });
        let values = futures_util::future::join_all(queued).await;
        slow.await?.map_err(|e| anyhow!("{e:?}"))?;
        for value in values {
            assert_eq!(value?.map_err(|e| anyhow!("{e:?}"))?, 0, "one shared read");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "read once for the batch");
        let next = writer.write(read(loads.clone())).await;
        assert_eq!(
            next.map_err(|e| anyhow!("{e:?}"))?,
            1,
            "the next batch reads afresh"
        );
        // Outside a batch nothing is shared.
        for expected in [2, 3] {
            let value = read_once_per_batch(key, || async {
                Ok::<_, ServiceError>(loads.fetch_add(1, Ordering::SeqCst))
            })
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
            assert_eq!(*value, expected);
        }
        Ok(())
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer_and_stays_bounded() -> anyhow::Result<()> {
        let (dir, writer) = writer().await?;
        // 4,000 writes of 8 KiB in batches of 250: about 8,600 pages through the WAL, which
        // grows to 35 MB without checkpoints (6.6 MB with them, when this was written).
        for round in 0..16 {
            let queued = (0..250).map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write(insert_large(round * 250 + i)).await })
            });
            for answer in futures_util::future::join_all(queued).await {
                answer?.map_err(|e| anyhow!("{e:?}"))?;
            }
        }
        let (aside, by_writer) = writer.checkpoints();
        assert!(aside >= 2, "the checkpoint thread copied the WAL: {aside}");
        assert!(
            by_writer >= 2,
            "the writer finished the checkpoints: {by_writer}"
        );
        // The WAL started over after each: it never held much more than the threshold and
        // a batch (or the overdue bound, should the thread have been late).
        let page = 4096 + 24;
        let wal = std::fs::metadata(dir.path().join("w.db-wal"))?.len();
        let bound = (4 * crate::storage::sqlite_checkpoint::CHECKPOINT_PAGES + 1_000) as u64;
        assert!(wal <= bound * page, "the WAL is {wal} bytes");
        assert_eq!(ids(&writer).await?.len(), 4_000);
        Ok(())
    }

    #[tokio::test]
    async fn close_commits_what_came_before_and_leaves_the_database_to_others() -> anyhow::Result<()>
    {
        let (dir, writer) = writer().await?;
        let before = writer.clone();
        let pending = tokio::spawn(async move { before.write(insert(1)).await });
        tokio::task::yield_now().await;
        writer.close().await;
        assert_eq!(pending.await?.map_err(|e| anyhow!("{e:?}"))?, 1);
        assert!(
            writer.write(insert(2)).await.is_err(),
            "the writer has stopped"
        );
        // Its own connection is closed: with the pool's closed too, one connection may take
        // the database for itself (what `bench seed` does).
        writer.db.clone().close().await?;
        let sole = rusqlite::Connection::open(dir.path().join("w.db"))?;
        let mode: String = sole.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
        assert_eq!(mode, "delete");
        Ok(())
    }

    /// `sqlite` as a write's typed forms (these tests run on SQLite).
    fn on_sqlite(
        sqlite: impl FnOnce(&rusqlite::Connection) -> Result<Option<i64>, ServiceError> + Send + 'static,
    ) -> Typed<i64> {
        Typed {
            sqlite: Box::new(sqlite),
            postgres: Box::new(|_| Box::pin(async { Ok(None) })),
        }
    }

    /// A typed form that inserts `id` and then answers as `answer` says.
    fn typed_insert(
        id: i64,
        answer: Option<i64>,
    ) -> impl FnOnce(&rusqlite::Connection) -> Result<Option<i64>, ServiceError> + Send + 'static
    {
        move |conn| {
            conn.execute("INSERT INTO t (id, v) VALUES (?1, 'typed')", [id])
                .map_err(|error| anyhow!("{error}"))?;
            Ok(answer)
        }
    }

    #[tokio::test]
    async fn a_typed_write_that_declines_before_writing_leaves_it_to_the_general_one_and_one_that_stops_after_writing_fails_its_batch()
    -> anyhow::Result<()> {
        let (_dir, writer) = writer().await?;
        // Declines having written nothing: the general form runs.
        let general = writer
            .write_typed(on_sqlite(|_| Ok(None)), insert(1))
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        assert_eq!(general, 1);
        // Writes and answers: the typed form is the write.
        let typed = writer
            .write_typed(on_sqlite(typed_insert(2, Some(2))), insert(20))
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        assert_eq!(typed, 2);
        assert_eq!(writer.stats().2, 1, "one typed write");
        // A slow write holds the writer, so the next two share one batch: a good general write
        // and a typed write that writes and then declines. The batch fails whole.
        let slow = hold(&writer).await;
        let (good, broken) = (writer.clone(), writer.clone());
        let (good, broken) = tokio::join!(
            good.write(insert(3)),
            broken.write_typed(on_sqlite(typed_insert(4, None)), insert(40)),
        );
        assert!(
            broken.is_err(),
            "a typed write that stopped after writing fails"
        );
        assert!(
            good.is_err(),
            "and so does its batch: nothing in it is acknowledged"
        );
        let _ = slow.await?;
        assert_eq!(
            ids(&writer).await?,
            vec![1, 2],
            "nothing of the failed batch is stored"
        );
        // The next batch is whole again.
        assert_eq!(
            writer
                .write(insert(5))
                .await
                .map_err(|e| anyhow!("{e:?}"))?,
            5
        );
        assert_eq!(ids(&writer).await?, vec![1, 2, 5]);
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_or_rolled_back_write_undoes_only_itself() -> anyhow::Result<()> {
        let (_dir, writer) = writer().await?;
        writer
            .write(insert(1))
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        // A slow write holds the writer, so the next four queue up and share one transaction:
        // a good write, a duplicate key, a write that rolls itself back, a good one.
        let slow = hold(&writer).await;
        let (batches_before, _, _) = writer.stats();
        let good = writer.clone();
        let duplicate = writer.clone();
        let undone = writer.clone();
        let last = writer.clone();
        let (good, duplicate, undone, last) = tokio::join!(
            good.write(insert(2)),
            duplicate.write(insert(1)),
            undone.write(|txn| {
                Box::pin(async move {
                    insert(3)(txn).await?;
                    Ok(Written::Rollback(3))
                })
            }),
            last.write(insert(4)),
        );
        assert_eq!(good.map_err(|e| anyhow!("{e:?}"))?, 2);
        assert!(
            duplicate.is_err(),
            "a duplicate key is an error for its writer"
        );
        assert_eq!(
            undone.map_err(|e| anyhow!("{e:?}"))?,
            3,
            "a rollback still answers"
        );
        assert_eq!(last.map_err(|e| anyhow!("{e:?}"))?, 4);
        assert_eq!(ids(&writer).await?, vec![1, 2, 4]);
        slow.await?.map_err(|e| anyhow!("{e:?}"))?;
        let (batches_after, _, _) = writer.stats();
        assert_eq!(
            batches_after - batches_before,
            1,
            "the four writes shared one transaction"
        );
        Ok(())
    }
}
