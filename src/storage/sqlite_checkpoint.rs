//! Checkpoints of the message writer's WAL, mostly done aside. SQLite's automatic checkpoint
//! runs inside the `COMMIT` that takes the WAL past 1,000 pages, on the committing thread: on
//! the writer's, it synced the WAL, copied those pages into the database file and synced that
//! (8-14 ms on the slow machine of 7 December, every ~400 ms at 1,500 messages a second) while
//! the batch's acknowledgements and every message queued behind it waited
//! (docs/benchmarks.md).
//!
//! Here the writer's connection counts the WAL's pages instead (its WAL hook, which replaces
//! the automatic checkpoint), and at 1,000 pages asks a thread of its own to run passive
//! checkpoints on a connection of its own: they copy the pages while the writer goes on. But
//! SQLite syncs the database file only at the end of a pass that copied the whole WAL, and
//! starts the WAL over only once every page of it is in the (synced) database file, while
//! under steady load the writer commits during every pass. So when the thread is done, the
//! writer finishes between two batches, after their acknowledgements: its own passive
//! checkpoint copies what was committed meanwhile and syncs the database file (nothing at all
//! when a pass of the thread caught up), and its next batch starts the WAL over. Should the
//! thread fall behind, the writer checkpoints by itself at 4,000 pages. Readers that never
//! let go of an old snapshot keep the WAL from starting over, as with SQLite's own checkpoint.

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

/// The WAL's size at which the writer checkpoints by itself although the thread has not
/// finished.
const OVERDUE_PAGES: i32 = 4 * CHECKPOINT_PAGES;

/// Passes one request to the thread makes at most.
const PASSES: usize = 3;

thread_local! {
    /// Pages in the WAL after the last commit on this thread's writer connection. SQLite runs
    /// the WAL hook inside `COMMIT`, on the committing thread: the writer's own. (rusqlite's
    /// `wal_hook` takes a plain `fn`, which cannot hold a reference to the writer's state.)
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn note_wal_pages(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Checkpoint passes run so far, by who ran them. A pass that found another checkpoint running,
/// or (on the thread) nothing new to copy, is not counted.
#[derive(Debug, Default)]
pub struct Checkpoints {
    /// By the checkpoint thread, beside the writer (the bulk of the copying).
    pub aside: AtomicU64,
    /// By the writer between two batches (the rest, or all of it when the thread was late).
    pub writer: AtomicU64,
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
                // A `done` left from an overdue round must not end this one at once.
                self.done.store(false, Ordering::Release);
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
    /// batch starts the WAL over. While another checkpoint holds the WAL (the thread's, in an
    /// overdue round) this pass finds it busy, and the writer tries again after its next batch.
    fn finish(&mut self, writer: &Connection) {
        match passive_checkpoint(writer) {
            Ok(pass) if pass.busy => {
                self.phase = Phase::Asked;
                self.done.store(true, Ordering::Release);
                return;
            }
            Ok(_) => {
                self.counts.writer.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, "the message writer's checkpoint failed"),
        }
        self.phase = Phase::Idle;
        // Until the next commit says otherwise.
        WAL_PAGES.set(0);
    }
}

impl Drop for Checkpointer {
    /// Ends the thread and waits for it, so its connection is closed before the writer's
    /// `close` answers.
    fn drop(&mut self) {
        self.asks.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the WAL checkpoint thread panicked");
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
        // A pass during which the writer committed leaves the database file's sync, and the
        // pages committed meanwhile, to the next pass, which is short; once a pass has copied
        // everything, the writer's own checkpoint finds nothing to copy or sync. A pass says
        // how far it copied, not whether it synced: the passes go on until one finds nothing
        // new (a pass with nothing to copy does no I/O).
        let mut before = None;
        for pass in 1..=PASSES {
            match passive_checkpoint(conn) {
                Ok(Pass { busy, log, copied }) => {
                    tracing::debug!(pass, busy, log, copied, "WAL checkpoint beside the writer");
                    if busy || before == Some(copied) {
                        break;
                    }
                    counts.aside.fetch_add(1, Ordering::Relaxed);
                    before = Some(copied);
                }
                Err(error) => {
                    tracing::warn!(%error, "a WAL checkpoint failed");
                    break;
                }
            }
        }
        done.store(true, Ordering::Release);
    }
}

/// What a checkpoint pass did.
struct Pass {
    /// Another checkpoint held the WAL: nothing was copied.
    busy: bool,
    /// Frames in the WAL when the pass began.
    log: i64,
    /// Frames of those now in the database file.
    copied: i64,
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can without waiting for any connection.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Pass {
            busy: row.get::<_, i64>(0)? != 0,
            log: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}
