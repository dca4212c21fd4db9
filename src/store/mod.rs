//! Persistence behind one trait, one file per backend (SQLite today).
//!
//! The store holds what herald acknowledged: the event, one delivery per matched action, and
//! every attempt. Writes from many requests are committed together by [`writer::Writer`]
//! (group commit), so durability costs one fsync per batch, not per request.
//!
//! Backends use sqlx with runtime queries and their own migrations folder
//! (`migrations/<backend>/`). Nothing in the trait is SQLite-specific: claiming is "give me
//! up to N due deliveries of this channel and lease them", which PostgreSQL does with
//! `FOR UPDATE SKIP LOCKED`. Claims go through the writer like every other write, so SQLite
//! never has two writers waiting on each other.

pub mod sqlite;
pub mod writer;

use std::sync::Arc;

use serde::Serialize;

pub use crate::channels::BoxFuture;

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

/// An event to record, with the deliveries its matched rules make.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub event_type: String,
    pub received_at: Millis,
    pub body: String,
    pub matched_rules: Vec<String>,
    pub deliveries: Vec<NewDelivery>,
    /// An event with the same id received within this many milliseconds is a duplicate.
    pub dedup_window_ms: Millis,
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub rule: String,
    pub action_index: u32,
    pub channel: String,
    /// Leased from the start when this process will send it straight away.
    pub lease_until: Option<Millis>,
}

/// What happened in one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: Millis,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent,
    Retry,
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone)]
pub enum Next {
    Sent,
    RetryAt(Millis),
    Dead(String),
    /// The rule's enriched conditions did not hold: nothing to send.
    Skipped(String),
}

/// The writes a store applies, many to a transaction (see [`writer::Writer`]).
#[derive(Debug, Clone)]
pub enum WriteOp {
    Accept(NewEvent),
    Record {
        delivery_id: i64,
        attempt: Option<Attempt>,
        next: Next,
    },
    /// Proves the store can commit (readiness).
    Heartbeat,
    /// Lease up to `limit` due deliveries of `channel` until `lease_until`.
    Claim {
        channel: String,
        limit: u32,
        now: Millis,
        lease_until: Millis,
    },
}

#[derive(Debug, Clone)]
pub enum WriteResult {
    /// The new deliveries' ids, in the order given.
    Accepted(Vec<i64>),
    Duplicate,
    Recorded,
    Claimed(Vec<Claimed>),
}

/// A delivery leased to this worker, with its event.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub event_id: String,
    /// The event's name, such as `quote.ordered`, for logs.
    pub event_type: String,
    pub rule: String,
    pub action_index: u32,
    pub channel: String,
    pub attempts: u32,
    /// When the current round of retries began: creation, or the last replay.
    pub round_started_at: Millis,
    pub received_at: Millis,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub event_id: String,
    pub event_type: String,
    pub received_at: Millis,
    pub matched_rules: Vec<String>,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub rule: String,
    pub channel: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub attempt_log: Vec<AttemptRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub started_at: Millis,
    pub duration_ms: i64,
    pub outcome: String,
    pub status_code: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub event_id: Option<String>,
    pub channel: Option<String>,
    pub limit: u32,
}

/// Counts by state, for readiness and metrics.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub retrying: u64,
    pub sent: u64,
    pub dead: u64,
}

/// A store of events and deliveries. Every method is one transaction.
pub trait Store: Send + Sync {
    /// Applies the operations in one transaction, in order. One result per operation.
    fn write_batch<'a>(
        &'a self,
        ops: &'a [WriteOp],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, StoreError>>;

    /// Gives leases back (on shutdown), so the deliveries are due again at once.
    fn release<'a>(&'a self, ids: &'a [i64]) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Recent events, newest first, with their deliveries.
    fn events<'a>(
        &'a self,
        limit: u32,
        event_type: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<EventRow>, StoreError>>;

    /// Deliveries, newest first, with their attempts.
    fn deliveries<'a>(
        &'a self,
        filter: &'a DeliveryFilter,
    ) -> BoxFuture<'a, Result<Vec<DeliveryRow>, StoreError>>;

    /// Queues deliveries again, now. Returns how many.
    fn replay_ids<'a>(
        &'a self,
        ids: &'a [i64],
        now: Millis,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Queues every dead delivery again (of one channel, if given). Returns how many.
    fn replay_dead<'a>(
        &'a self,
        channel: Option<&'a str>,
        now: Millis,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Deletes events received before `before` whose deliveries are all finished.
    fn purge<'a>(&'a self, before: Millis) -> BoxFuture<'a, Result<u64, StoreError>>;

    fn counts(&self) -> BoxFuture<'_, Result<Counts, StoreError>>;

    /// For each channel, the oldest delivery that has been due (and not leased) since before
    /// `before`: deliveries that should have been sent by now.
    fn oldest_due(
        &self,
        before: Millis,
    ) -> BoxFuture<'_, Result<Vec<(String, Millis)>, StoreError>>;

    /// Channels that have deliveries still to make.
    fn channels_with_work(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
}

/// Opens (creating and migrating) the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else {
        Err(StoreError::Url(url.to_string()))
    }
}
