//! The PostgreSQL backend, for several herald replicas on one database.
//!
//! - Migrations (`migrations/postgres/`) run at start under sqlx's advisory lock, so replicas
//!   starting together do not race.
//! - Writes are group-committed like SQLite's ([`crate::store::batch`]); events are inserted in
//!   id order and claims made in channel order, so two replicas' batches cannot deadlock.
//! - Claims lock the destination's row (pacing and pauses are for the whole cluster) and
//!   lease due deliveries with `FOR UPDATE SKIP LOCKED`, under a fresh token; an outcome is
//!   recorded only if the token still matches.
//! - `NOTIFY herald_work` after a commit that made deliveries due for anyone (a hint: the poll
//!   is the backstop, since notifications sent while a listener reconnects are lost).
//! - Every connection has a statement timeout; the pool replaces dead connections, so herald
//!   recovers by itself when the database is back.

mod claim;
mod conversation;
mod digest;
mod listen;
mod read;
mod record;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;

use super::batch::Writer;
use super::conversation::{Conversation, Posted, Step, Stepped};
use super::page_read;
use super::{
    Accepted, Claim, Claims, Counts, DeliveryFilter, DeliveryRow, DigestContent, EventDetail,
    EventFilter, EventRow, Instance, Join, Joined, Millis, NewEvent, Overview, Record, Recorded,
    Replay, Result, Store, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How many writes share one transaction at most.
const MAX_BATCH: usize = 512;

/// Batches committed side by side. Events are inserted in id order and claims made in channel
/// order, so concurrent batches take their locks in one order and cannot deadlock.
const WRITERS: usize = 4;

/// The channel replicas tell each other on that deliveries became due.
const CHANNEL: &str = "herald_work";

/// Connection settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connections at most, per process.
    pub max_connections: u32,
    /// The longest any statement may run.
    pub statement_timeout: Duration,
    /// How long to wait for a free (or new) connection.
    pub acquire_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_connections: 8,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

pub struct PgStore {
    pool: PgPool,
    writer: Writer,
    wakeups: watch::Sender<u64>,
    listener: tokio::task::AbortHandle,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgStore {
    pub async fn open(url: &str, settings: &Settings) -> Result<PgStore> {
        let timeout = settings.statement_timeout.as_millis().to_string();
        // Plans are made for each execution: a plan cached while a table was nearly empty
        // (a fresh database, the first minutes) scans it whole later, when it is not.
        let options = PgConnectOptions::from_str(url)?.options([
            ("statement_timeout", timeout.as_str()),
            ("plan_cache_mode", "force_custom_plan"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(WRITERS as u32 + 2))
            .acquire_timeout(settings.acquire_timeout)
            // A connection that died fails its batch (answered 503, retried by SuperOffice)
            // and is dropped; checking each one first would cost a round trip per batch.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        let writes = Arc::new(write::Writes { pool: pool.clone() });
        let writer = Writer::spawn(writes, MAX_BATCH, WRITERS);
        let wakeups = watch::Sender::new(0);
        let listener = tokio::spawn(listen::listen(pool.clone(), wakeups.clone())).abort_handle();
        Ok(PgStore {
            pool,
            writer,
            wakeups,
            listener,
        })
    }
}

impl Store for PgStore {
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
        Box::pin(async move {
            let n = read::replay(&self.pool, &which, now).await?;
            listen::notify(&self.pool).await;
            Ok(n)
        })
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
