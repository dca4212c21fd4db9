//! The SQLite backend: one file, WAL journal, `synchronous = FULL` so that a commit is on disk
//! before herald answers 200. Writes from concurrent requests are committed together
//! ([`crate::store::batch`]), through one writer, so SQLite never has two writers waiting on
//! each other: a thread that owns a connection of its own ([`writer`]). Reads, and the rare
//! writes outside a batch (pauses, releases, replays, conversations), use sqlx's pool.

mod claim;
mod conversation;
mod digest;
mod join;
mod read;
mod record;
mod write;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use tokio::sync::watch;

use super::batch::Writer;
use super::conversation::{Conversation, Posted, Step, Stepped};
use super::page_read;
use super::{
    Accepted, Claim, Claims, Counts, DeliveryFilter, DeliveryRow, DigestContent, EventDetail,
    EventFilter, EventRow, Instance, Join, Joined, Millis, Mode, NewEvent, Overview, Record,
    Recorded, Replay, Result, Store, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many writes share one transaction at most.
const MAX_BATCH: usize = 512;

pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
    /// Held while serving: one process owns a SQLite database (see [`owner_lock`]).
    _owner: Option<std::fs::File>,
    /// Nothing else can make deliveries due in a store one process owns, but a replay from
    /// `herald replay`: that one the poll finds.
    wakeups: watch::Sender<u64>,
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
        let writes = writer::Writes::start(&file)?;
        let writer = Writer::spawn(Arc::new(writes), MAX_BATCH, 1);
        Ok(SqliteStore {
            pool,
            writer,
            _owner: owner,
            wakeups: watch::Sender::new(0),
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

impl Store for SqliteStore {
    fn accept(&self, event: NewEvent) -> BoxFuture<'_, Result<Accepted>> {
        Box::pin(self.writer.accept(event))
    }

    fn claim(&self, claim: Claim) -> BoxFuture<'_, Result<Claims>> {
        Box::pin(self.writer.claim(claim))
    }

    fn record(&self, record: Record) -> BoxFuture<'_, Result<Recorded>> {
        Box::pin(self.writer.record(record))
    }

    fn join(&self, join: Join) -> BoxFuture<'_, Result<Joined>> {
        Box::pin(self.writer.join(join))
    }

    fn digest(&self, id: i64) -> BoxFuture<'_, Result<Option<DigestContent>>> {
        Box::pin(digest::content(&self.pool, id))
    }

    fn step(&self, step: Step) -> BoxFuture<'_, Result<Stepped>> {
        Box::pin(async move { conversation::step(&self.pool, &step).await })
    }

    fn posted(&self, posted: Posted) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { conversation::posted(&self.pool, &posted).await })
    }

    fn conversation(
        &self,
        channel: String,
        key: String,
    ) -> BoxFuture<'_, Result<Option<Conversation>>> {
        Box::pin(async move { conversation::get(&self.pool, &channel, &key).await })
    }

    fn release(&self, leases: Vec<(i64, i64)>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { read::release(&self.pool, &leases).await })
    }

    fn pause(&self, channel: String, until: Millis) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { read::pause(&self.pool, &channel, until).await })
    }

    fn heartbeat(&self, instance: Instance) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.writer.heartbeat(instance))
    }

    fn release_lapsed(
        &self,
        me: Arc<str>,
        before: Millis,
        now: Millis,
    ) -> BoxFuture<'_, Result<u64>> {
        // A serving process owns the file: whoever else left leases is dead. Once those are
        // released (at start), nobody else can take one.
        let sole = self._owner.is_some();
        if sole && self.swept.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async { Ok(0) });
        }
        let before = if sole { Millis::MAX } else { before };
        Box::pin(async move { read::release_lapsed(&self.pool, &me, before, now).await })
    }

    fn try_lock(
        &self,
        name: &'static str,
        owner: Arc<str>,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { read::try_lock(&self.pool, name, &owner, now, until).await })
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wakeups.subscribe()
    }

    fn events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRow>>> {
        Box::pin(async move { page_read::events(&self.pool, &filter).await })
    }

    fn event(&self, id: String) -> BoxFuture<'_, Result<Option<EventDetail>>> {
        Box::pin(async move { page_read::event(&self.pool, &id).await })
    }

    fn overview(&self, now: Millis) -> BoxFuture<'_, Result<Overview>> {
        Box::pin(page_read::overview(&self.pool, now))
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, Result<Vec<DeliveryRow>>> {
        Box::pin(async move { page_read::deliveries(&self.pool, &filter).await })
    }

    fn replay(&self, which: Replay, now: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move { read::replay(&self.pool, &which, now).await })
    }

    fn purge(&self, before: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(read::purge(&self.pool, before))
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts>> {
        Box::pin(read::counts(&self.pool))
    }

    fn oldest_due(&self, before: Millis) -> BoxFuture<'_, Result<Vec<(String, Millis)>>> {
        Box::pin(read::oldest_due(&self.pool, before))
    }

    fn channels_with_work(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(read::channels_with_work(&self.pool))
    }
}
