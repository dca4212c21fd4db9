//! What both backends share, written once: a store that hands out a sqlx pool and a group-commit
//! writer ([`Backed`]) gets the pipeline (through its [`Writer`], whose batches each backend
//! applies its own way), the history reads, the housekeeping and the conversations and digests
//! as stored ([`super::page_read`], [`super::upkeep`], [`super::talk`]).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::batch::Writer;
use super::conversation::{Conversation, Posted, Step, Stepped};
use super::rows::Rows;
use super::{
    Accepted, Claim, Claims, Counts, DeliveryFilter, DeliveryRow, DigestContent, EventDetail,
    EventFilter, EventRow, Held, History, Instance, Join, Joined, Millis, NewEvent, Overview,
    Pipeline, Record, Recorded, Replay, Result, Threads, Upkeep, page_read, talk, upkeep,
};

/// What every store holds: a sqlx pool for what is written once, the group-commit writer the
/// pipeline's writes and claims go through, and the wakeups it sends when another process may
/// have made deliveries due.
pub struct Core<Db> {
    pub pool: Db,
    pub writer: Writer,
    pub wakeups: watch::Sender<u64>,
}

/// A store whose shared reads and writes run on a sqlx pool.
pub trait Backed: Send + Sync {
    type Db: Rows + Send + Sync;

    fn core(&self) -> &Core<Self::Db>;

    /// Whose leases a sweep releases: those of instances silent since before this time, or
    /// `None` when there is nothing to sweep (SQLite's one serving process sweeps once).
    fn sweep_before(&self, before: Millis) -> Option<Millis> {
        Some(before)
    }

    /// After a replay: tell other processes that deliveries are due (PostgreSQL's `NOTIFY`).
    fn replayed(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// At a stop, once nothing more is written: leave the store's files settled (SQLite copies
    /// its WAL into the database file). Nothing to do for a server.
    fn settle(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

impl<T: Backed> Pipeline for T {
    fn accept(&self, event: NewEvent) -> BoxFuture<'_, Result<Accepted>> {
        Box::pin(self.core().writer.accept(event))
    }

    fn claim(&self, claim: Claim) -> BoxFuture<'_, Result<Claims>> {
        Box::pin(self.core().writer.claim(claim))
    }

    fn record(&self, record: Record) -> BoxFuture<'_, Result<Recorded>> {
        Box::pin(self.core().writer.record(record))
    }

    fn join(&self, join: Join) -> BoxFuture<'_, Result<Joined>> {
        Box::pin(self.core().writer.join(join))
    }

    fn heartbeat(&self, instance: Instance) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.core().writer.heartbeat(instance))
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.core().wakeups.subscribe()
    }
}

impl<T: Backed> Threads for T {
    fn digest(&self, id: i64) -> BoxFuture<'_, Result<Option<DigestContent>>> {
        Box::pin(talk::digest(&self.core().pool, id))
    }

    fn step(&self, step: Step) -> BoxFuture<'_, Result<Stepped>> {
        Box::pin(async move { talk::step(&self.core().pool, &step).await })
    }

    fn posted(&self, posted: Posted) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { talk::posted(&self.core().pool, &posted).await })
    }

    fn conversation(
        &self,
        channel: String,
        key: String,
    ) -> BoxFuture<'_, Result<Option<Conversation>>> {
        Box::pin(async move { talk::get(&self.core().pool, &channel, &key).await })
    }
}

impl<T: Backed> History for T {
    fn events(&self, filter: EventFilter) -> BoxFuture<'_, Result<Vec<EventRow>>> {
        Box::pin(async move { page_read::events(&self.core().pool, &filter).await })
    }

    fn event(&self, id: String) -> BoxFuture<'_, Result<Option<EventDetail>>> {
        Box::pin(async move { page_read::event(&self.core().pool, &id).await })
    }

    fn overview(&self, now: Millis) -> BoxFuture<'_, Result<Overview>> {
        Box::pin(page_read::overview(&self.core().pool, now))
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, Result<Vec<DeliveryRow>>> {
        Box::pin(async move { page_read::deliveries(&self.core().pool, &filter).await })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts>> {
        Box::pin(upkeep::counts(&self.core().pool))
    }

    fn oldest_due(&self, before: Millis) -> BoxFuture<'_, Result<Vec<(String, Millis)>>> {
        Box::pin(upkeep::oldest_due(&self.core().pool, before))
    }

    fn channels_with_work(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(upkeep::channels_with_work(&self.core().pool))
    }
}

impl<T: Backed> Upkeep for T {
    fn settle(&self) -> BoxFuture<'_, Result<()>> {
        Backed::settle(self)
    }

    fn release(&self, leases: Vec<Held>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { upkeep::release(&self.core().pool, &leases).await })
    }

    fn due_count(&self, now: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(upkeep::due_count(&self.core().pool, now))
    }

    fn pause(&self, channel: String, until: Millis) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { upkeep::pause(&self.core().pool, &channel, until).await })
    }

    fn release_lapsed(
        &self,
        me: Arc<str>,
        before: Millis,
        now: Millis,
    ) -> BoxFuture<'_, Result<u64>> {
        let Some(before) = self.sweep_before(before) else {
            return Box::pin(async { Ok(0) });
        };
        Box::pin(async move { upkeep::release_lapsed(&self.core().pool, &me, before, now).await })
    }

    fn try_lock(
        &self,
        name: &'static str,
        owner: Arc<str>,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { upkeep::try_lock(&self.core().pool, name, &owner, now, until).await })
    }

    fn replay(&self, which: Replay, now: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n = upkeep::replay(&self.core().pool, &which, now).await?;
            self.replayed().await;
            Ok(n)
        })
    }

    fn purge(&self, before: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(upkeep::purge(&self.core().pool, before))
    }
}
