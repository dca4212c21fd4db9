//! The SQLite backend: one file, WAL journal, `synchronous = FULL` so that a commit is on disk
//! before herald answers 200. Writes from concurrent requests are committed together
//! ([`crate::store::batch`]), through one writer, so SQLite never has two writers waiting on
//! each other: a thread that owns a connection of its own ([`writer`]), and another that
//! copies what it commits from the WAL into the database file ([`checkpoint`]). Reads, and the
//! rare writes outside a batch (pauses, releases, replays, conversations), use sqlx's pool.

mod checkpoint;
mod claim;
mod join;
mod record;
mod write;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use tokio::sync::watch;

use super::backed::{Backed, Core};
use super::batch::Writer;
use super::{Millis, Mode, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many writes share one transaction at most.
const MAX_BATCH: usize = 512;

pub struct SqliteStore {
    /// Its wakeups: nothing else can make deliveries due in a store one process owns, but a
    /// replay from `herald replay`; that one the poll finds.
    core: Core<SqlitePool>,
    /// Held while serving: one process owns a SQLite database (see [`owner_lock`]).
    _owner: Option<std::fs::File>,
    /// Serving: the leases of earlier processes were released.
    swept: std::sync::atomic::AtomicBool,
}

impl SqliteStore {
    pub async fn open(url: &str, mode: Mode) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename().to_path_buf();
        let owner = match mode {
            Mode::Serve => Some(owner_lock(&file)?),
            Mode::Inspect => None,
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            // A COMMIT that fails with an I/O error leaves SQLite without a transaction but
            // sqlx counting one, and every later `BEGIN IMMEDIATE` on that connection fails:
            // such a connection is closed, not given out again.
            .after_release(|conn, _| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let (writer, inbox) = Writer::inbox(MAX_BATCH);
        writer::start(&file, inbox)?;
        Ok(SqliteStore {
            core: Core {
                pool,
                writer,
                wakeups: watch::Sender::new(0),
            },
            _owner: owner,
            swept: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// One `herald serve` per SQLite file: the database is locked (`flock`) for as long as the
/// process lives, so a second one refuses to start instead of sharing leases it cannot see
/// are held. The lock goes with the process, however it ends. Tools that only look (`herald
/// events`, `deliveries`, `replay`) do not take it.
fn owner_lock(file: &std::path::Path) -> Result<std::fs::File> {
    let in_use = |why: String| StoreError::InUse(why);
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(file)
        .map_err(|e| in_use(format!("cannot open {}: {e}", file.display())))?;
    match handle.try_lock() {
        Ok(()) => Ok(handle),
        Err(std::fs::TryLockError::WouldBlock) => Err(in_use(format!(
            "{} is in use by another `herald serve`: one process serves a SQLite database; stop the other, or use PostgreSQL to run several replicas",
            file.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(in_use(format!("cannot lock {}: {e}", file.display())))
        }
    }
}

impl Backed for SqliteStore {
    type Db = SqlitePool;

    /// Everything in the WAL copied into the database file and the WAL emptied (waiting, up to
    /// the busy timeout, for a write still running).
    fn settle(&self) -> futures_util::future::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.core.pool)
                .await?;
            Ok(())
        })
    }

    fn core(&self) -> &Core<SqlitePool> {
        &self.core
    }

    /// A serving process owns the file: whoever else left leases is dead. Once those are
    /// released (at start, all of them), nobody else can take one.
    fn sweep_before(&self, before: Millis) -> Option<Millis> {
        let sole = self._owner.is_some();
        if sole && self.swept.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        Some(if sole { Millis::MAX } else { before })
    }
}
