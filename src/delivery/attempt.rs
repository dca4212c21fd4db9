//! One attempt at one delivery: prepare the message, send it, decide what comes next, record
//! it. This is the retry loop, once for every destination: a failure is retried under the
//! channel's policy, honouring `Retry-After`, or becomes a dead letter.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{error, warn};

use super::Dispatcher;
use super::prepare::Ready;
use super::retry::{Decision, decide};
use super::said::Said;
use crate::channels::{Delivered, Destination, SendError};
use crate::live::Runtime;
use crate::metrics::EnrichLabels;
use crate::store::{Attempt, AttemptOutcome, Claimed, Next, Record, Recorded, millis, now_ms};

/// What one attempt came to, before it is recorded, and what to log once it is.
pub(super) struct Outcome {
    /// Boxed: an outcome travels as the error of every step that may end the attempt early.
    attempt: Option<Box<Attempt>>,
    /// What to record; `None` if the store has it already (the delivery joined a digest).
    next: Option<Next>,
    said: Said,
    /// What the event is about, as this attempt's enriched data says it, to record with it.
    about: Option<String>,
}

impl Outcome {
    /// Nothing was sent, and nothing tried: the delivery goes on to `next`.
    pub(super) fn unsent(next: Next, said: Said) -> Outcome {
        Outcome {
            attempt: None,
            next: Some(next),
            said,
            about: None,
        }
    }

    /// The store has recorded what became of the delivery already.
    pub(super) fn settled(said: Said) -> Outcome {
        Outcome {
            attempt: None,
            next: None,
            said,
            about: None,
        }
    }
}

/// An attempt under way: the delivery, when it started, and the snapshot it works with.
pub(super) struct Try<'a> {
    pub(super) c: &'a Claimed,
    pub(super) runtime: Arc<Runtime>,
    number: u32,
    started_at: i64,
    started: Instant,
}

impl Try<'_> {
    fn attempt(&self, outcome: AttemptOutcome, status: Option<u16>, detail: String) -> Attempt {
        Attempt {
            started_at: self.started_at,
            duration_ms: millis(self.started.elapsed()),
            outcome,
            status_code: status,
            detail,
            sent: None,
        }
    }

    /// A permanent failure: a dead letter with the reason.
    pub(super) fn dead(&self, reason: &str, status: Option<u16>) -> Outcome {
        let reason = self.runtime.config.redactor.redact(reason);
        Outcome {
            attempt: Some(Box::new(self.attempt(
                AttemptOutcome::Failed,
                status,
                reason.clone(),
            ))),
            next: Some(Next::Dead(reason.clone())),
            said: Said::Dead { status, reason },
            about: None,
        }
    }

    /// How long this delivery has been trying, since its creation or last replay.
    pub(super) fn elapsed(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.c.round_started_at).max(0) as u64)
    }

    /// A failure worth another try: when, under the channel's policy, or a dead letter once
    /// the policy gives up. `said` is the log line.
    pub(super) fn retry(
        &self,
        said: &'static str,
        reason: &str,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) -> Outcome {
        let config = &self.runtime.config;
        let reason = config.redactor.redact(reason);
        let policy = config
            .channels
            .get(&self.c.channel)
            .map(|s| s.retry.clone())
            .unwrap_or_default();
        match decide(
            &policy,
            self.number,
            self.elapsed(),
            retry_after,
            fastrand::f64(),
        ) {
            Decision::RetryIn(wait) => Outcome {
                attempt: Some(Box::new(self.attempt(
                    AttemptOutcome::Retry,
                    status,
                    reason.clone(),
                ))),
                next: Some(Next::RetryAt(now_ms().saturating_add(millis(wait)))),
                said: Said::Retry {
                    said,
                    status,
                    retry_in_ms: millis(wait),
                    reason,
                },
                about: None,
            },
            Decision::GiveUp => {
                let why = format!("gave up after {} attempts: {reason}", self.number);
                self.dead(&why, status)
            }
        }
    }
}

impl Dispatcher {
    /// Makes one attempt and records it, holding a concurrency slot until the record commits.
    pub(super) async fn deliver(&self, claimed: Claimed, slot: OwnedSemaphorePermit) {
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
            let seconds = a.duration_ms as f64 / 1000.0;
            self.metrics
                .attempt(&claimed.channel, a.outcome.as_str(), seconds);
        }
        let dead = match &outcome.next {
            Some(Next::Dead(reason)) => Some(reason.clone()),
            _ => None,
        };
        let tried = u32::from(outcome.attempt.is_some());
        let recorded = match outcome.next {
            Some(next) => {
                let record = Record {
                    delivery_id: claimed.delivery_id,
                    token: claimed.token,
                    attempt: outcome.attempt.map(|a| *a),
                    next,
                    about: outcome.about,
                };
                self.store.record(record).await
            }
            None => Ok(Recorded::Done),
        };
        outcome.said.log(&claimed, claimed.attempts + 1);
        match recorded {
            Ok(Recorded::Done) => {
                self.last_record.store(now_ms(), Ordering::Relaxed);
                if let Some(reason) = dead {
                    let attempts = claimed.attempts + tried;
                    self.dead_letter(&claimed, &reason, attempts).await;
                }
            }
            Ok(Recorded::Stale) => Said::Overtaken.log(&claimed, claimed.attempts + 1),
            // The lease will expire and the delivery be tried again: at-least-once.
            Err(e) => {
                error!(event_id = claimed.event_id.as_str(), rule = claimed.rule.as_str(), channel = claimed.channel.as_str(), delivery_id = claimed.delivery_id, error = %e, "cannot record a delivery's outcome")
            }
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
        self.metrics.panic("delivery");
        let attempt = self.begin(c);
        attempt.dead(
            &format!("internal error while preparing or sending this message (panic: {what}); please report it, then replay"),
            None,
        )
    }

    fn begin<'a>(&self, c: &'a Claimed) -> Try<'a> {
        Try {
            c,
            runtime: self.live.get(),
            number: c.attempts + 1,
            started_at: now_ms(),
            started: Instant::now(),
        }
    }

    async fn attempt(&self, c: &Claimed) -> Outcome {
        // One snapshot for the whole attempt, even if a reload lands meanwhile.
        let t = self.begin(c);
        let ready = match self.message(&t).await {
            Ok(ready) => ready,
            Err(outcome) => return outcome,
        };
        let notes = recipient_notes(&ready);
        for note in ready.truncated.iter().chain(&notes) {
            warn!(
                event_id = c.event_id.as_str(),
                rule = c.rule.as_str(),
                channel = c.channel.as_str(),
                "{note}"
            );
        }
        let Some(destination) = t.runtime.destinations.get(&c.channel) else {
            return t.dead(
                &format!("channel `{}` is no longer in the rules file", c.channel),
                None,
            );
        };
        let sent = self.kept(&t, destination.as_ref(), &ready);
        let mut outcome = match destination.send(&ready.outgoing).await {
            Ok(done) => self.delivered(&t, &ready, &notes, done).await,
            Err(e) => self.failed(&t, &e).await,
        };
        if let Some(a) = &mut outcome.attempt {
            a.sent = sent;
        }
        outcome.about = ready.about;
        outcome
    }

    /// The request about to be made, as kept with the attempt (cut and redacted); `None`
    /// when keeping it is off.
    fn kept(&self, t: &Try<'_>, destination: &dyn Destination, ready: &Ready) -> Option<String> {
        let limit = self.settings.keep_sent;
        (limit > 0).then(|| {
            destination
                .sent(&ready.outgoing)
                .stored(limit, &t.runtime.config.redactor)
        })
    }

    /// A send that succeeded: the destination is well, a conversation remembers where its
    /// message is.
    async fn delivered(
        &self,
        t: &Try<'_>,
        ready: &Ready,
        notes: &[String],
        done: Delivered,
    ) -> Outcome {
        let c = t.c;
        self.destinations
            .update(&c.channel, |d| d.succeeded(now_ms()));
        self.health(&c.channel, &c.event_type, None).await;
        if let Some(turn) = &ready.outgoing.conversation {
            self.remember(c, turn, &done).await;
        }
        let detail = t
            .runtime
            .config
            .redactor
            .redact(&with_notes(done.detail, notes));
        Outcome {
            attempt: Some(Box::new(t.attempt(
                AttemptOutcome::Sent,
                done.status,
                detail.clone(),
            ))),
            next: Some(Next::Sent),
            said: Said::Delivered {
                status: done.status,
                took_ms: millis(t.started.elapsed()),
                detail,
            },
            about: None,
        }
    }

    /// A send that failed: dead if permanent, else retried; a `Retry-After` also pauses the
    /// destination, and only it, for at most the channel's cap.
    async fn failed(&self, t: &Try<'_>, e: &SendError) -> Outcome {
        let reason = e.to_string();
        let shown = t.runtime.config.redactor.redact(&reason);
        self.health(&t.c.channel, &t.c.event_type, Some(&shown))
            .await;
        if let SendError::Permanent { status, .. } = e {
            return t.dead(&reason, *status);
        }
        let spec = t.runtime.config.channels.get(&t.c.channel);
        let asked = e
            .retry_after()
            .zip(spec)
            .map(|(wait, spec)| wait.min(spec.retry.max_retry_after));
        let (rest, first) = self
            .destinations
            .update(&t.c.channel, |d| (d.failed(now_ms()), d.rests == 1));
        if let Some(rest) = rest.filter(|_| first) {
            warn!(channel = %t.c.channel, rest_s = rest.as_secs(), "destination keeps failing: one delivery at a time tries it, with rests between, until one succeeds");
        }
        if let Some(wait) = asked.max(rest) {
            self.pause(&t.c.channel, wait).await;
        }
        t.retry(
            "delivery failed, will retry",
            &reason,
            e.status(),
            e.retry_after(),
        )
    }

    /// Nobody (of any instance) sends to the destination before the pause is over.
    async fn pause(&self, channel: &str, wait: Duration) {
        let until = now_ms().saturating_add(millis(wait));
        self.destinations.update(channel, |d| {
            d.paused_until = d.paused_until.max(until);
            d.ready_at = d.ready_at.max(until);
        });
        if let Err(e) = self.store.pause(channel.to_string(), until).await {
            warn!(channel, error = %e, "cannot record a destination's pause for the other instances");
        }
    }

    pub(super) fn enrichment_error(&self, kind: &'static str) {
        self.metrics
            .enrichment_errors
            .get_or_create(&EnrichLabels { kind })
            .inc();
    }
}

/// Recipients a message went without (no address, or outside `allowed_domains`).
fn recipient_notes(ready: &Ready) -> Vec<String> {
    ready
        .outgoing
        .recipients
        .as_deref()
        .map(|r| r.notes_text())
        .unwrap_or_default()
}

/// What the destination said, and who the message went without: the attempt's record.
fn with_notes(detail: String, notes: &[String]) -> String {
    if notes.is_empty() {
        detail
    } else {
        format!("{detail}; {}", notes.join("; "))
    }
}
