//! Persistence behind one trait, one folder per backend: SQLite for one herald, PostgreSQL for
//! several replicas.
//!
//! The store holds what herald acknowledged: the event, one delivery per matched action, and
//! every attempt. Its traits say what each user needs, one step a method: the pipeline accepts
//! an event with its deliveries, claims due deliveries, records an attempt's outcome and proves
//! it can commit ([`Pipeline`]); messages read digests and conversations ([`Threads`]); people
//! list events and deliveries ([`History`]); housekeeping gives leases back, replays, purges
//! ([`Upkeep`]). What is the same SQL on both backends is written once ([`sql`], [`rows`]).
//!
//! How a backend makes that durable and fast is its own business: both commit the writes of
//! many concurrent requests together ([`batch`]), so durability costs one fsync per batch.
//! SQLite applies each batch on a writer thread of its own through rusqlite (statements
//! prepared once); everything else, and PostgreSQL throughout (with `SKIP LOCKED` claims and
//! `LISTEN/NOTIFY` wakeups), goes through sqlx with runtime queries. Each backend has its own migrations folder (`migrations/<backend>/`), run by sqlx.

mod backed;
pub mod batch;
pub mod conversation;
mod digest;
pub mod pace;
pub mod page;
pub mod page_read;
pub mod postgres;
mod rows;
pub mod sql;
pub mod sqlite;
mod status;
mod talk;
mod types;
mod upkeep;
mod views;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

pub use status::{Counts, DeliveryStatus};
pub use types::*;
pub use views::*;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// A duration in milliseconds, saturating rather than wrapping.
pub fn millis(d: std::time::Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// What went wrong in the store. A database's own error is part of the message (herald logs
/// and shows these with `%`), and so is not also given as `source()`: printed whole, the
/// cause appears once.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("cannot migrate the database: {0}")]
    Migrate(Arc<sqlx::migrate::MigrateError>),
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST:PORT/DB")]
    Url(String),
    #[error("{0}")]
    InUse(String),
    #[error("the store was changed by someone else meanwhile: {0}")]
    Conflict(String),
    #[error("cannot read the store's answer: {0}")]
    Decode(String),
    #[error("the store's writer has stopped")]
    Closed,
    #[error("database error: {0}")]
    Sqlite(Arc<rusqlite::Error>),
    #[error("cannot start the store's writer thread: {0}")]
    Thread(Arc<std::io::Error>),
    #[error("cannot open the database file: {0}")]
    Open(Arc<std::io::Error>),
    /// The SQLite file herald opened is no longer the file at its path: nothing more is
    /// committed into it.
    #[error(
        "the database file {0}: nothing is acknowledged until it is back; restore it, or restart herald to start a new one"
    )]
    Replaced(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(Arc::new(e))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A store of events and deliveries, as each of its users sees it: the pipeline's writes and
/// claims ([`Pipeline`], each backend its own way), what a message is made of ([`Threads`]),
/// reads for people and metrics ([`History`]) and housekeeping ([`Upkeep`]); the last three are
/// written once for both backends ([`backed`]). Every method is one transaction.
pub trait Store: Pipeline + Threads + History + Upkeep {}

impl<T: Pipeline + Threads + History + Upkeep> Store for T {}

/// The pipeline: events in, deliveries claimed, outcomes recorded.
pub trait Pipeline: Send + Sync {
    /// Stores an event and its deliveries, or says the event is a duplicate.
    fn accept(&self, event: NewEvent) -> BoxFuture<'_, Result<Accepted>>;

    /// Leases due deliveries of one channel, as many as asked and as its pace and any pause
    /// allow, for whoever sends to it.
    fn claim(&self, claim: Claim) -> BoxFuture<'_, Result<Claims>>;

    /// Records what an attempt came to, if its claim is still the current one.
    fn record(&self, record: Record) -> BoxFuture<'_, Result<Recorded>>;

    /// Puts a claimed delivery in its action's open digest for its key (opening one if there is
    /// none, or the open one is due), or says to send it now.
    fn join(&self, join: Join) -> BoxFuture<'_, Result<Joined>>;

    /// Registers an instance, or proves it is still alive; proves the store can commit.
    fn heartbeat(&self, instance: Instance) -> BoxFuture<'_, Result<()>>;

    /// Bumped when another process may have made deliveries due (a replay, an event stored by
    /// another instance), as far as the backend can tell; a hint, never a guarantee.
    fn wakeups(&self) -> watch::Receiver<u64>;
}

/// What a message is made of beyond its event: a digest's members, a conversation's state.
pub trait Threads: Send + Sync {
    /// What digest `id` collected, for its message.
    fn digest(&self, id: i64) -> BoxFuture<'_, Result<Option<DigestContent>>>;

    /// Records a step of a conversation and says what its message does: post the first
    /// message, wait for another delivery to post it, or edit / reply to it.
    fn step(&self, step: conversation::Step) -> BoxFuture<'_, Result<conversation::Stepped>>;

    /// Remembers where a conversation's first message is, once posted (again).
    fn posted(&self, posted: conversation::Posted) -> BoxFuture<'_, Result<()>>;

    /// A conversation, to look at.
    fn conversation(
        &self,
        channel: String,
        key: String,
    ) -> BoxFuture<'_, Result<Option<conversation::Conversation>>>;
}

/// Reads for people (the status page, `herald events` and `deliveries`) and for metrics.
pub trait History: Send + Sync {
    /// Recent events, newest first, with their deliveries.
    fn events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRow>>>;

    /// One event with its body, headers, deliveries and their attempts.
    fn event(&self, id: String) -> BoxFuture<'_, Result<Option<EventDetail>>>;

    /// Events in the last hour and day, and each channel's deliveries, last success, last
    /// failure and pause: the status page's overview.
    fn overview(&self, now: Millis) -> BoxFuture<'_, Result<Overview>>;

    /// Deliveries, newest first, with their attempts.
    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, Result<Vec<DeliveryRow>>>;

    /// Deliveries by state.
    fn counts(&self) -> BoxFuture<'_, Result<Counts>>;

    /// For each channel, the oldest delivery that has been due (and not leased) since before
    /// `before`: deliveries that should have been sent by now.
    fn oldest_due(&self, before: Millis) -> BoxFuture<'_, Result<Vec<(String, Millis)>>>;

    /// Channels that have deliveries still to make.
    fn channels_with_work(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

/// Housekeeping: leases given back or swept, pauses, locks, replays and purging.
pub trait Upkeep: Send + Sync {
    /// At a stop, once nothing more is written: leaves the store's files settled, so that a
    /// copy of a stopped SQLite store's database file alone holds everything.
    fn settle(&self) -> BoxFuture<'_, Result<()>>;

    /// Gives leases back (on shutdown, or when a destination paused), so the deliveries are
    /// due again at once.
    fn release(&self, leases: Vec<Held>) -> BoxFuture<'_, Result<()>>;

    /// How many deliveries are due now and not sent (pending or retrying, leased or not).
    fn due_count(&self, now: Millis) -> BoxFuture<'_, Result<u64>>;

    /// A destination asked for a pause (429 `Retry-After`): nobody sends to it before `until`.
    fn pause(&self, channel: String, until: Millis) -> BoxFuture<'_, Result<()>>;

    /// Releases the leases of every instance but `me` that has not heartbeat since `before`
    /// (and leases nobody holds by name), and forgets those instances. Returns how many
    /// deliveries are due again.
    fn release_lapsed(
        &self,
        me: Arc<str>,
        before: Millis,
        now: Millis,
    ) -> BoxFuture<'_, Result<u64>>;

    /// Takes the lock `name` until `until` if nobody holds it now (or `owner` already does):
    /// housekeeping that must run once, however many instances there are.
    fn try_lock(
        &self,
        name: &'static str,
        owner: Arc<str>,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'_, Result<bool>>;

    /// Queues deliveries again, now. Returns how many.
    fn replay(&self, which: Replay, now: Millis) -> BoxFuture<'_, Result<u64>>;

    /// Deletes events received before `before` whose deliveries are all finished.
    fn purge(&self, before: Millis) -> BoxFuture<'_, Result<u64>>;
}

/// Whether the store is opened to serve (one process owns a SQLite file) or to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Inspect,
}

/// Opens (creating and migrating) the store a URL names: `sqlite://FILE`, or
/// `postgres://USER@HOST:PORT/DB` (also `postgresql://`, with `?sslmode=` and a password).
pub async fn open(url: &str, mode: Mode) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url, mode).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::open(url, &postgres::Settings::default()).await?,
        ))
    } else {
        Err(StoreError::Url(url.to_string()))
    }
}
