//! Recording outcomes, only under the current claim token: a delivery whose lease ran out and
//! was claimed again cannot have its result overwritten by the slower claim.

use rusqlite::{OptionalExtension, Transaction};

use crate::store::{Attempt, Millis, Next, Record, Recorded, Result, now_ms};

/// Records outcomes whose claim is still current, each with its attempt; a sent digest takes
/// the deliveries it collected with it. One answer per record.
pub(super) fn record(tx: &Transaction, records: &[Record]) -> Result<Vec<Recorded>> {
    let now = now_ms();
    records.iter().map(|r| record_one(tx, r, now)).collect()
}

fn record_one(tx: &Transaction, r: &Record, now: Millis) -> Result<Recorded> {
    let current = match &r.next {
        Next::Sent => mark_sent(tx, r, now)?,
        _ => mark_unsent(tx, r, now)?,
    };
    if !current {
        return Ok(Recorded::Stale);
    }
    if let Some(a) = &r.attempt {
        insert_attempt(tx, r.delivery_id, a)?;
    }
    if let Some(about) = &r.about {
        describe(tx, r.delivery_id, about)?;
    }
    Ok(Recorded::Done)
}

/// The line of the delivery's event, when `about` says more (is longer) than the one kept.
pub(super) fn describe(tx: &Transaction, delivery_id: i64, about: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE events SET about = ?1
         WHERE event_id = (SELECT event_id FROM deliveries WHERE id = ?2)
           AND (about IS NULL OR length(about) < length(?1))",
    )?
    .execute((about, delivery_id))?;
    Ok(())
}

/// Marks the delivery sent, and when it is a digest's, the deliveries that digest collected
/// with it; false if the claim is no longer current.
fn mark_sent(tx: &Transaction, r: &Record, now: Millis) -> Result<bool> {
    let digest_of: Option<Option<i64>> = tx
        .prepare_cached(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL,
               lease_owner = NULL, lease_token = NULL, updated_at = ?1
             WHERE id = ?2 AND lease_token = ?3
             RETURNING digest_of",
        )?
        .query_row((now, r.delivery_id, r.token), |row| row.get(0))
        .optional()?;
    if let Some(Some(digest)) = digest_of {
        members_sent(tx, digest, now)?;
    }
    Ok(digest_of.is_some())
}

/// A retry, a dead letter, a skip or a hold: the new state, when next, and why. False if the claim is
/// no longer current.
fn mark_unsent(tx: &Transaction, r: &Record, now: Millis) -> Result<bool> {
    let tried = i64::from(r.attempt.is_some());
    let (next_at, error) = match &r.next {
        Next::RetryAt(at) => (Some(*at), r.attempt.as_ref().map(|a| a.detail.as_str())),
        Next::Dead(reason) | Next::Skipped(reason) => (None, Some(reason.as_str())),
        Next::Held(until) => (Some(*until), None),
        Next::Sent => return Ok(false),
    };
    let changed = tx
        .prepare_cached(
            "UPDATE deliveries SET status = ?1, attempts = attempts + ?2,
               next_attempt_at = COALESCE(?3, next_attempt_at), lease_until = NULL,
               lease_owner = NULL, lease_token = NULL,
               last_error = COALESCE(?4, last_error), updated_at = ?5
             WHERE id = ?6 AND lease_token = ?7",
        )?
        .execute((
            r.next.status().as_str(),
            tried,
            next_at,
            error,
            now,
            r.delivery_id,
            r.token,
        ))?;
    Ok(changed == 1)
}

fn insert_attempt(tx: &Transaction, delivery_id: i64, a: &Attempt) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code, detail, sent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        delivery_id,
        a.started_at,
        a.duration_ms,
        a.outcome.as_str(),
        a.status_code,
        &a.detail,
        &a.sent,
    ))?;
    Ok(())
}

/// The deliveries digest `digest` collected are sent with it.
fn members_sent(tx: &Transaction, digest: i64, now: Millis) -> Result<()> {
    tx.prepare_cached(
        "UPDATE deliveries SET status = 'sent', updated_at = ?1
         WHERE status = 'digest' AND digest_id = ?2",
    )?
    .execute((now, digest))?;
    Ok(())
}
