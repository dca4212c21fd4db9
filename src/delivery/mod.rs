//! From matched rule to sent message: the queue between matching and sending, rendering, and
//! the one retry loop.
//!
//! The queue lives in memory: a bounded number of jobs in flight, each its own task, with a
//! separate bound on how many sends run at once. A task waiting out a backoff holds no send
//! slot. When the queue is full the webhook answers 503, so SuperOffice tries again rather
//! than herald dropping what it acknowledged.

pub mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

use crate::channels::{self, Destination, Outgoing, SendError};
use crate::event::Event;
use crate::render::context::TemplateContext;
use crate::rules::{Action, Config};
use retry::{Decision, RetryPolicy, decide};

/// One message to deliver: an action of a rule that matched an event.
#[derive(Debug, Clone)]
pub struct Job {
    pub event: Arc<Event>,
    pub rule: String,
    pub action: Action,
    pub received_at: Timestamp,
}

/// Renders and sends jobs, retrying what is worth retrying.
pub struct Deliverer {
    config: Arc<Config>,
    destinations: HashMap<String, Arc<dyn Destination>>,
    policy: RetryPolicy,
    sends: Semaphore,
}

impl Deliverer {
    pub fn new(
        config: Arc<Config>,
        policy: RetryPolicy,
        concurrency: usize,
    ) -> Result<Self, channels::BuildError> {
        let client = channels::http_client();
        let destinations = config
            .channels
            .iter()
            .map(|(name, spec)| Ok((name.clone(), channels::build(spec, &client)?)))
            .collect::<Result<_, channels::BuildError>>()?;
        Ok(Deliverer {
            config,
            destinations,
            policy,
            sends: Semaphore::new(concurrency.max(1)),
        })
    }

    /// Renders the job's message. A failure here is permanent: the same event renders the
    /// same way next time.
    fn render(&self, job: &Job) -> Result<Outgoing, String> {
        let ctx = TemplateContext::new(&job.event, &job.rule, job.received_at);
        let rendered = job
            .action
            .template
            .render(&self.config.renderer, &ctx)
            .map_err(|e| e.to_string())?;
        for note in &rendered.truncated {
            warn!(event_id = job.event.id(), rule = %job.rule, channel = %job.action.channel, "{note}");
        }
        Ok(Outgoing {
            message: rendered.message,
            event_id: job.event.id().to_string(),
            rule: job.rule.clone(),
            to: job.action.to.clone(),
        })
    }

    /// Delivers one job to the end: sent, failed for good, or out of retries.
    pub async fn deliver(&self, job: Job) {
        let channel = job.action.channel.as_str();
        let event_id = job.event.id();
        let rule = job.rule.as_str();
        let redact = |s: &str| self.config.redactor.redact(s);
        let outgoing = match self.render(&job) {
            Ok(o) => o,
            Err(reason) => {
                error!(event_id, event = job.event.name(), rule, channel, reason = %redact(&reason), "delivery failed permanently: cannot render the message");
                return;
            }
        };
        let Some(destination) = self.destinations.get(channel) else {
            error!(
                event_id,
                rule, channel, "delivery failed permanently: unknown channel"
            );
            return;
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            let result = {
                let _slot = self
                    .sends
                    .acquire()
                    .await
                    .expect("the send semaphore is never closed");
                destination.send(&outgoing).await
            };
            let took_ms = started.elapsed().as_millis() as u64;
            let error = match result {
                Ok(done) => {
                    info!(event_id, event = job.event.name(), rule, channel, attempt = attempts, status = done.status, took_ms, detail = %redact(&done.detail), "delivered");
                    return;
                }
                Err(e) => e,
            };
            let reason = redact(&error.to_string());
            if let SendError::Permanent { status, .. } = &error {
                error!(event_id, event = job.event.name(), rule, channel, attempt = attempts, status, took_ms, reason = %reason, "delivery failed permanently");
                return;
            }
            match decide(&self.policy, attempts, error.retry_after(), fastrand::f64()) {
                Decision::RetryIn(wait) => {
                    warn!(event_id, rule, channel, attempt = attempts, status = error.status(), took_ms, retry_in_ms = wait.as_millis() as u64, reason = %reason, "delivery failed, will retry");
                    tokio::time::sleep(wait).await;
                }
                Decision::GiveUp => {
                    error!(event_id, event = job.event.name(), rule, channel, attempt = attempts, status = error.status(), reason = %reason, "delivery failed permanently: out of retries");
                    return;
                }
            }
        }
    }
}

/// The in-memory queue: accepts jobs while it has room, each job a task.
#[derive(Clone)]
pub struct Queue {
    deliverer: Arc<Deliverer>,
    room: Arc<Semaphore>,
    capacity: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the delivery queue is full ({0} messages in flight)")]
pub struct QueueFull(pub usize);

impl Queue {
    pub fn new(deliverer: Arc<Deliverer>, capacity: usize) -> Self {
        Queue {
            deliverer,
            room: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Takes all the jobs or none, so an event is never half-queued.
    pub fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueFull> {
        if jobs.is_empty() {
            return Ok(());
        }
        let n = u32::try_from(jobs.len()).map_err(|_| QueueFull(self.capacity))?;
        let permits = self
            .room
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| QueueFull(self.capacity))?;
        let mut permits = Some(permits);
        for job in jobs {
            let permit = permits.as_mut().and_then(|p| p.split(1));
            let deliverer = self.deliverer.clone();
            tokio::spawn(async move {
                deliverer.deliver(job).await;
                drop(permit);
            });
        }
        Ok(())
    }

    /// Waits until every job has finished, or `within` has passed. True if all finished.
    pub async fn drain(&self, within: Duration) -> bool {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        tokio::time::timeout(within, self.room.acquire_many(all))
            .await
            .is_ok()
    }

    /// Jobs not yet finished.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.room.available_permits()
    }
}
