//! The one call ingress makes: store an event with its deliveries. Deliveries that can go at
//! once (an unpaced channel, no SuperOffice data to fetch, room on the fast path) are leased in
//! the same commit and handed straight to the senders; the rest wait for a claim.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tracing::warn;

use super::Dispatcher;
use jiff::Timestamp;

use crate::event::Event;
use crate::rules::{Rule, RuleSet};
use crate::store::{Accepted, Claimed, Held, Millis, NewDelivery, NewEvent, Result};

/// How many deliveries may wait on the fast path. Small enough that they are sent long before
/// their lease runs out.
const FAST_ROOM: usize = 1024;

/// A delivery handed over on the fast path, with its room there.
type Handed = (Claimed, OwnedSemaphorePermit);

/// The fast path: fresh deliveries to unpaced channels, leased in the commit that stored them
/// and handed to the senders without a claim. An event that cannot reserve room here leaves
/// its deliveries to the claim loop.
pub(super) struct FastPath {
    room: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Handed>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Handed>>,
}

impl FastPath {
    pub(super) fn new() -> FastPath {
        let (tx, rx) = mpsc::unbounded_channel();
        FastPath {
            room: Arc::new(Semaphore::new(FAST_ROOM)),
            tx,
            rx: tokio::sync::Mutex::new(rx),
        }
    }
}

impl Dispatcher {
    /// Stores an event and its deliveries in one commit, and starts sending what can go at
    /// once. `config` is the snapshot the event was matched with.
    pub async fn accept(&self, config: &RuleSet, mut event: NewEvent) -> Result<Accepted> {
        let room = self.lease_fast(config, &mut event);
        let handed = if room.is_some() {
            fast_ones(&event)
        } else {
            Vec::new()
        };
        // Deliveries the fast path does not take wait for a claim: look for them now.
        let to_claim = event.deliveries.iter().any(|d| d.lease.is_none());
        let accepted = self.store.accept(event).await?;
        if let Accepted::Stored(ids) = &accepted {
            self.more_due(ids.len());
        }
        if let (Accepted::Stored(ids), Some(room)) = (&accepted, room) {
            self.hand_over(ids, handed, room);
        }
        if to_claim {
            self.wake();
        }
        Ok(accepted)
    }

    /// Leases the deliveries that may take the fast path, if there is room for them all.
    fn lease_fast(&self, config: &RuleSet, event: &mut NewEvent) -> Option<OwnedSemaphorePermit> {
        let fast: Vec<usize> = event
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, d)| self.may_go_at_once(config, &d.rule, d.action_index, &d.channel))
            .map(|(i, _)| i)
            .collect();
        let n = u32::try_from(fast.len()).ok().filter(|n| *n > 0)?;
        let room = self.fast.room.clone().try_acquire_many_owned(n).ok()?;
        let lease = self.lease(event.received_at);
        for i in fast {
            event.deliveries[i].lease = Some(lease.clone());
        }
        Some(room)
    }

    /// Unpaced, and needing nothing from the SuperOffice API: no API call ever starts before
    /// SuperOffice has its 200.
    fn may_go_at_once(&self, config: &RuleSet, rule: &str, index: u32, channel: &str) -> bool {
        let unpaced = config
            .channels
            .get(channel)
            .is_some_and(|c| c.pace.is_none());
        let needs_api = config.superoffice.is_some()
            && config
                .action(rule, index, channel)
                .is_ok_and(|(_, a)| !a.needs.is_empty());
        unpaced && !needs_api
    }

    /// Gives the stored, leased deliveries to the fast path.
    fn hand_over(
        &self,
        ids: &[i64],
        handed: Vec<(usize, Claimed)>,
        mut room: OwnedSemaphorePermit,
    ) {
        for (i, mut claimed) in handed {
            let (Some(id), Some(one)) = (ids.get(i), room.split(1)) else {
                break;
            };
            claimed.delivery_id = *id;
            let _ = self.fast.tx.send((claimed, one));
        }
    }

    /// Sends what was handed over, as slots free up. A delivery for a destination that asked
    /// for a pause goes back to the store, to be claimed when the pause is over.
    pub(super) async fn fast_path(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut rx = self.fast.rx.lock().await;
        loop {
            let (claimed, room): Handed = tokio::select! {
                item = rx.recv() => match item { Some(i) => i, None => return },
                _ = stop.changed() => break,
            };
            if self.held_back(&claimed.channel) {
                self.give_back(vec![claimed.held()]).await;
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
            left.push(c.held());
        }
        self.give_back(left).await;
    }

    pub(super) async fn give_back(&self, leases: Vec<Held>) {
        let n = leases.len();
        if let Err(e) = self.store.release(leases).await {
            warn!(deliveries = n, error = %e, "cannot release leases; they are claimed again when they run out");
        }
        self.wake();
    }
}

/// An event to store, with one delivery per action of each matched rule.
pub fn planned(
    event: &Event,
    matched: &[&Rule],
    body: Arc<str>,
    received_at: Timestamp,
    dedup_window_ms: Millis,
) -> NewEvent {
    planned_with_headers(event, matched, body, received_at, dedup_window_ms, None)
}

/// [`planned`], with the request's headers (a JSON object) kept for the status page.
pub fn planned_with_headers(
    event: &Event,
    matched: &[&Rule],
    body: Arc<str>,
    received_at: Timestamp,
    dedup_window_ms: Millis,
    headers: Option<String>,
) -> NewEvent {
    let deliveries = matched
        .iter()
        .flat_map(|rule| {
            rule.notify
                .iter()
                .enumerate()
                .map(|(i, action)| NewDelivery {
                    rule: rule.name.clone(),
                    action_index: i as u32,
                    channel: action.channel.clone(),
                    lease: None,
                })
        })
        .collect();
    NewEvent {
        event_id: event.id().to_string(),
        headers,
        event_type: event.name().to_string(),
        received_at: received_at.as_millisecond(),
        body,
        matched_rules: matched.iter().map(|r| r.name.clone()).collect(),
        about: crate::event::about::about(event.fields()),
        deliveries,
        dedup_window_ms,
        content_key: Some(event.content_key()),
    }
}

/// The leased deliveries of an event, as the senders take them (ids filled in once stored).
fn fast_ones(event: &NewEvent) -> Vec<(usize, Claimed)> {
    event
        .deliveries
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i, d, d.lease.as_ref()?.token)))
        .map(|(i, d, token)| {
            let claimed = Claimed {
                delivery_id: 0,
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                rule: d.rule.clone(),
                action_index: d.action_index,
                channel: d.channel.clone(),
                attempts: 0,
                round_started_at: event.received_at,
                received_at: event.received_at,
                body: event.body.clone(),
                token,
                digest_of: None,
            };
            (i, claimed)
        })
        .collect()
}
