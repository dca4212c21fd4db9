//! Claims: as many due deliveries of a channel as asked and as its pace and any pause allow,
//! leased under a fresh token.

use std::collections::HashMap;

use rusqlite::{Row, Transaction};

use crate::store::{Claim, Claimed, Claims, Millis, Result, pace};

/// Leases due deliveries of one channel, inside the batch's transaction, as far as the
/// destination's pace and pause allow.
pub(super) fn claim(tx: &Transaction, c: &Claim) -> Result<Claims> {
    let (next_allowed, paused_until) = destination(tx, &c.channel)?;
    if paused_until > c.now {
        return Ok(Claims {
            deliveries: Vec::new(),
            paused_until,
            ready_at: paused_until,
        });
    }
    let allowed = pace::allowance(next_allowed, c.now, c.spacing, c.limit);
    let deliveries = if allowed > 0 {
        lease(tx, c, allowed)?
    } else {
        Vec::new()
    };
    let next = pace::after(next_allowed, c.now, c.spacing, deliveries.len() as u32);
    if next != next_allowed {
        tx.prepare_cached("UPDATE destinations SET next_allowed_at = ?1 WHERE channel = ?2")?
            .execute((next, &c.channel))?;
    }
    Ok(Claims {
        deliveries,
        paused_until,
        ready_at: next,
    })
}

/// A destination's pacing and pause, its row made if it has none.
fn destination(tx: &Transaction, channel: &str) -> Result<(Millis, Millis)> {
    tx.prepare_cached(
        "INSERT INTO destinations (channel) VALUES (?1) ON CONFLICT (channel) DO NOTHING",
    )?
    .execute([channel])?;
    let row = tx
        .prepare_cached(
            "SELECT next_allowed_at, paused_until FROM destinations WHERE channel = ?1",
        )?
        .query_row([channel], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(row)
}

/// A leased delivery as the update returns it, before its event is read.
struct Leased {
    delivery_id: i64,
    event_id: String,
    rule: String,
    action_index: u32,
    channel: String,
    attempts: u32,
    round_started_at: Millis,
    digest_of: Option<i64>,
}

impl Leased {
    /// The claimed delivery, with its event's type, body and arrival.
    fn claimed(self, (event_type, body, received_at): EventParts, token: i64) -> Claimed {
        Claimed {
            delivery_id: self.delivery_id,
            event_id: self.event_id,
            event_type,
            rule: self.rule,
            action_index: self.action_index,
            channel: self.channel,
            attempts: self.attempts,
            round_started_at: self.round_started_at,
            received_at,
            body,
            token,
            digest_of: self.digest_of,
        }
    }

    fn from_row(r: &Row) -> rusqlite::Result<Leased> {
        Ok(Leased {
            delivery_id: r.get(0)?,
            event_id: r.get(1)?,
            rule: r.get(2)?,
            action_index: r.get(3)?,
            channel: r.get(4)?,
            attempts: r.get(5)?,
            round_started_at: r.get(6)?,
            digest_of: r.get(7)?,
        })
    }
}

fn lease(tx: &Transaction, c: &Claim, limit: u32) -> Result<Vec<Claimed>> {
    let leased = tx
        .prepare_cached(
            "UPDATE deliveries SET lease_until = ?1, next_attempt_at = ?1, lease_owner = ?2,
               lease_token = ?3
             WHERE id IN (
               SELECT id FROM deliveries
               WHERE channel = ?4 AND status IN ('pending', 'retrying', 'held') AND next_attempt_at <= ?5
               ORDER BY next_attempt_at, id LIMIT ?6)
             RETURNING id, event_id, rule, action_index, channel, attempts, round_started_at, digest_of",
        )?
        .query_map(
            (
                c.lease.until,
                c.lease.owner.as_ref(),
                c.lease.token,
                &c.channel,
                c.now,
                limit,
            ),
            Leased::from_row,
        )?
        .collect::<rusqlite::Result<Vec<Leased>>>()?;
    // Each event read once, however many of its deliveries were leased.
    let mut events: HashMap<String, Option<EventParts>> = HashMap::new();
    let mut claimed = Vec::with_capacity(leased.len());
    for l in leased {
        let parts = match events.get(&l.event_id) {
            Some(parts) => parts.clone(),
            None => {
                let parts = event(tx, &l.event_id)?;
                events.insert(l.event_id.clone(), parts.clone());
                parts
            }
        };
        if let Some(parts) = parts {
            claimed.push(l.claimed(parts, c.lease.token));
        }
    }
    claimed.sort_by_key(|c| c.delivery_id);
    close_digests(tx, &claimed)?;
    Ok(claimed)
}

type EventParts = (String, std::sync::Arc<str>, Millis);

/// The type, body and arrival of a claimed delivery's event.
fn event(tx: &Transaction, id: &str) -> Result<Option<EventParts>> {
    use rusqlite::OptionalExtension;
    Ok(tx
        .prepare_cached("SELECT event_type, body, received_at FROM events WHERE event_id = ?1")?
        .query_row([id], |r| {
            Ok((r.get(0)?, r.get::<_, String>(1)?.into(), r.get(2)?))
        })
        .optional()?)
}

/// A digest being sent collects nothing more: the next event opens a new one.
fn close_digests(tx: &Transaction, claimed: &[Claimed]) -> Result<()> {
    for id in claimed.iter().filter_map(|c| c.digest_of) {
        tx.prepare_cached("UPDATE digests SET state = 'closed' WHERE id = ?1 AND state = 'open'")?
            .execute([id])?;
    }
    Ok(())
}
