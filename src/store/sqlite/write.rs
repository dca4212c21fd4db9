//! SQLite writes, a batch to a transaction, with a handful of multi-row statements whatever the
//! batch's size: the cost of a write is mostly the round trip per statement, not the rows.

use std::collections::{HashMap, HashSet};

use futures_util::future::BoxFuture;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::store::batch::{Applied, Apply, Batch};
use crate::store::{
    Accepted, Attempt, Claim, Claimed, Millis, NewDelivery, NewEvent, Next, Record, Result, now_ms,
};

/// Rows per multi-row statement, well under SQLite's limit on bound parameters.
const CHUNK: usize = 500;

pub(super) struct Writes {
    pub(super) pool: SqlitePool,
}

impl Apply for Writes {
    fn apply<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Applied>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let accepted = accept(&mut tx, &batch.accepts).await?;
            record(&mut tx, &batch.records).await?;
            let mut claimed = Vec::with_capacity(batch.claims.len());
            for c in &batch.claims {
                claimed.push(claim(&mut tx, c).await?);
            }
            if batch.heartbeat {
                beat(&mut tx).await?;
            }
            tx.commit().await?;
            Ok(Applied { accepted, claimed })
        })
    }
}

/// Stores the batch's events and their deliveries; one answer per event, in order. Within a
/// batch, a second copy of an id is a duplicate of the first.
async fn accept(tx: &mut SqliteConnection, events: &[NewEvent]) -> Result<Vec<Accepted>> {
    let mut seen = HashSet::new();
    let firsts: Vec<&NewEvent> = events
        .iter()
        .filter(|e| seen.insert(e.event_id.as_str()))
        .collect();
    let stored = insert_events(tx, &firsts).await?;
    let fresh: Vec<&NewEvent> = firsts
        .into_iter()
        .filter(|e| stored.contains(&e.event_id))
        .collect();
    let mut ids = insert_deliveries(tx, &fresh).await?;
    // The first copy of a stored id takes its deliveries; any later copy is a duplicate.
    Ok(events
        .iter()
        .map(|e| match ids.remove(&e.event_id) {
            Some(list) => Accepted::Stored(list),
            None => Accepted::Duplicate,
        })
        .collect())
}

/// Inserts events; returns the ids actually stored. A new id inserts; an id older than the
/// dedup window is replaced; an id seen within the window changes nothing: a duplicate, not
/// in RETURNING.
async fn insert_events(tx: &mut SqliteConnection, events: &[&NewEvent]) -> Result<HashSet<String>> {
    let mut stored = HashSet::new();
    for chunk in events.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO events (event_id, event_type, received_at, body, matched_rules) ",
        );
        q.push_values(chunk, |mut row, e| {
            row.push_bind(&e.event_id)
                .push_bind(&e.event_type)
                .push_bind(e.received_at)
                .push_bind(&*e.body)
                .push_bind(serde_json::Value::from(e.matched_rules.clone()).to_string());
        });
        q.push(
            " ON CONFLICT (event_id) DO UPDATE SET event_type = excluded.event_type,
              received_at = excluded.received_at, body = excluded.body,
              matched_rules = excluded.matched_rules
              WHERE events.received_at < excluded.received_at - ",
        )
        .push_bind(chunk[0].dedup_window_ms)
        .push(" RETURNING event_id");
        for r in q.build().fetch_all(&mut *tx).await? {
            stored.insert(r.get::<String, _>("event_id"));
        }
    }
    Ok(stored)
}

/// Inserts the deliveries of freshly stored events; returns their ids by event, in order.
async fn insert_deliveries(
    tx: &mut SqliteConnection,
    events: &[&NewEvent],
) -> Result<HashMap<String, Vec<i64>>> {
    let rows: Vec<(&str, &NewDelivery, Millis)> = events
        .iter()
        .flat_map(|e| {
            e.deliveries
                .iter()
                .map(|d| (e.event_id.as_str(), d, e.received_at))
        })
        .collect();
    let mut ids: HashMap<(String, String, i64), i64> = HashMap::new();
    for chunk in rows.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,
               next_attempt_at, lease_until, created_at, round_started_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, (event_id, d, at)| {
            row.push_bind(*event_id)
                .push_bind(&d.rule)
                .push_bind(d.action_index)
                .push_bind(&d.channel)
                .push("'pending'")
                .push("0")
                // While leased, a delivery is due when the lease runs out.
                .push_bind(d.lease_until.unwrap_or(*at))
                .push_bind(d.lease_until)
                .push_bind(*at)
                .push_bind(*at)
                .push_bind(*at);
        });
        q.push(" RETURNING id, event_id, rule, action_index");
        for r in q.build().fetch_all(&mut *tx).await? {
            let key = (r.get("event_id"), r.get("rule"), r.get("action_index"));
            ids.insert(key, r.get("id"));
        }
    }
    Ok(events
        .iter()
        .map(|e| {
            let list = e
                .deliveries
                .iter()
                .filter_map(|d| {
                    let key = (
                        e.event_id.clone(),
                        d.rule.clone(),
                        i64::from(d.action_index),
                    );
                    ids.get(&key).copied()
                })
                .collect();
            (e.event_id.clone(), list)
        })
        .collect())
}

/// Records outcomes: every attempt in one insert, every success in one update, the rest one
/// by one.
async fn record(tx: &mut SqliteConnection, records: &[Record]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let attempts: Vec<(i64, &Attempt)> = records
        .iter()
        .filter_map(|r| r.attempt.as_ref().map(|a| (r.delivery_id, a)))
        .collect();
    insert_attempts(tx, &attempts).await?;
    let sent: Vec<i64> = records
        .iter()
        .filter(|r| matches!(r.next, Next::Sent))
        .map(|r| r.delivery_id)
        .collect();
    mark_sent(tx, &sent, now).await?;
    for r in records.iter().filter(|r| !matches!(r.next, Next::Sent)) {
        mark_unsent(tx, r, now).await?;
    }
    Ok(())
}

async fn insert_attempts(tx: &mut SqliteConnection, attempts: &[(i64, &Attempt)]) -> Result<()> {
    for chunk in attempts.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code, detail) ",
        );
        q.push_values(chunk, |mut row, (id, a)| {
            row.push_bind(*id)
                .push_bind(a.started_at)
                .push_bind(a.duration_ms)
                .push_bind(a.outcome.as_str())
                .push_bind(a.status_code.map(i64::from))
                .push_bind(&a.detail);
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn mark_sent(tx: &mut SqliteConnection, ids: &[i64], now: Millis) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL, updated_at = ",
        );
        q.push_bind(now).push(" WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// A retry, a dead letter or a skip: the new state, when next, and why.
async fn mark_unsent(tx: &mut SqliteConnection, r: &Record, now: Millis) -> Result<()> {
    let tried = i64::from(r.attempt.is_some());
    let (next_at, error) = match &r.next {
        Next::RetryAt(at) => (Some(*at), r.attempt.as_ref().map(|a| a.detail.as_str())),
        Next::Dead(reason) | Next::Skipped(reason) => (None, Some(reason.as_str())),
        Next::Sent => return Ok(()),
    };
    sqlx::query(
        "UPDATE deliveries SET status = ?1, attempts = attempts + ?2,
           next_attempt_at = COALESCE(?3, next_attempt_at), lease_until = NULL,
           last_error = COALESCE(?4, last_error), updated_at = ?5
         WHERE id = ?6",
    )
    .bind(r.next.status().as_str())
    .bind(tried)
    .bind(next_at)
    .bind(error)
    .bind(now)
    .bind(r.delivery_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Leases due deliveries of one channel, inside the batch's transaction.
async fn claim(tx: &mut SqliteConnection, c: &Claim) -> Result<Vec<Claimed>> {
    let rows = sqlx::query(
        "UPDATE deliveries SET lease_until = ?1, next_attempt_at = ?1
         WHERE id IN (
           SELECT id FROM deliveries
           WHERE channel = ?2 AND status IN ('pending', 'retrying') AND next_attempt_at <= ?3
           ORDER BY next_attempt_at, id LIMIT ?4)
         RETURNING id, event_id, rule, action_index, channel, attempts, round_started_at",
    )
    .bind(c.lease_until)
    .bind(&c.channel)
    .bind(c.now)
    .bind(c.limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let events = claimed_events(tx, rows.iter().map(|r| r.get::<String, _>("event_id"))).await?;
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
            })
        })
        .collect();
    claimed.sort_by_key(|c| c.delivery_id);
    Ok(claimed)
}

type EventParts = (String, std::sync::Arc<str>, Millis);

/// The type, body and arrival of the events of claimed deliveries, each read once.
async fn claimed_events(
    tx: &mut SqliteConnection,
    ids: impl Iterator<Item = String>,
) -> Result<HashMap<String, EventParts>> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT event_id, event_type, body, received_at FROM events WHERE event_id IN (",
    );
    let mut sep = q.separated(", ");
    for id in ids.collect::<HashSet<_>>() {
        sep.push_bind(id);
    }
    q.push(")");
    Ok(q.build()
        .fetch_all(&mut *tx)
        .await?
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

async fn beat(tx: &mut SqliteConnection) -> Result<()> {
    sqlx::query(
        "INSERT INTO heartbeat (id, at) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
