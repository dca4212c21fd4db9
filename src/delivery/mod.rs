//! From stored delivery to sent message: the dispatcher claims due deliveries from the store,
//! prepares, sends, and records every attempt. The retry loop lives here, once; the policy is
//! the pure function in [`retry`], pacing per destination in [`pace`].
//!
//! Fresh deliveries to unpaced channels take a fast path ([`Dispatcher::accept`]): they are
//! leased in the same commit that stores them and handed straight to the senders, so the
//! common case costs no extra transaction. Everything else (paced channels, retries, replays,
//! what a restart finds) is claimed from the store in batches.
//!
//! A delivery is leased while it is being worked on. If herald dies mid-send the lease
//! expires and the delivery is claimed again: across a crash between sending and recording,
//! delivery is at-least-once. A send task keeps its concurrency slot until its outcome is
//! committed, so at most `concurrency` messages can be sent twice that way.

mod accept;
use accept::FastPath;
pub use accept::{planned, planned_with_headers};
mod attempt;
mod backlog;
pub mod conversation;
mod destinations;
mod health;
mod housekeeping;
mod message;
pub mod noise;
pub mod prepare;
mod progress;
mod raise;
pub mod retry;
mod said;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tracing::{error, warn};

use crate::live::Live;
use crate::metrics::Metrics;
use crate::store::{Claim, Claims, Instance, Lease, Millis, Store, millis, now_ms, pace};
use destinations::Destinations;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Sends at once, over all channels.
    pub concurrency: usize,
    /// How long a claimed delivery is reserved for this worker.
    pub lease: Duration,
    /// How often to look for due deliveries when nothing wakes the dispatcher.
    pub poll: Duration,
    /// An instance that has not heartbeat for this long is taken for dead, and the
    /// deliveries it had leased are due again.
    pub instance_timeout: Duration,
    /// How long events and their finished deliveries are kept.
    pub retention: Duration,
    /// How many bytes of each request's body to keep as what was sent; 0 keeps none.
    pub keep_sent: usize,
    /// A channel whose oldest due delivery is older than this raises `herald.backlog.behind`.
    pub behind_after: Duration,
    /// Past this many due deliveries `/webhook` answers 503; `None`: no limit.
    pub max_backlog: Option<u64>,
}

pub struct Dispatcher {
    live: Arc<Live>,
    store: Arc<dyn Store>,
    /// This running herald, as leases name it.
    instance: Instance,
    metrics: Arc<Metrics>,
    settings: Settings,
    slots: Arc<Semaphore>,
    wake: Notify,
    /// The last claim round stopped for want of slots: a finished send should start another.
    starved: AtomicBool,
    /// Per channel, as the store last said, and how its sends went.
    destinations: Destinations,
    /// Fresh deliveries handed straight from their commit to the senders.
    fast: FastPath,
    /// When the claim loop last went round, and when an outcome was last recorded: how
    /// `/readyz` tells a stalled dispatcher from a busy one.
    last_tick: AtomicI64,
    last_record: AtomicI64,
    /// Which channels are failing, for `herald.channel.failing` and `.recovered`.
    health: health::Health,
    /// Which channels are behind, for `herald.backlog.behind`.
    behind: raise::Behind,
    /// Deliveries due and not sent, as last counted (and added to since), for `max_backlog`.
    due: std::sync::atomic::AtomicU64,
}

/// Runs a task, and runs it again if it panics: a bug met in one round must not stop every
/// delivery on every channel. Returns when the task returns.
async fn supervised<F, Fut>(metrics: Arc<Metrics>, place: &'static str, mut make: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(make()).await {
            Err(e) if e.is_panic() => {
                metrics.panic(place);
                error!(place, "internal error: the {place} panicked; restarting it");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return,
        }
    }
}

impl Dispatcher {
    pub fn new(
        live: Arc<Live>,
        store: Arc<dyn Store>,
        instance: Instance,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Dispatcher {
            live,
            store,
            instance,
            metrics,
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            wake: Notify::new(),
            starved: AtomicBool::new(false),
            destinations: Destinations::default(),
            fast: FastPath::new(),
            last_tick: AtomicI64::new(now_ms()),
            last_record: AtomicI64::new(now_ms()),
            health: Default::default(),
            behind: Default::default(),
            due: Default::default(),
        })
    }

    /// Something became due: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A lease for this instance, taken now.
    fn lease(&self, now: Millis) -> Lease {
        Lease::new(
            self.instance.id.clone(),
            now.saturating_add(millis(self.settings.lease)),
        )
    }

    /// True if deliveries to `channel` wait on purpose: it asked for a pause (or its circuit
    /// is open), or it is gone (the claim path settles those).
    fn held_back(&self, channel: &str) -> bool {
        !self.live.config().channels.contains_key(channel)
            || self.destinations.paused(channel, now_ms())
    }

    /// Claims and sends until `stop` turns true. Sends already started are not waited for:
    /// see [`Dispatcher::drain`]. Each loop is restarted if it panics.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        self.start().await;
        tokio::spawn(self.clone().housekeeping(stop.clone()));
        if self.settings.max_backlog.is_some() {
            tokio::spawn(self.clone().count_due(stop.clone()));
        }
        self.retire_orphans().await;
        let fast = {
            let (this, stop) = (self.clone(), stop.clone());
            tokio::spawn(supervised(self.metrics.clone(), "fast path", move || {
                this.clone().fast_path(stop.clone())
            }))
        };
        let this = self.clone();
        supervised(self.metrics.clone(), "dispatcher", move || {
            this.clone().claim_loop(stop.clone())
        })
        .await;
        let _ = fast.await;
    }

    async fn claim_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut reloads = self.live.subscribe();
        let mut hints = self.store.wakeups();
        while !*stop.borrow() {
            self.last_tick.store(now_ms(), Ordering::Relaxed);
            if self.claim_round().await {
                tokio::task::yield_now().await;
                continue;
            }
            let wait = self.next_wait();
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
                Ok(()) = reloads.changed() => self.retire_orphans().await,
                Ok(()) = hints.changed() => {}
            }
        }
    }

    /// One pass over the channels. True if some channel may have more due right now.
    async fn claim_round(self: &Arc<Self>) -> bool {
        let mut more = false;
        self.starved.store(false, Ordering::Relaxed);
        let config = self.live.config();
        let now = now_ms();
        for (name, spec) in &config.channels {
            let free = self.slots.available_permits() as u32;
            if free == 0 {
                self.starved.store(true, Ordering::Relaxed);
                return false;
            }
            if self.destinations.get(name).ready_at > now {
                continue;
            }
            let spacing = pace::spacing(spec.pace);
            more |= self.claim_channel(name, free.min(256), spacing).await;
        }
        more
    }

    /// Claims up to `want` due deliveries of one channel and starts sending them. True if it
    /// got all it asked for (there may be more).
    async fn claim_channel(
        self: &Arc<Self>,
        name: &str,
        want: u32,
        spacing: Option<Millis>,
    ) -> bool {
        // An open circuit: one delivery tries the destination, then it rests again.
        let open = self.destinations.get(name).open();
        let want = if open { 1 } else { want };
        let Ok(mut permits) = self.slots.clone().try_acquire_many_owned(want) else {
            return false;
        };
        let now = now_ms();
        let claim = Claim {
            channel: name.to_string(),
            limit: want,
            now,
            lease: self.lease(now),
            spacing,
        };
        let Claims {
            deliveries,
            paused_until,
            ready_at,
        } = match self.store.claim(claim).await {
            Ok(c) => c,
            Err(e) => {
                warn!(channel = %name, error = %e, "cannot claim deliveries; will try again");
                return false;
            }
        };
        self.destinations.update(name, |d| {
            d.ready_at = ready_at;
            d.paused_until = paused_until;
            if open && !deliveries.is_empty() {
                d.ready_at = d.ready_at.max(d.rest_until.max(now + 1000));
            }
        });
        let full = deliveries.len() as u32 == want;
        for c in deliveries {
            let Some(permit) = permits.split(1) else {
                break;
            };
            let this = self.clone();
            tokio::spawn(async move { this.deliver(c, permit).await });
        }
        full
    }

    /// Until the next poll, or sooner when a paced or paused destination is ready again.
    fn next_wait(&self) -> Duration {
        let now = now_ms();
        let soonest = self
            .destinations
            .next_ready(now)
            .map(|at| Duration::from_millis((at - now) as u64));
        soonest
            .map_or(self.settings.poll, |s| s.min(self.settings.poll))
            .max(Duration::from_millis(1))
    }

    /// Waits until every send in flight has finished and been recorded, or `within` passed.
    pub async fn drain(&self, within: Duration) -> bool {
        let all = self.settings.concurrency.max(1) as u32;
        tokio::time::timeout(within, self.slots.acquire_many(all))
            .await
            .is_ok()
    }

    pub fn in_flight(&self) -> usize {
        self.settings.concurrency.max(1) - self.slots.available_permits()
    }
}
