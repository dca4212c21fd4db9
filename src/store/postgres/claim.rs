//! Claims: as many due deliveries of a channel as asked and as its pace and any pause allow,
//! leased under a fresh token.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use crate::store::{Claim, Claimed, Claims, Millis, Result, pace};

/// Leases due deliveries of one channel, as far as the destination's pace and pause allow:
/// its row is locked, so every replica claiming for it takes its turn.
pub(super) async fn claim(tx: &mut PgConnection, c: &Claim) -> Result<Claims> {
    let (next_allowed, paused_until) = destination(tx, &c.channel).await?;
    if paused_until > c.now {
        return Ok(Claims {
            deliveries: Vec::new(),
            paused_until,
            ready_at: paused_until,
        });
    }
    let allowed = pace::allowance(next_allowed, c.now, c.spacing, c.limit);
    let deliveries = if allowed > 0 {
        lease(tx, c, allowed).await?
    } else {
        Vec::new()
    };
    let next = pace::after(next_allowed, c.now, c.spacing, deliveries.len() as u32);
    if next != next_allowed {
        sqlx::query("UPDATE destinations SET next_allowed_at = $1 WHERE channel = $2")
            .bind(next)
            .bind(&c.channel)
            .execute(&mut *tx)
            .await?;
    }
    Ok(Claims {
        deliveries,
        paused_until,
        ready_at: next,
    })
}

/// A destination's pacing and pause, its row made if it has none and locked for this claim.
async fn destination(tx: &mut PgConnection, channel: &str) -> Result<(Millis, Millis)> {
    sqlx::query("INSERT INTO destinations (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING")
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "SELECT next_allowed_at, paused_until FROM destinations WHERE channel = $1 FOR UPDATE",
    )
    .bind(channel)
    .fetch_one(&mut *tx)
    .await?;
    Ok((row.get("next_allowed_at"), row.get("paused_until")))
}

async fn lease(tx: &mut PgConnection, c: &Claim, limit: u32) -> Result<Vec<Claimed>> {
    let rows = sqlx::query(
        "UPDATE deliveries SET lease_until = $1, next_attempt_at = $1, lease_owner = $2,
           lease_token = $3
         WHERE id IN (
           SELECT id FROM deliveries
           WHERE channel = $4 AND status IN ('pending', 'retrying', 'held') AND next_attempt_at <= $5
           ORDER BY next_attempt_at, id LIMIT $6
           FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, rule, action_index, channel, attempts, round_started_at, digest_of",
    )
    .bind(c.lease.until)
    .bind(c.lease.owner.as_ref())
    .bind(c.lease.token)
    .bind(&c.channel)
    .bind(c.now)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.get("event_id")).collect();
    let events = claimed_events(tx, ids).await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .filter_map(|r| {
            let event_id: String = r.get("event_id");
            let (event_type, body, received_at) = events.get(&event_id)?.clone();
            Some(Claimed {
                delivery_id: r.get("id"),
                event_id,
                event_type,
                rule: r.get("rule"),
                action_index: r.get::<i64, _>("action_index") as u32,
                channel: r.get("channel"),
                attempts: r.get::<i64, _>("attempts") as u32,
                round_started_at: r.get("round_started_at"),
                received_at,
                body,
                token: c.lease.token,
                digest_of: r.get("digest_of"),
            })
        })
        .collect();
    claimed.sort_by_key(|c| c.delivery_id);
    close_digests(tx, &claimed).await?;
    Ok(claimed)
}

type EventParts = (String, std::sync::Arc<str>, Millis);

/// The type, body and arrival of the events of claimed deliveries, each read once.
async fn claimed_events(
    tx: &mut PgConnection,
    mut ids: Vec<String>,
) -> Result<HashMap<String, EventParts>> {
    ids.sort();
    ids.dedup();
    let rows = sqlx::query(
        "SELECT event_id, event_type, body, received_at FROM events WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let body: String = r.get("body");
            (
                r.get("event_id"),
                (r.get("event_type"), body.into(), r.get("received_at")),
            )
        })
        .collect())
}

/// A digest being sent collects nothing more: the next event opens a new one.
async fn close_digests(tx: &mut PgConnection, claimed: &[Claimed]) -> Result<()> {
    let ids: Vec<i64> = claimed.iter().filter_map(|c| c.digest_of).collect();
    if !ids.is_empty() {
        sqlx::query("UPDATE digests SET state = 'closed' WHERE id = ANY($1) AND state = 'open'")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
