//! What joining a digest decides, the same on every backend: whether the claim still holds,
//! and what one more delivery does to the open digest. The backends only read and write rows.

use super::{Join, Joined, MAX_DIGEST_BYTES, Millis};

/// An open digest, as joining sees it.
pub(crate) struct Open {
    pub id: i64,
    pub opened_at: Millis,
    pub due_at: Millis,
    pub immediate_left: i64,
    pub size: i64,
    /// The bytes of the events collected.
    pub bytes: i64,
    /// The delivery that sends it, made when the first event joins it.
    pub delivery_id: Option<i64>,
}

impl Open {
    /// The digest just opened as `id` for the join's action and key.
    pub(crate) fn new(id: i64, j: &Join) -> Open {
        Open {
            id,
            opened_at: j.now,
            due_at: j.due_at,
            immediate_left: i64::from(j.immediate),
            size: 0,
            bytes: 0,
            delivery_id: None,
        }
    }

    /// The answer for a delivery that goes at once, as one of the digest's first.
    pub(crate) fn now(&self) -> Joined {
        Joined::Now {
            digest: self.id,
            opened_at: self.opened_at,
            due_at: self.due_at,
        }
    }

    /// One more delivery collected: the new size, and when the digest is due (at once when
    /// that made it full: `max` events, or [`MAX_DIGEST_BYTES`] of them).
    pub(crate) fn collect(&self, j: &Join) -> Collected {
        let size = self.size + 1;
        let bytes = self.bytes.saturating_add(j.bytes.max(0));
        let full = j.max.is_some_and(|m| size >= i64::from(m)) || bytes >= MAX_DIGEST_BYTES;
        Collected {
            digest: self.id,
            size,
            bytes,
            full,
            due_at: if full { j.now } else { self.due_at },
        }
    }
}

/// A digest after collecting one more delivery.
pub(crate) struct Collected {
    pub digest: i64,
    pub size: i64,
    pub bytes: i64,
    pub full: bool,
    pub due_at: Millis,
}

impl Collected {
    pub(crate) fn joined(&self) -> Joined {
        Joined::Waiting {
            digest: self.digest,
            due_at: self.due_at,
            size: self.size as u32,
        }
    }
}

/// Whether the claim is current, and whether the delivery already went at once for a digest
/// (a retry of it).
pub(crate) enum Admitted {
    Stale,
    Already(Joined),
    Not,
}

impl Admitted {
    /// From the delivery's row under the join's token, if any: its digest, and that digest's
    /// opening and due times.
    pub(crate) fn of(row: Option<(Option<i64>, Option<Millis>, Option<Millis>)>, j: &Join) -> Self {
        match row {
            None => Admitted::Stale,
            Some((Some(digest), opened_at, due_at)) => Admitted::Already(Joined::Now {
                digest,
                opened_at: opened_at.unwrap_or(j.now),
                due_at: due_at.unwrap_or(j.now),
            }),
            Some((None, _, _)) => Admitted::Not,
        }
    }
}
