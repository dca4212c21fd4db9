//! Storing accepted events and their deliveries, on the writer's thread: one cached statement
//! per row, each a plain call into SQLite.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Transaction};

use crate::store::{Accepted, CONTENT_WINDOW_MS, NewDelivery, NewEvent, Result};

/// Stores the batch's events and their deliveries; one answer per event, in order. Within a
/// batch, a second copy of an id is a duplicate of the first.
pub(super) fn accept(tx: &Transaction, events: &[NewEvent]) -> Result<Vec<Accepted>> {
    let mut seen = HashSet::new();
    events
        .iter()
        .map(|e| match seen.insert(e.event_id.as_str()) {
            true => accept_one(tx, e),
            false => Ok(Accepted::Duplicate),
        })
        .collect()
}

fn accept_one(tx: &Transaction, e: &NewEvent) -> Result<Accepted> {
    if !new_content(tx, e)? || !insert_event(tx, e)? {
        return Ok(Accepted::Duplicate);
    }
    let ids = e
        .deliveries
        .iter()
        .map(|d| insert_delivery(tx, e, d))
        .collect::<Result<Vec<i64>>>()?;
    Ok(Accepted::Stored(ids))
}

/// Inserts an event; false if it is a duplicate. A new id inserts; an id older than the
/// dedup window is replaced; an id seen within the window changes nothing.
fn insert_event(tx: &Transaction, e: &NewEvent) -> Result<bool> {
    let matched = serde_json::Value::from(e.matched_rules.clone()).to_string();
    let stored: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO events (event_id, event_type, received_at, body, matched_rules, headers, about)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8)
             ON CONFLICT (event_id) DO UPDATE SET event_type = excluded.event_type,
               received_at = excluded.received_at, body = excluded.body,
               matched_rules = excluded.matched_rules, headers = excluded.headers,
               about = excluded.about
             WHERE events.received_at < excluded.received_at - ?7
             RETURNING 1",
        )?
        .query_row(
            (
                &e.event_id,
                &e.event_type,
                e.received_at,
                &*e.body,
                matched,
                e.headers.as_deref(),
                e.dedup_window_ms,
                e.about.as_deref(),
            ),
            |r| r.get(0),
        )
        .optional()?;
    Ok(stored.is_some())
}

/// Remembers the event's content; false if another EventId brought the same content within
/// [`CONTENT_WINDOW_MS`]. The same EventId again is left to [`insert_event`].
fn new_content(tx: &Transaction, e: &NewEvent) -> Result<bool> {
    let Some(key) = &e.content_key else {
        return Ok(true);
    };
    let stored: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO event_contents (content_key, event_id, received_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (content_key) DO UPDATE SET event_id = excluded.event_id,
               received_at = excluded.received_at
             WHERE event_contents.event_id = excluded.event_id
                OR event_contents.received_at < excluded.received_at - ?4
             RETURNING 1",
        )?
        .query_row((key, &e.event_id, e.received_at, CONTENT_WINDOW_MS), |r| {
            r.get(0)
        })
        .optional()?;
    Ok(stored.is_some())
}

/// Inserts one delivery of a freshly stored event; its id. Leased from the start when this
/// process sends it straight away: while leased, it is due when the lease runs out.
fn insert_delivery(tx: &Transaction, e: &NewEvent, d: &NewDelivery) -> Result<i64> {
    let lease = d.lease.as_ref();
    let at = e.received_at;
    let id = tx
        .prepare_cached(
            "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,
               next_attempt_at, lease_until, lease_owner, lease_token, created_at,
               round_started_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?7, ?8, ?9, ?9, ?9)
             RETURNING id",
        )?
        .query_row(
            (
                &e.event_id,
                &d.rule,
                d.action_index,
                &d.channel,
                lease.map_or(at, |l| l.until),
                lease.map(|l| l.until),
                lease.map(|l| l.owner.as_ref()),
                lease.map(|l| l.token),
                at,
            ),
            |r| r.get(0),
        )?;
    Ok(id)
}
