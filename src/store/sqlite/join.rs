//! Joining a digest, inside the batch's transaction on the writer's thread: a claimed delivery
//! goes at once (one of the digest's first) or waits in its action's open digest for its key.

use rusqlite::{OptionalExtension, Transaction};

use crate::store::digest::{Admitted, Open};
use crate::store::{Join, Joined, Millis, Result};

pub(super) fn join(tx: &Transaction, j: &Join) -> Result<Joined> {
    match admitted(tx, j)? {
        Admitted::Stale => return Ok(Joined::Stale),
        Admitted::Already(now) => return Ok(now),
        Admitted::Not => {}
    }
    if let Some(about) = &j.about {
        super::record::describe(tx, j.delivery_id, about)?;
    }
    let open = match current(tx, j)? {
        Some(d) if d.due_at > j.now => d,
        due => {
            if let Some(d) = due {
                close(tx, d.id)?;
            }
            open(tx, j)?
        }
    };
    if open.immediate_left > 0 {
        return at_once(tx, j, &open);
    }
    collect(tx, j, &open)
}

/// One of the digest's first: it goes now, as a message of its own.
fn at_once(tx: &Transaction, j: &Join, open: &Open) -> Result<Joined> {
    tx.prepare_cached("UPDATE digests SET immediate_left = immediate_left - 1 WHERE id = ?1")?
        .execute([open.id])?;
    // Marked as one of the digest's immediate messages, which it does not collect: a retry
    // of this delivery is not counted again.
    tx.prepare_cached("UPDATE deliveries SET digest_id = ?1 WHERE id = ?2")?
        .execute([open.id, j.delivery_id])?;
    Ok(open.now())
}

/// Into the digest: it waits there, and a digest that is full is due at once.
fn collect(tx: &Transaction, j: &Join, open: &Open) -> Result<Joined> {
    let moved = tx
        .prepare_cached(
            "UPDATE deliveries SET status = 'digest', digest_id = ?1, lease_until = NULL,
               lease_owner = NULL, lease_token = NULL, updated_at = ?2
             WHERE id = ?3 AND lease_token = ?4",
        )?
        .execute([open.id, j.now, j.delivery_id, j.token])?;
    if moved == 0 {
        return Ok(Joined::Stale);
    }
    let c = open.collect(j);
    tx.prepare_cached("UPDATE digests SET size = ?1, bytes = ?2, due_at = ?3 WHERE id = ?4")?
        .execute([c.size, c.bytes, c.due_at, open.id])?;
    let delivery_id = match open.delivery_id {
        Some(id) => id,
        None => sender(tx, j, open.id, c.due_at)?,
    };
    if c.full {
        tx.prepare_cached("UPDATE deliveries SET next_attempt_at = ?1 WHERE id = ?2")?
            .execute([c.due_at, delivery_id])?;
    }
    Ok(c.joined())
}

fn admitted(tx: &Transaction, j: &Join) -> Result<Admitted> {
    type Seen = (Option<i64>, Option<Millis>, Option<Millis>);
    let row: Option<Seen> = tx
        .prepare_cached(
            "SELECT d.digest_id, g.opened_at, g.due_at FROM deliveries d
             LEFT JOIN digests g ON g.id = d.digest_id
             WHERE d.id = ?1 AND d.lease_token = ?2",
        )?
        .query_row([j.delivery_id, j.token], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    Ok(Admitted::of(row, j))
}

fn current(tx: &Transaction, j: &Join) -> Result<Option<Open>> {
    Ok(tx
        .prepare_cached(
            "SELECT id, opened_at, due_at, immediate_left, size, delivery_id, bytes FROM digests
             WHERE channel = ?1 AND rule = ?2 AND action_index = ?3 AND key = ?4 AND state = 'open'",
        )?
        .query_row((&j.channel, &j.rule, j.action_index, &j.key), |r| {
            Ok(Open {
                id: r.get(0)?,
                opened_at: r.get(1)?,
                due_at: r.get(2)?,
                immediate_left: r.get(3)?,
                size: r.get(4)?,
                delivery_id: r.get(5)?,
                bytes: r.get(6)?,
            })
        })
        .optional()?)
}

fn close(tx: &Transaction, id: i64) -> Result<()> {
    tx.prepare_cached("UPDATE digests SET state = 'closed' WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// A new digest for the join's action and key.
fn open(tx: &Transaction, j: &Join) -> Result<Open> {
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO digests (channel, rule, action_index, key, state, opened_at, due_at,
               immediate_left, size, max)
             VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, 0, ?8) RETURNING id",
        )?
        .query_row(
            (
                &j.channel,
                &j.rule,
                j.action_index,
                &j.key,
                j.now,
                j.due_at,
                j.immediate,
                j.max,
            ),
            |r| r.get(0),
        )?;
    Ok(Open::new(id, j))
}

/// The delivery that sends digest `id`, due when it is; made with its first member, so a
/// digest that collects nothing (everything went at once) sends nothing.
fn sender(tx: &Transaction, j: &Join, id: i64, due_at: Millis) -> Result<i64> {
    let delivery_id: i64 = tx
        .prepare_cached(
            "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,
               next_attempt_at, created_at, round_started_at, updated_at, digest_of)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?6, ?6, ?7) RETURNING id",
        )?
        .query_row(
            (
                &j.event_id,
                &j.rule,
                j.action_index,
                &j.channel,
                due_at,
                j.now,
                id,
            ),
            |r| r.get(0),
        )?;
    tx.prepare_cached("UPDATE digests SET delivery_id = ?1 WHERE id = ?2")?
        .execute([delivery_id, id])?;
    Ok(delivery_id)
}
