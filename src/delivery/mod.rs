//! From stored delivery to sent message: the dispatcher claims due deliveries from the store,
//! renders, sends, and records every attempt. The retry loop lives here, once; the policy is
//! the pure function in [`retry`], pacing per destination in [`pace`].
//!
//! Fresh deliveries to unpaced channels take a fast path: the webhook handler leases them in
//! the same commit that stores them and hands them straight to the senders, so the common
//! case costs no extra transaction. Everything else (paced channels, retries, replays, what a
//! restart finds) is claimed from the store in batches.
//!
//! A delivery is leased while it is being worked on. If herald dies mid-send the lease
//! expires and the delivery is claimed again: across a crash between sending and recording,
//! delivery is at-least-once. A send task keeps its concurrency slot until its outcome is
//! committed, so at most `concurrency` messages can be sent twice that way.

pub mod pace;
pub mod retry;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use jiff::Timestamp;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tracing::{error, info, warn};

use crate::channels::{self, Destination, Outgoing, SendError};
use crate::enrich::api::Api;
use crate::enrich::{self, Enricher, Fill};
use crate::event::Event;
use crate::metrics::{EnrichLabels, Metrics};
use crate::render::context::TemplateContext;
use crate::rules::Config;
use crate::store::writer::Writer;
use crate::store::{
    Attempt, AttemptOutcome, Claimed, Millis, Next, Store, WriteOp, WriteResult, millis, now_ms,
};
use pace::Pacer;
use retry::{Decision, decide};

#[derive(Debug, Clone)]
pub struct Settings {
    /// Sends at once, over all channels.
    pub concurrency: usize,
    /// How long a claimed delivery is reserved for this worker.
    pub lease: Duration,
    /// How often to look for due deliveries when nothing wakes the dispatcher.
    pub poll: Duration,
}

struct Channel {
    destination: Arc<dyn Destination>,
    /// Shared across reloads while the channel's pace stays the same.
    pacer: Arc<Mutex<Pacer>>,
    pace: Option<f64>,
}

/// The configuration in force and the destinations built from it; replaced whole on reload.
struct Live {
    config: Arc<Config>,
    channels: BTreeMap<String, Channel>,
    enricher: Option<Enricher>,
}

impl Live {
    fn build(config: Arc<Config>, old: Option<&Live>) -> Result<Live, channels::BuildError> {
        let client = crate::http::client();
        let mut built = BTreeMap::new();
        for (name, spec) in &config.channels {
            let kept = old
                .and_then(|o| o.channels.get(name))
                .filter(|c| c.pace == spec.pace)
                .map(|c| c.pacer.clone());
            built.insert(
                name.clone(),
                Channel {
                    destination: channels::build(spec, &client)?,
                    pacer: kept.unwrap_or_else(|| Arc::new(Mutex::new(Pacer::new(spec.pace)))),
                    pace: spec.pace,
                },
            );
        }
        let enricher = config
            .superoffice
            .clone()
            .map(|so| Enricher::new(Api::new(so, client.clone()), config.redactor.clone()));
        Ok(Live {
            config,
            channels: built,
            enricher,
        })
    }
}

pub struct Dispatcher {
    live: RwLock<Arc<Live>>,
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    writer: Writer,
    slots: Arc<Semaphore>,
    wake: Notify,
    /// The last claim round stopped for want of slots: a finished send should start another.
    starved: AtomicBool,
    settings: Settings,
    /// Room on the fast path; a handler that cannot reserve it leaves the delivery to a claim.
    fast_room: Arc<Semaphore>,
    fast_tx: mpsc::UnboundedSender<(Claimed, OwnedSemaphorePermit)>,
    fast_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(Claimed, OwnedSemaphorePermit)>>,
    /// When the claim loop last went round, and when an outcome was last recorded: how
    /// `/readyz` tells a stalled dispatcher from a busy one.
    last_tick: AtomicI64,
    last_record: AtomicI64,
}

/// A dispatcher whose loop has not run, or that has sent nothing while deliveries were due,
/// for this long is not making progress (`/readyz` says so).
const STALL_AFTER: Duration = Duration::from_secs(60);

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

/// How many deliveries may wait on the fast path. Small enough that they are sent long before
/// their lease runs out.
const FAST_ROOM: usize = 1024;

/// What one attempt came to, before it is recorded.
struct Outcome {
    attempt: Option<Attempt>,
    next: Next,
}

impl Dispatcher {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        writer: Writer,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, channels::BuildError> {
        let live = Live::build(config, None)?;
        let (fast_tx, fast_rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Dispatcher {
            fast_room: Arc::new(Semaphore::new(FAST_ROOM)),
            fast_tx,
            fast_rx: tokio::sync::Mutex::new(fast_rx),
            last_tick: AtomicI64::new(now_ms()),
            last_record: AtomicI64::new(now_ms()),
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            live: RwLock::new(Arc::new(live)),
            metrics,
            store,
            writer,
            wake: Notify::new(),
            starved: AtomicBool::new(false),
            settings,
        }))
    }

    fn live(&self) -> Arc<Live> {
        self.live.read().clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.live().config.clone()
    }

    /// Puts a new configuration in force, atomically: events arriving from now on are matched
    /// against it, and deliveries are rendered and sent with it.
    pub fn swap(&self, config: Arc<Config>) -> Result<(), channels::BuildError> {
        let old = self.live();
        let live = Live::build(config, Some(&old))?;
        *self.live.write() = Arc::new(live);
        self.wake();
        Ok(())
    }

    /// Makes dead letters of the deliveries still to make for channels the configuration no
    /// longer has (removed by a reload, or while herald was down): nothing would ever send them.
    pub async fn retire_orphans(&self) {
        let channels = match self.store.channels_with_work().await {
            Ok(c) => c,
            Err(e) => return warn!(error = %e, "cannot look for deliveries to removed channels"),
        };
        let config = self.config();
        for channel in channels
            .into_iter()
            .filter(|c| !config.channels.contains_key(c))
        {
            loop {
                // Due or not: claim as if it were the end of time.
                let op = WriteOp::Claim {
                    channel: channel.clone(),
                    limit: 256,
                    now: Millis::MAX,
                    lease_until: now_ms(),
                };
                let claimed = match self.writer.submit(op).await {
                    Ok(WriteResult::Claimed(c)) if !c.is_empty() => c,
                    _ => break,
                };
                for c in claimed {
                    let reason = format!("channel `{channel}` is no longer in the rules file");
                    let op = WriteOp::Record {
                        delivery_id: c.delivery_id,
                        attempt: None,
                        next: Next::Dead(reason.clone()),
                    };
                    match self.writer.submit(op).await {
                        Ok(_) => {
                            error!(event_id = %c.event_id, rule = %c.rule, channel = %channel, delivery_id = c.delivery_id, reason = %reason, "delivery failed permanently")
                        }
                        Err(e) => warn!(error = %e, "cannot record a dead letter"),
                    }
                }
            }
        }
    }

    /// Something became due (an event was accepted): look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// True if deliveries to this channel may take the fast path (it is not paced).
    pub fn is_fast(&self, channel: &str) -> bool {
        self.live()
            .channels
            .get(channel)
            .is_some_and(|c| c.pace.is_none())
    }

    /// Reserves room for `n` deliveries on the fast path, if there is room.
    pub fn reserve(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        self.fast_room
            .clone()
            .try_acquire_many_owned(u32::try_from(n).ok()?)
            .ok()
    }

    /// When a delivery leased now would be free again.
    pub fn lease_until(&self, now: Millis) -> Millis {
        now.saturating_add(millis(self.settings.lease))
    }

    /// Hands stored, leased deliveries straight to the senders.
    pub fn hand_over(&self, deliveries: Vec<Claimed>, mut room: OwnedSemaphorePermit) {
        for d in deliveries {
            let Some(one) = room.split(1) else { break };
            let _ = self.fast_tx.send((d, one));
        }
    }

    /// Claims and sends until `stop` turns true. Sends already started are not waited for:
    /// see [`Dispatcher::drain`]. Each loop is restarted if it panics.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
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
        while !*stop.borrow() {
            self.last_tick.store(now_ms(), Ordering::Relaxed);
            let busy = self.claim_round().await;
            if busy {
                tokio::task::yield_now().await;
                continue;
            }
            let wait = self.next_wait();
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Sends what the handlers hand over, as slots free up. A delivery for a destination that
    /// asked for a pause goes back to the store, to be claimed when the pause is over.
    async fn fast_path(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut rx = self.fast_rx.lock().await;
        loop {
            let (claimed, room) = tokio::select! {
                item = rx.recv() => match item { Some(i) => i, None => return },
                _ = stop.changed() => break,
            };
            // A channel removed by a reload counts as paused: the claim path settles it.
            let paused = self
                .live()
                .channels
                .get(&claimed.channel)
                .is_none_or(|c| c.pacer.lock().allowance(Instant::now()) == 0);
            if paused {
                self.give_back(&[claimed.delivery_id]).await;
                continue;
            }
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                break;
            };
            drop(room);
            let this = self.clone();
            tokio::spawn(async move { this.deliver(claimed, slot).await });
        }
        // Stopping: what still waits is given back, due at the next start.
        rx.close();
        let mut left = Vec::new();
        while let Ok((c, _)) = rx.try_recv() {
            left.push(c.delivery_id);
        }
        self.give_back(&left).await;
    }

    /// Whether deliveries are moving: the claim loop runs, and due deliveries of destinations
    /// that asked for no pause are being sent. `Err` says what is wrong, for `/readyz`.
    pub async fn progress(&self) -> Result<(), String> {
        let now = now_ms();
        let tick_age = now.saturating_sub(self.last_tick.load(Ordering::Relaxed));
        if tick_age > millis(STALL_AFTER) {
            return Err(format!(
                "the dispatcher has not run for {} s",
                tick_age / 1000
            ));
        }
        let record_age = now.saturating_sub(self.last_record.load(Ordering::Relaxed));
        if record_age <= millis(STALL_AFTER) {
            return Ok(());
        }
        let due = self
            .store
            .oldest_due(now.saturating_sub(millis(STALL_AFTER)))
            .await
            .map_err(|e| format!("cannot read the store: {e}"))?;
        let live = self.live();
        let stuck = due.into_iter().find(|(channel, _)| {
            live.channels
                .get(channel)
                .is_some_and(|c| c.pacer.lock().wait(Instant::now()).is_none())
        });
        match stuck {
            Some((channel, since)) => Err(format!(
                "deliveries to `{channel}` have been due since {} and nothing was sent for {} s",
                crate::text::show_time(since),
                record_age / 1000
            )),
            None => Ok(()),
        }
    }

    async fn give_back(&self, ids: &[i64]) {
        if let Err(e) = self.store.release(ids).await {
            warn!(deliveries = ids.len(), error = %e, "cannot release leases; they are claimed again when they run out");
        }
        self.wake();
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

    /// One pass over the channels. True if some channel may have more due right now.
    async fn claim_round(self: &Arc<Self>) -> bool {
        let mut more = false;
        self.starved.store(false, Ordering::Relaxed);
        let live = self.live();
        for (name, channel) in &live.channels {
            let free = self.slots.available_permits() as u32;
            if free == 0 {
                self.starved.store(true, Ordering::Relaxed);
                return false;
            }
            let allowed = channel.pacer.lock().allowance(Instant::now());
            let want = free.min(allowed).min(256);
            if want == 0 {
                continue;
            }
            let Ok(mut permits) = self.slots.clone().try_acquire_many_owned(want) else {
                continue;
            };
            let now = now_ms();
            let lease_until = self.lease_until(now);
            let op = WriteOp::Claim {
                channel: name.clone(),
                limit: want,
                now,
                lease_until,
            };
            let claimed = match self.writer.submit(op).await {
                Ok(WriteResult::Claimed(c)) => c,
                Ok(other) => unreachable!("a claim answers with claimed deliveries, not {other:?}"),
                Err(e) => {
                    warn!(channel = %name, error = %e, "cannot claim deliveries; will try again");
                    continue;
                }
            };
            channel.pacer.lock().take(claimed.len() as u32);
            more |= claimed.len() as u32 == want;
            for c in claimed {
                let Some(permit) = permits.split(1) else {
                    break;
                };
                let this = self.clone();
                tokio::spawn(async move { this.deliver(c, permit).await });
            }
        }
        more
    }

    fn next_wait(&self) -> Duration {
        let now = Instant::now();
        self.live()
            .channels
            .values()
            .filter_map(|c| c.pacer.lock().wait(now))
            .fold(self.settings.poll, Duration::min)
            .max(Duration::from_millis(1))
    }

    async fn deliver(&self, claimed: Claimed, slot: OwnedSemaphorePermit) {
        // A bug that panics while one message is prepared or sent must not take the dispatcher
        // down with it: the delivery becomes a dead letter that says so, and the rest go on.
        let outcome = match AssertUnwindSafe(self.attempt(&claimed))
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(panic) => self.panicked(&claimed, panic.as_ref()),
        };
        if let Some(a) = &outcome.attempt {
            self.metrics.attempt(
                &claimed.channel,
                a.outcome.as_str(),
                a.duration_ms as f64 / 1000.0,
            );
        }
        let op = WriteOp::Record {
            delivery_id: claimed.delivery_id,
            attempt: outcome.attempt,
            next: outcome.next,
        };
        let recorded = self.writer.submit(op).await;
        if recorded.is_ok() {
            self.last_record.store(now_ms(), Ordering::Relaxed);
        }
        if let Err(e) = recorded {
            // The lease will expire and the delivery be tried again: at-least-once.
            error!(event_id = %claimed.event_id, rule = %claimed.rule, channel = %claimed.channel, delivery_id = claimed.delivery_id, error = %e, "cannot record a delivery's outcome");
        }
        drop(slot);
        if self.starved.load(Ordering::Relaxed) {
            // A slot is free again and deliveries were left waiting for one.
            self.wake();
        }
    }

    fn panicked(&self, c: &Claimed, panic: &(dyn std::any::Any + Send)) -> Outcome {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let reason = format!(
            "internal error while preparing or sending this message (panic: {what}); please report it, then replay"
        );
        let reason = self.live().config.redactor.redact(&reason);
        self.metrics.panic("delivery");
        error!(event_id = %c.event_id, rule = %c.rule, channel = %c.channel, delivery_id = c.delivery_id, reason = %reason, "delivery failed permanently");
        Outcome {
            attempt: Some(Attempt {
                started_at: now_ms(),
                duration_ms: 0,
                outcome: AttemptOutcome::Failed,
                status_code: None,
                detail: reason.clone(),
            }),
            next: Next::Dead(reason),
        }
    }

    async fn attempt(&self, c: &Claimed) -> Outcome {
        let (event_id, rule, channel) = (c.event_id.as_str(), c.rule.as_str(), c.channel.as_str());
        let event = c.event_type.as_str();
        let attempt_no = c.attempts + 1;
        let started_at = now_ms();
        let started = Instant::now();
        let dead = |reason: String| {
            error!(event_id, event, rule, channel, delivery_id = c.delivery_id, attempt = attempt_no, reason = %reason, "delivery failed permanently");
            Outcome {
                attempt: Some(Attempt {
                    started_at,
                    duration_ms: started.elapsed().as_millis() as i64,
                    outcome: AttemptOutcome::Failed,
                    status_code: None,
                    detail: reason.clone(),
                }),
                next: Next::Dead(reason),
            }
        };
        // One snapshot for the whole attempt, even if a reload lands meanwhile.
        let live = self.live();
        let config = &live.config;
        let elapsed = Duration::from_millis((now_ms() - c.round_started_at).max(0) as u64);
        let outgoing = match prepare(&live, c, elapsed).await {
            Prepared::Ready(o) => o,
            Prepared::Dead(reason) => return dead(config.redactor.redact(&reason)),
            Prepared::EnrichmentRefused(reason) => {
                self.metrics
                    .enrichment_errors
                    .get_or_create(&EnrichLabels { kind: "permanent" })
                    .inc();
                return dead(config.redactor.redact(&reason));
            }
            Prepared::Skip(reason) => {
                info!(event_id, event, rule, channel, delivery_id = c.delivery_id, reason = %reason, "skipped: the rule's conditions on enriched fields did not hold");
                return Outcome {
                    attempt: None,
                    next: Next::Skipped(reason),
                };
            }
            Prepared::Retry(reason) => {
                let reason = config.redactor.redact(&reason);
                self.metrics
                    .enrichment_errors
                    .get_or_create(&EnrichLabels { kind: "retryable" })
                    .inc();
                let policy = config
                    .channels
                    .get(channel)
                    .map(|s| s.retry.clone())
                    .unwrap_or_default();
                let next = match decide(&policy, attempt_no, elapsed, None, fastrand::f64()) {
                    Decision::RetryIn(wait) => Next::RetryAt(now_ms().saturating_add(millis(wait))),
                    Decision::GiveUp => {
                        Next::Dead(format!("gave up after {attempt_no} attempts: {reason}"))
                    }
                };
                warn!(event_id, event, rule, channel, delivery_id = c.delivery_id, attempt = attempt_no, reason = %reason, "cannot enrich the event yet, will retry");
                return Outcome {
                    attempt: Some(Attempt {
                        started_at,
                        duration_ms: started.elapsed().as_millis() as i64,
                        outcome: AttemptOutcome::Retry,
                        status_code: None,
                        detail: reason,
                    }),
                    next,
                };
            }
        };
        let (Some(ch), Some(spec)) = (live.channels.get(channel), config.channels.get(channel))
        else {
            return dead(format!(
                "channel `{channel}` is no longer in the rules file"
            ));
        };
        let result = ch.destination.send(&outgoing).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        let error = match result {
            Ok(done) => {
                let detail = config.redactor.redact(&done.detail);
                info!(event_id, event, rule, channel, delivery_id = c.delivery_id, attempt = attempt_no, status = done.status, took_ms = duration_ms, detail = %detail, "delivered");
                return Outcome {
                    attempt: Some(Attempt {
                        started_at,
                        duration_ms,
                        outcome: AttemptOutcome::Sent,
                        status_code: done.status,
                        detail,
                    }),
                    next: Next::Sent,
                };
            }
            Err(e) => e,
        };
        let reason = config.redactor.redact(&error.to_string());
        let failed = |outcome, next| Outcome {
            attempt: Some(Attempt {
                started_at,
                duration_ms,
                outcome,
                status_code: error.status(),
                detail: reason.clone(),
            }),
            next,
        };
        if let SendError::Permanent { status, .. } = &error {
            error!(event_id, event, rule, channel, delivery_id = c.delivery_id, attempt = attempt_no, status, took_ms = duration_ms, reason = %reason, "delivery failed permanently");
            return failed(AttemptOutcome::Failed, Next::Dead(reason.clone()));
        }
        let policy = &spec.retry;
        if let Some(wait) = error.retry_after() {
            // The destination asked for a pause: pause it, and only it, for at most the cap.
            let wait = wait.min(policy.max_retry_after);
            ch.pacer.lock().pause(Instant::now(), wait);
        }
        let elapsed = Duration::from_millis((now_ms() - c.round_started_at).max(0) as u64);
        match decide(
            policy,
            attempt_no,
            elapsed,
            error.retry_after(),
            fastrand::f64(),
        ) {
            Decision::RetryIn(wait) => {
                warn!(event_id, event, rule, channel, delivery_id = c.delivery_id, attempt = attempt_no, status = error.status(), took_ms = duration_ms, retry_in_ms = wait.as_millis() as u64, reason = %reason, "delivery failed, will retry");
                failed(
                    AttemptOutcome::Retry,
                    Next::RetryAt(now_ms().saturating_add(millis(wait))),
                )
            }
            Decision::GiveUp => {
                let why = format!("gave up after {attempt_no} attempts: {reason}");
                error!(event_id, event, rule, channel, delivery_id = c.delivery_id, attempt = attempt_no, status = error.status(), reason = %why, "delivery failed permanently: out of retries");
                failed(AttemptOutcome::Failed, Next::Dead(why))
            }
        }
    }
}

/// What preparing a delivery came to.
enum Prepared {
    Ready(Outgoing),
    Skip(String),
    Retry(String),
    Dead(String),
    /// The SuperOffice API refused (401, 403): an operator must fix the credentials.
    EnrichmentRefused(String),
}

/// The message for a claimed delivery: the event, enriched if the rule needs it, rendered with
/// the configuration in force.
async fn prepare(live: &Live, c: &Claimed, elapsed: Duration) -> Prepared {
    let config = &live.config;
    let event = match Event::parse(c.body.as_bytes()) {
        Ok(e) => e,
        Err(e) => return Prepared::Dead(format!("stored event is unreadable: {e}")),
    };
    let Some(rule) = config.rules.iter().find(|r| r.name == c.rule) else {
        return Prepared::Dead(format!("rule `{}` is no longer in the rules file", c.rule));
    };
    let Some(action) = rule
        .notify
        .get(c.action_index as usize)
        .filter(|a| a.channel == c.channel)
    else {
        return Prepared::Dead(format!(
            "rule `{}` no longer sends to `{}` as its action {}",
            c.rule,
            c.channel,
            c.action_index + 1
        ));
    };
    let received_at =
        Timestamp::from_millisecond(c.received_at).unwrap_or_else(|_| Timestamp::now());
    let mut ctx = TemplateContext::new(&event, &rule.name, received_at);
    let needs = &action.needs;
    let on_error = config.superoffice.as_ref().map(|so| so.on_error);
    match enrich::fill(
        live.enricher.as_ref(),
        on_error,
        &event,
        needs,
        &mut ctx,
        elapsed,
    )
    .await
    {
        Fill::Done => {}
        Fill::Retry(reason) => return Prepared::Retry(reason),
        Fill::Dead(reason) => return Prepared::EnrichmentRefused(reason),
    }
    if rule.is_deferred()
        && let Err(reason) = rule.check_deferred(&ctx.value())
    {
        return Prepared::Skip(reason);
    }
    let rendered = match action.template.render(&config.renderer, &ctx) {
        Ok(r) => r,
        Err(e) => return Prepared::Dead(format!("cannot render the message: {e}")),
    };
    for note in &rendered.truncated {
        warn!(event_id = %c.event_id, rule = %c.rule, channel = %c.channel, "{note}");
    }
    Prepared::Ready(Outgoing {
        message: rendered.message,
        event_id: c.event_id.clone(),
        rule: c.rule.clone(),
        to: action.to.clone(),
    })
}
