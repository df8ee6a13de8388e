//! Checkpoints of the message writer's WAL, done aside. SQLite's automatic checkpoint runs
//! inside the `COMMIT` that takes the WAL past 1,000 pages, on the committing thread: on the
//! writer's, it copied those pages into the database file and synced it (8-14 ms on the
//! benchmark's machine, every ~400 ms at 1,500 messages a second) while every message queued
//! behind the batch waited, and the batch's own acknowledgements too (docs/benchmarks.md).
//!
//! Here the writer's connection counts the WAL's pages instead (its WAL hook, which replaces
//! the automatic checkpoint), and at 1,000 pages asks a thread of its own to run a passive
//! checkpoint on a connection of its own: it copies the pages and syncs the database file
//! while the writer goes on. A passive checkpoint cannot copy what was committed while it ran,
//! and SQLite starts the WAL over only once every page of it is in the database file, so
//! when the thread is done the writer finishes the job between two batches: it copies the few
//! pages committed meanwhile, and its next batch starts the WAL over. Should the thread fall
//! behind, the writer checkpoints itself at 4,000 pages, so the WAL stays bounded.

use rusqlite::{Connection, OpenFlags, hooks::Wal};
use std::{
    cell::Cell,
    ffi::c_int,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
};

/// The WAL's size in pages at which a checkpoint is asked for: SQLite's automatic default.
pub const CHECKPOINT_PAGES: i32 = 1_000;

/// The WAL's size at which the writer checkpoints itself although the thread has not finished.
const OVERDUE_PAGES: i32 = 4 * CHECKPOINT_PAGES;

thread_local! {
    /// Pages in the WAL after the last commit on this thread's writer connection. SQLite runs
    /// the WAL hook inside `COMMIT`, on the committing thread: the writer's own.
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn note_wal_pages(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Checkpoints so far, by who ran them.
#[derive(Debug, Default)]
pub struct Checkpoints {
    /// Run by the checkpoint thread, beside the writer (the bulk of the copying).
    pub aside: AtomicU64,
    /// Run by the writer between two batches (the rest, or all of it when the thread was late).
    pub inline: AtomicU64,
}

/// Whether a checkpoint is under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    /// The thread was asked; the writer finishes once it is done.
    Asked,
}

/// The writer connection's side: its WAL hook, the checkpoint thread and what it has done.
pub struct Checkpointer {
    asks: Option<SyncSender<()>>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    phase: Phase,
    counts: Arc<Checkpoints>,
}

impl Checkpointer {
    /// Installs the WAL hook on `writer` (ending its automatic checkpoints) and starts the
    /// checkpoint thread with a connection of its own to `path`.
    pub fn start(
        writer: &Connection,
        path: &Path,
        counts: Arc<Checkpoints>,
    ) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A checkpoint syncs the WAL before it copies and the database file after, as the
        // writer's own would: what it copies is durable before SQLite reuses the WAL.
        conn.pragma_update(None, "synchronous", "full")?;
        let (asks, requests) = sync_channel(1);
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("frontdesk-checkpoint".to_owned())
            .spawn({
                let (done, counts) = (done.clone(), counts.clone());
                move || checkpoint_on_request(&conn, &requests, &done, &counts)
            })?;
        writer.wal_hook(Some(note_wal_pages));
        Ok(Self {
            asks: Some(asks),
            done,
            thread: Some(thread),
            phase: Phase::Idle,
            counts,
        })
    }

    /// After a batch's writes were answered, on the writer's thread: asks for a checkpoint
    /// when the WAL has grown, and finishes one the thread is done with (or that is overdue)
    /// on `writer`.
    pub fn after_batch(&mut self, writer: &Connection) {
        let pages = WAL_PAGES.get();
        match self.phase {
            Phase::Idle if pages >= CHECKPOINT_PAGES => {
                let asked = match self.asks.as_ref().map(|asks| asks.try_send(())) {
                    Some(Ok(()) | Err(TrySendError::Full(()))) => true,
                    Some(Err(TrySendError::Disconnected(()))) | None => false,
                };
                if asked {
                    self.phase = Phase::Asked;
                } else {
                    self.finish(writer);
                }
            }
            Phase::Asked if self.done.swap(false, Ordering::AcqRel) || pages >= OVERDUE_PAGES => {
                self.finish(writer);
            }
            Phase::Idle | Phase::Asked => {}
        }
    }

    /// Copies into the database file what the WAL still holds beyond it, so the writer's next
    /// batch starts the WAL over.
    fn finish(&mut self, writer: &Connection) {
        self.phase = Phase::Idle;
        if let Err(error) = passive_checkpoint(writer) {
            tracing::warn!(%error, "the message writer's checkpoint failed");
        }
        self.counts.inline.fetch_add(1, Ordering::Relaxed);
        // Until the next commit says otherwise.
        WAL_PAGES.set(0);
    }
}

impl Drop for Checkpointer {
    /// Ends the thread and waits for it, so its connection is closed when the writer's is.
    fn drop(&mut self) {
        self.asks.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint_on_request(
    conn: &Connection,
    requests: &Receiver<()>,
    done: &AtomicBool,
    counts: &Checkpoints,
) {
    while requests.recv().is_ok() {
        match passive_checkpoint(conn) {
            Ok((log, copied)) => {
                tracing::debug!(log, copied, "WAL checkpoint beside the message writer");
            }
            Err(error) => tracing::warn!(%error, "a WAL checkpoint failed"),
        }
        counts.aside.fetch_add(1, Ordering::Relaxed);
        done.store(true, Ordering::Release);
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can without waiting for any connection;
/// answers the WAL's frames and how many of them are now in the database file.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}
