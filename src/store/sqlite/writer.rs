//! SQLite's writer: one thread that owns a connection of its own and applies each group-commit
//! batch in one transaction, every statement a call on that thread (prepared once, cached).
//!
//! Through sqlx every statement is a round trip to its worker thread: on two busy cores each
//! one waits to be scheduled, and a batch of a dozen statements spent more time handing work
//! over than in SQLite. Here the thread gathers its batch itself, from the writes waiting when
//! it is done with the last one (no task stands between two commits), and answers each caller
//! from the thread: a write crosses threads twice (in and out), whatever the batch's size.
//! Reads, and the rare writes outside the batch path, keep using the sqlx pool; SQLite's lock
//! and busy timeout order the two.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::checkpoint::{BACKSTOP_PAGES, Checkpoints};
use crate::store::batch::{Applied, Batch, Inbox};
use crate::store::{Instance, Result, StoreError, now_ms};

/// Opens the writer's connection to the (migrated) database at `file` and starts its thread,
/// which gathers each batch from `inbox` when it is done with the last one and applies it,
/// until every sender is gone.
pub(super) fn start(file: &Path, inbox: Inbox) -> Result<()> {
    let conn = connect(file)?;
    let opened = Opened::new(file)?;
    let checkpoints = Checkpoints::start(file)?;
    std::thread::Builder::new()
        .name("herald-sqlite-writer".into())
        .spawn(move || serve(conn, &opened, &checkpoints, inbox))
        .map_err(|e| StoreError::Thread(Arc::new(e)))?;
    Ok(())
}

/// The writer's connection: durable commits (`synchronous = FULL` in WAL), foreign keys
/// enforced, a wait, not an error, while a reader-side write holds the lock, and checkpoints
/// left to [`Checkpoints`] but past its backstop.
fn connect(file: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(file, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES};"
    ))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The database file as the writer opened it. Deleted or replaced under a running herald,
/// SQLite would go on committing into the unlinked file, and every event acknowledged from then
/// on would be gone at the next start: so before each commit the path must still name this
/// file (same device and inode) and the file must still have a link.
struct Opened {
    path: PathBuf,
    file: std::fs::File,
    id: (u64, u64),
}

impl Opened {
    fn new(path: &Path) -> Result<Opened> {
        let open = |e| StoreError::Open(Arc::new(e));
        let file = std::fs::File::open(path).map_err(open)?;
        let meta = file.metadata().map_err(open)?;
        Ok(Opened {
            path: path.to_path_buf(),
            file,
            id: (meta.dev(), meta.ino()),
        })
    }

    fn check(&self) -> Result<()> {
        let shown = self.path.display();
        let gone = |how: &str| Err(StoreError::Replaced(format!("{shown} {how}")));
        let linked = self.file.metadata().is_ok_and(|m| m.nlink() > 0);
        match std::fs::metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id && linked => Ok(()),
            Ok(m) if (m.dev(), m.ino()) != self.id => {
                gone("was replaced by another file while herald had it open")
            }
            _ => gone("was deleted while herald had it open"),
        }
    }
}

/// Applies batches until every sender is gone; after each, a checkpoint is due.
fn serve(mut conn: Connection, opened: &Opened, checkpoints: &Checkpoints, mut inbox: Inbox) {
    while let Some((batch, waiting)) = inbox.next_blocking() {
        waiting.answer(apply(&mut conn, opened, &batch));
        checkpoints.committed();
    }
}

/// One batch, one transaction: events first, then outcomes, digests, claims and heartbeats,
/// so a claim sees what the same batch stored. An error rolls the whole batch back, and so does
/// a database file that is no longer the one opened.
fn apply(conn: &mut Connection, opened: &Opened, batch: &Batch) -> Result<Applied> {
    // Before: statements on a replaced file fail with SQLite's own puzzling errors ("no such
    // table"); after: it may be replaced while the batch runs.
    opened.check()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let accepted = super::write::accept(&tx, &batch.accepts)?;
    let recorded = super::record::record(&tx, &batch.records)?;
    let joined = batch
        .joins
        .iter()
        .map(|j| super::join::join(&tx, j))
        .collect::<Result<Vec<_>>>()?;
    let claimed = batch
        .claims
        .iter()
        .map(|c| super::claim::claim(&tx, c))
        .collect::<Result<Vec<_>>>()?;
    for instance in &batch.beats {
        beat(&tx, instance)?;
    }
    opened.check()?;
    tx.commit()?;
    Ok(Applied {
        accepted,
        recorded,
        joined,
        claimed,
    })
}

fn beat(tx: &Transaction, instance: &Instance) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO instances (id, started_at, heartbeat_at, info) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )?
    .execute((
        instance.id.as_ref(),
        instance.started_at,
        now_ms(),
        &instance.info,
    ))?;
    Ok(())
}
