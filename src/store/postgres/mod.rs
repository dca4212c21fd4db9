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
mod digest;
mod listen;
mod record;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;

use super::backed::{Backed, Core};
use super::batch::Writer;
use super::{Result, StoreError};

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
    core: Core<PgPool>,
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
            core: Core {
                pool,
                writer,
                wakeups,
            },
            listener,
        })
    }
}

impl Backed for PgStore {
    type Db = PgPool;

    fn core(&self) -> &Core<PgPool> {
        &self.core
    }

    fn replayed(&self) -> BoxFuture<'_, ()> {
        Box::pin(listen::notify(&self.core.pool))
    }
}
