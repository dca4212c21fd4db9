//! Persistence behind one trait, one folder per backend (SQLite today).
//!
//! The store holds what herald acknowledged: the event, one delivery per matched action, and
//! every attempt. Its methods say what the pipeline does, one step each: accept an event with
//! its deliveries, claim due deliveries, record an attempt's outcome, give leases back, prove
//! it can commit; and for people, list events and deliveries, replay, purge and count.
//!
//! How a backend makes that durable and fast is its own business: SQLite commits the writes of
//! many concurrent requests together ([`batch`]), so durability costs one fsync per batch.
//! Backends use sqlx with runtime queries and their own migrations folder
//! (`migrations/<backend>/`).

pub mod batch;
pub mod sqlite;
mod status;
mod types;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use status::{Counts, DeliveryStatus};
pub use types::*;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// A duration in milliseconds, saturating rather than wrapping.
pub fn millis(d: std::time::Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] Arc<sqlx::migrate::MigrateError>),
    #[error("unsupported database URL {0:?}: use sqlite://FILE")]
    Url(String),
    #[error("the store's writer has stopped")]
    Closed,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A store of events and deliveries. Every method is one transaction.
pub trait Store: Send + Sync {
    /// Stores an event and its deliveries, or says the event is a duplicate.
    fn accept(&self, event: NewEvent) -> BoxFuture<'_, Result<Accepted>>;

    /// Leases up to `claim.limit` due deliveries of one channel.
    fn claim(&self, claim: Claim) -> BoxFuture<'_, Result<Vec<Claimed>>>;

    /// Records what an attempt came to, and where the delivery goes next.
    fn record(&self, record: Record) -> BoxFuture<'_, Result<()>>;

    /// Gives leases back (on shutdown, or when a destination paused), so the deliveries are
    /// due again at once.
    fn release(&self, ids: Vec<i64>) -> BoxFuture<'_, Result<()>>;

    /// Proves the store can commit (readiness).
    fn heartbeat(&self) -> BoxFuture<'_, Result<()>>;

    /// Recent events, newest first, with their deliveries.
    fn events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRow>>>;

    /// Deliveries, newest first, with their attempts.
    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, Result<Vec<DeliveryRow>>>;

    /// Queues deliveries again, now. Returns how many.
    fn replay(&self, which: Replay, now: Millis) -> BoxFuture<'_, Result<u64>>;

    /// Deletes events received before `before` whose deliveries are all finished.
    fn purge(&self, before: Millis) -> BoxFuture<'_, Result<u64>>;

    /// Deliveries by state.
    fn counts(&self) -> BoxFuture<'_, Result<Counts>>;

    /// For each channel, the oldest delivery that has been due (and not leased) since before
    /// `before`: deliveries that should have been sent by now.
    fn oldest_due(&self, before: Millis) -> BoxFuture<'_, Result<Vec<(String, Millis)>>>;

    /// Channels that have deliveries still to make.
    fn channels_with_work(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

/// Opens (creating and migrating) the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else {
        Err(StoreError::Url(url.to_string()))
    }
}
