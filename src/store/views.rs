//! What people look at (the status page, `herald events` and `herald deliveries`): events,
//! deliveries, attempts and the overview, how to filter them, and which to queue again.

use serde::Serialize;

use super::{AttemptOutcome, Counts, DeliveryStatus, Millis};

/// Which deliveries to queue again.
#[derive(Debug, Clone)]
pub enum Replay {
    Ids(Vec<i64>),
    /// Every dead letter, of one channel if given.
    Dead {
        channel: Option<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub limit: u32,
    pub event_type: Option<String>,
    /// An EventId, PrimaryKey or ContextIdentifier, exactly, or words of the event's line
    /// (`about`), in any case.
    pub search: Option<String>,
    /// Events with a delivery in this state.
    pub state: Option<DeliveryStatus>,
    /// Received at or after this.
    pub since: Option<Millis>,
    /// Received before this.
    pub until: Option<Millis>,
    /// Older than this event (received at, EventId): the next page.
    pub before: Option<(Millis, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// What it is about, in a line, when known.
    pub about: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub received_at: Millis,
    pub matched_rules: Vec<String>,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this delivery.
    pub id: Option<i64>,
    pub status: Option<DeliveryStatus>,
    pub event_id: Option<String>,
    pub channel: Option<String>,
    pub limit: u32,
    /// Older than this delivery id: the next page.
    pub before: Option<i64>,
}

/// One event as the status page shows it: with its body and headers.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    pub row: EventRow,
    pub body: String,
    pub headers: Option<String>,
}

/// The status page's overview, from the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overview {
    pub events_hour: u64,
    pub unmatched_hour: u64,
    pub events_day: u64,
    pub unmatched_day: u64,
    pub channels: Vec<ChannelStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelStats {
    pub channel: String,
    pub counts: Counts,
    pub last_sent: Option<Millis>,
    /// When, and why.
    pub last_failure: Option<(Millis, String)>,
    pub paused_until: Option<Millis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub rule: String,
    pub channel: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Waiting in (or sent with) this digest.
    pub digest_id: Option<i64>,
    /// This delivery sends this digest.
    pub digest_of: Option<i64>,
    pub attempt_log: Vec<AttemptRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub started_at: Millis,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<i64>,
    pub detail: String,
    /// What was sent, when it was kept: the JSON `channels::sent::Sent` wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<serde_json::Value>,
}
