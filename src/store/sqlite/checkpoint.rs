//! Checkpoints off the writer's path. In WAL mode every commit appends its pages to the
//! `-wal` file, and a checkpoint copies them back into the database file (and syncs it) so
//! that the WAL can start over. SQLite runs one by itself at the end of a commit once the WAL
//! holds 1,000 pages: the batch that crossed the line, and every write arriving meanwhile,
//! then waited for a few milliseconds of copying and two fsyncs. That was most of herald's p99
//! at a steady rate (BENCHMARKS.md, "Issue 25").
//!
//! Here a thread of its own, with its own connection, checkpoints once the writer's batches
//! pause for about [`PAUSE`], or every [`LONGEST`] while they do not (`PASSIVE`: it never
//! blocks the writer, which goes on appending while it copies; one that could not copy
//! everything, because a reader still needs old pages, is completed after a later batch, at
//! least the heartbeat's). The writer's own automatic checkpoint stays as a backstop at
//! [`BACKSTOP_PAGES`], for a WAL this thread cannot bring to an end under a load that never
//! pauses; the sqlx pool's connections, whose rare writes are off the webhook's path, keep
//! SQLite's default of 1,000 pages. At a stop, `settle` empties the WAL.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tracing::{info, warn};

use crate::store::{Result, StoreError};

/// The WAL size, in pages, at which the writer checkpoints by itself (about 40 MB).
pub(super) const BACKSTOP_PAGES: u32 = 10_000;

/// How long without a commit before the checkpoint runs: commits meanwhile share it.
const PAUSE: Duration = Duration::from_millis(20);

/// The longest a checkpoint waits for that pause, under a load that never pauses. The commits
/// it waits for share it, and the pages they all change (the ends of the indexes, the
/// database's header) are copied once: at saturation, every 100 ms instead of after each batch
/// (about every 30 ms) read 45 % fewer pages and synced 5 % fewer times (BENCHMARKS.md,
/// "Issue 25").
const LONGEST: Duration = Duration::from_millis(100);

/// The writer's way to say "there is something to checkpoint".
pub(super) struct Checkpoints {
    wake: mpsc::SyncSender<()>,
}

impl Checkpoints {
    /// Opens the checkpointer's connection to the database at `file` and starts its thread,
    /// which ends when this handle is dropped.
    pub(super) fn start(file: &Path) -> Result<Checkpoints> {
        let conn = connect(file)?;
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("herald-sqlite-checkpoints".into())
            .spawn(move || run(&conn, &woken))
            .map_err(|e| StoreError::Thread(Arc::new(e)))?;
        Ok(Checkpoints { wake })
    }

    /// A batch was applied (or failed): a checkpoint is due within [`LONGEST`]. Never waits.
    pub(super) fn committed(&self) {
        let _ = self.wake.try_send(());
    }
}

/// The checkpointer's connection: `synchronous = FULL`, so that the WAL is on disk before its
/// pages are copied and the database file after; a small page cache (a checkpoint copies
/// frames without it).
fn connect(file: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(file, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -64;")?;
    Ok(conn)
}

/// Checkpoints after each wakeup and its pause, until the writer is gone. A failure is
/// logged once, not at every commit while the disk refuses writes; success again, too.
fn run(conn: &Connection, woken: &mpsc::Receiver<()>) {
    let mut failing = false;
    while woken.recv().is_ok() {
        quiet(woken);
        match checkpoint(conn) {
            Err(e) if !failing => {
                warn!(error = %e, "cannot copy the SQLite WAL into the database file; it will be tried again after the next commit");
                failing = true;
            }
            Ok(()) if failing => {
                info!("the SQLite WAL is copied into the database file again");
                failing = false;
            }
            _ => {}
        }
    }
}

/// Waits until [`PAUSE`] passes without a commit, or [`LONGEST`] in all. The commits
/// meanwhile are in the checkpoint that follows.
fn quiet(woken: &mpsc::Receiver<()>) {
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(PAUSE);
        let committed = woken.try_recv().is_ok();
        if !committed || start.elapsed() >= LONGEST {
            return;
        }
    }
}

/// One passive checkpoint: as much of the WAL as no reader still needs, without waiting.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
