//! What this instance knows of each destination: when the store says it may be claimed again
//! (pace), until when it asked for a pause (a 429's `Retry-After`), and how its last sends went
//! (the circuit that lets one delivery at a time try a destination that keeps failing).

use std::collections::HashMap;

use parking_lot::Mutex;

use super::retry;
use crate::store::{Millis, millis};

/// What this instance knows of a destination from its last claim: when it may be claimed
/// again (pace), and until when it asked for a pause.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Destination {
    pub(super) ready_at: Millis,
    pub(super) paused_until: Millis,
    /// Failed attempts in a row, in this process: the circuit is open from
    /// [`retry::CIRCUIT_AFTER`] on.
    failures: u32,
    /// Rests taken since the circuit opened, and when the current one ends.
    pub(super) rests: u32,
    pub(super) rest_until: Millis,
}

impl Destination {
    pub(super) fn open(&self) -> bool {
        self.failures >= retry::CIRCUIT_AFTER
    }

    /// One more failed attempt: the rest to take now, if the circuit is open and not resting.
    pub(super) fn failed(&mut self, now: Millis) -> Option<std::time::Duration> {
        self.failures = self.failures.saturating_add(1);
        if !self.open() || now < self.rest_until {
            return None;
        }
        let rest = retry::circuit_pause(self.rests);
        self.rests = self.rests.saturating_add(1);
        self.rest_until = now.saturating_add(millis(rest));
        Some(rest)
    }

    /// A success closes the circuit; a destination that was resting may be claimed at once.
    pub(super) fn succeeded(&mut self, now: Millis) {
        if self.open() {
            self.ready_at = self.ready_at.min(now);
        }
        (self.failures, self.rests, self.rest_until) = (0, 0, 0);
    }
}

/// Every destination this instance has claimed from or sent to.
#[derive(Default)]
pub(super) struct Destinations(Mutex<HashMap<String, Destination>>);

impl Destinations {
    pub(super) fn get(&self, channel: &str) -> Destination {
        self.0.lock().get(channel).copied().unwrap_or_default()
    }

    /// Whether deliveries to `channel` must wait for a claim: paused, or its circuit open.
    pub(super) fn paused(&self, channel: &str, now: Millis) -> bool {
        let d = self.get(channel);
        d.paused_until > now || d.open()
    }

    /// Changes what is known of `channel`, and says what came of it.
    pub(super) fn update<T>(&self, channel: &str, change: impl FnOnce(&mut Destination) -> T) -> T {
        let mut all = self.0.lock();
        change(all.entry(channel.to_string()).or_default())
    }

    /// The soonest time after `now` that a destination may be claimed again.
    pub(super) fn next_ready(&self, now: Millis) -> Option<Millis> {
        self.0
            .lock()
            .values()
            .map(|d| d.ready_at)
            .filter(|at| *at > now)
            .min()
    }
}
