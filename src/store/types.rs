//! What goes into the store and what comes out.

use std::sync::Arc;

use serde::Serialize;

use super::{DeliveryStatus, Millis};

/// An event to record, with the deliveries its matched rules make.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    /// The request's headers that say what it was (JSON object), for the status page.
    pub headers: Option<String>,
    pub event_type: String,
    pub received_at: Millis,
    pub body: Arc<str>,
    pub matched_rules: Vec<String>,
    /// What the event is about, in a line ([`crate::event::about`]), for the status page.
    pub about: Option<String>,
    pub deliveries: Vec<NewDelivery>,
    /// An event with the same id received within this many milliseconds is a duplicate.
    pub dedup_window_ms: Millis,
    /// [`crate::event::Event::content_key`]: an event with the same content and another id
    /// received within [`CONTENT_WINDOW_MS`] is a duplicate too.
    pub content_key: Option<String>,
}

/// How long an event's content is remembered, so that SuperOffice's next cycle of retries (a
/// new EventId for the same event) is not delivered again.
pub const CONTENT_WINDOW_MS: Millis = 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub rule: String,
    pub action_index: u32,
    pub channel: String,
    /// Leased from the start when this process will send it straight away.
    pub lease: Option<Lease>,
}

/// A claimed delivery to give back: its id and its claim's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub delivery_id: i64,
    pub token: i64,
}

/// A claim on deliveries: who holds it, with which token, until when. Only the holder of the
/// current token can record an outcome; when the holder stops heartbeating, or the lease runs
/// out, the deliveries are due again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: Arc<str>,
    pub token: i64,
    pub until: Millis,
}

impl Lease {
    /// A fresh lease with a random token.
    pub fn new(owner: Arc<str>, until: Millis) -> Lease {
        Lease {
            owner,
            token: fastrand::i64(1..i64::MAX),
            until,
        }
    }
}

/// What accepting an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored; the new deliveries' ids, in the order given.
    Stored(Vec<i64>),
    /// An event with this id was received within the dedup window: nothing stored.
    Duplicate,
}

/// Lease up to `limit` due deliveries of `channel`, if the destination's pace and pause allow.
#[derive(Debug, Clone)]
pub struct Claim {
    pub channel: String,
    pub limit: u32,
    pub now: Millis,
    pub lease: Lease,
    /// The destination's pace: at most one message per this many milliseconds, across every
    /// instance. `None` is unpaced.
    pub spacing: Option<Millis>,
}

/// What a claim got, and when the destination takes the next one.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub deliveries: Vec<Claimed>,
    /// The destination asked for a pause (429) until then; 0 if not.
    pub paused_until: Millis,
    /// The earliest another claim for this channel can get anything: its pace or its pause.
    pub ready_at: Millis,
}

/// A delivery leased to this worker, with its event.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub event_id: String,
    /// The event's name, such as `quote.ordered`, for logs.
    pub event_type: String,
    pub rule: String,
    pub action_index: u32,
    pub channel: String,
    pub attempts: u32,
    /// When the current round of retries began: creation, or the last replay.
    pub round_started_at: Millis,
    pub received_at: Millis,
    pub body: Arc<str>,
    /// The claim's token: recording needs it.
    pub token: i64,
    /// This is the delivery of digest N: it sends what was collected there.
    pub digest_of: Option<i64>,
}

impl Claimed {
    /// The claim, to give back unsent.
    pub fn held(&self) -> Held {
        Held {
            delivery_id: self.delivery_id,
            token: self.token,
        }
    }
}

/// An attempt's outcome, to record.
#[derive(Debug, Clone)]
pub struct Record {
    pub delivery_id: i64,
    /// The token of the claim the attempt was made under.
    pub token: i64,
    /// What happened, if anything was tried (a delivery retired without trying has none).
    pub attempt: Option<Attempt>,
    pub next: Next,
    /// What the delivery's event is about, as its enriched data says it: kept as the event's
    /// line when it says more than the one kept ([`crate::event::about`]).
    pub about: Option<String>,
}

/// What happened in one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: Millis,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    pub detail: String,
    /// The request made, as [`crate::channels::sent::Sent`] keeps it (cut and redacted);
    /// `None` when nothing was sent or keeping it is off.
    pub sent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    Sent,
    Retry,
    Failed,
    /// Queued again by a person (`herald replay`, the status page).
    Replayed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Replayed => "replayed",
        }
    }

    pub fn parse(s: &str) -> Option<AttemptOutcome> {
        [
            AttemptOutcome::Sent,
            AttemptOutcome::Retry,
            AttemptOutcome::Failed,
            AttemptOutcome::Replayed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A claimed delivery of an action with `digest:` or `throttle:`, for its digest.
#[derive(Debug, Clone)]
pub struct Join {
    pub delivery_id: i64,
    pub token: i64,
    pub event_id: String,
    pub rule: String,
    pub action_index: u32,
    pub channel: String,
    /// The digest's key, rendered for this event.
    pub key: String,
    pub now: Millis,
    /// If a new digest opens: when it is due, how many of it go at once (`first: now`,
    /// `throttle: at_most`), and how many it collects at most before it is due at once.
    pub due_at: Millis,
    pub immediate: u32,
    pub max: Option<u32>,
    /// The size of the event's body: a digest is due at once past [`MAX_DIGEST_BYTES`].
    pub bytes: i64,
    /// As [`Record::about`].
    pub about: Option<String>,
}

/// The most event bytes one digest collects: past it the digest is due at once, whatever its
/// `max`, so that no digest holds and renders without bound.
pub const MAX_DIGEST_BYTES: i64 = 4 * 1024 * 1024;

/// What joining came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// Send it now, as a message of its own (counted in digest `digest`).
    Now {
        digest: i64,
        opened_at: Millis,
        due_at: Millis,
    },
    /// It waits in digest `digest`, due then, with `size` collected so far.
    Waiting {
        digest: i64,
        due_at: Millis,
        size: u32,
    },
    /// The claim was overtaken: nothing changed.
    Stale,
}

/// A digest and the deliveries collected in it, for its message.
#[derive(Debug, Clone)]
pub struct DigestContent {
    pub id: i64,
    pub key: String,
    pub opened_at: Millis,
    pub due_at: Millis,
    pub members: Vec<Member>,
}

/// A delivery collected in a digest, with its event.
#[derive(Debug, Clone)]
pub struct Member {
    pub delivery_id: i64,
    pub event_id: String,
    pub received_at: Millis,
    pub body: Arc<str>,
}

/// What recording came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Done,
    /// The claim was no longer the current one (its lease ran out or was released, and another
    /// claim took the delivery): nothing was changed.
    Stale,
}

/// A running herald, as it registers itself.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: Arc<str>,
    pub started_at: Millis,
    /// Host and process, for people.
    pub info: String,
}

impl Instance {
    pub fn new() -> Instance {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let pid = std::process::id();
        Instance {
            id: format!("{host}-{pid}-{:08x}", fastrand::u32(..)).into(),
            started_at: super::now_ms(),
            info: format!("{host}, pid {pid}, herald {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl Default for Instance {
    fn default() -> Self {
        Instance::new()
    }
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone)]
pub enum Next {
    Sent,
    RetryAt(Millis),
    Dead(String),
    /// The rule's enriched conditions did not hold: nothing to send.
    Skipped(String),
    /// Outside working hours: due again when they open.
    Held(Millis),
}

impl Next {
    pub fn status(&self) -> DeliveryStatus {
        match self {
            Next::Sent => DeliveryStatus::Sent,
            Next::RetryAt(_) => DeliveryStatus::Retrying,
            Next::Dead(_) => DeliveryStatus::Dead,
            Next::Skipped(_) => DeliveryStatus::Skipped,
            Next::Held(_) => DeliveryStatus::Held,
        }
    }
}
