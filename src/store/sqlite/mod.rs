//! The SQLite backend: one file, WAL journal, `synchronous = FULL` so that a commit is on disk
//! before herald answers 200. Writes from concurrent requests are committed together
//! ([`crate::store::batch`]), through one writer, so SQLite never has two writers waiting on
//! each other.

mod read;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::batch::Writer;
use super::{
    Accepted, Claim, Claimed, Counts, DeliveryFilter, DeliveryRow, EventFilter, EventRow, Millis,
    NewEvent, Record, Replay, Result, Store, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many writes share one transaction at most.
const MAX_BATCH: usize = 512;

pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let writer = Writer::spawn(Arc::new(write::Writes { pool: pool.clone() }), MAX_BATCH);
        Ok(SqliteStore { pool, writer })
    }
}

impl Store for SqliteStore {
    fn accept(&self, event: NewEvent) -> BoxFuture<'_, Result<Accepted>> {
        Box::pin(self.writer.accept(event))
    }

    fn claim(&self, claim: Claim) -> BoxFuture<'_, Result<Vec<Claimed>>> {
        Box::pin(self.writer.claim(claim))
    }

    fn record(&self, record: Record) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.writer.record(record))
    }

    fn release(&self, ids: Vec<i64>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { read::release(&self.pool, &ids).await })
    }

    fn heartbeat(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.writer.heartbeat())
    }

    fn events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRow>>> {
        Box::pin(async move { read::events(&self.pool, &filter).await })
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, Result<Vec<DeliveryRow>>> {
        Box::pin(async move { read::deliveries(&self.pool, &filter).await })
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
