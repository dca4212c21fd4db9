//! The states a delivery goes through, as one type for the store, the CLI, metrics and logs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not tried yet (or replayed).
    Pending,
    /// Tried and failed; due again at `next_attempt_at`.
    Retrying,
    Sent,
    /// Failed for good: a dead letter, replayable.
    Dead,
    /// The rule's conditions on enriched fields did not hold: nothing to send.
    Skipped,
    /// Outside the action's working hours: sent when they open.
    Held,
    /// Waiting in a digest, sent with it.
    Digest,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 7] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Sent,
        DeliveryStatus::Dead,
        DeliveryStatus::Skipped,
        DeliveryStatus::Held,
        DeliveryStatus::Digest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Held => "held",
            DeliveryStatus::Digest => "digest",
        }
    }

    /// Still to be sent: a claim picks it up when due (or its digest sends it).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Pending
                | DeliveryStatus::Retrying
                | DeliveryStatus::Held
                | DeliveryStatus::Digest
        )
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown delivery status {0:?}: one of pending, retrying, sent, dead, skipped, held, digest"
)]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// Deliveries by state, every state present (zero when none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counts(BTreeMap<DeliveryStatus, u64>);

impl Default for Counts {
    fn default() -> Self {
        Counts(DeliveryStatus::ALL.into_iter().map(|s| (s, 0)).collect())
    }
}

impl Counts {
    pub fn set(&mut self, status: DeliveryStatus, n: u64) {
        self.0.insert(status, n);
    }

    pub fn get(&self, status: DeliveryStatus) -> u64 {
        self.0.get(&status).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (DeliveryStatus, u64)> + '_ {
        self.0.iter().map(|(s, n)| (*s, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_what_they_write() {
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>(), Ok(s));
        }
        assert!("sending".parse::<DeliveryStatus>().is_err());
        assert_eq!(Counts::default().iter().count(), DeliveryStatus::ALL.len());
    }
}
