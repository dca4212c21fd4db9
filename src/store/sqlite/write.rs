//! SQLite writes, a batch to a transaction, with a handful of multi-row statements whatever the
//! batch's size: the cost of a write is mostly the round trip per statement, not the rows.

use std::collections::{HashMap, HashSet};

use futures_util::future::BoxFuture;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::store::batch::{Applied, Apply, Batch, ids_by_event};
use crate::store::{Accepted, Instance, Millis, NewDelivery, NewEvent, Result, now_ms};

/// Rows per multi-row statement, well under SQLite's limit on bound parameters.
const CHUNK: usize = 500;

pub(super) struct Writes {
    pub(super) pool: SqlitePool,
}

impl Apply for Writes {
    fn apply<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Applied>> {
        Box::pin(async move {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let accepted = accept(&mut tx, &batch.accepts).await?;
            let recorded = super::record::record(&mut tx, &batch.records).await?;
            let mut joined = Vec::with_capacity(batch.joins.len());
            for j in &batch.joins {
                joined.push(super::digest::join(&mut tx, j).await?);
            }
            let mut claimed = Vec::with_capacity(batch.claims.len());
            for c in &batch.claims {
                claimed.push(super::claim::claim(&mut tx, c).await?);
            }
            for instance in &batch.beats {
                beat(&mut tx, instance).await?;
            }
            tx.commit().await?;
            Ok(Applied {
                accepted,
                recorded,
                joined,
                claimed,
            })
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
            "INSERT INTO events (event_id, event_type, received_at, body, matched_rules, headers) ",
        );
        q.push_values(chunk, |mut row, e| {
            row.push_bind(&e.event_id)
                .push_bind(&e.event_type)
                .push_bind(e.received_at)
                .push_bind(&*e.body)
                .push_bind(serde_json::Value::from(e.matched_rules.clone()).to_string())
                .push_bind(e.headers.as_deref());
        });
        q.push(
            " ON CONFLICT (event_id) DO UPDATE SET event_type = excluded.event_type,
              received_at = excluded.received_at, body = excluded.body,
              matched_rules = excluded.matched_rules, headers = excluded.headers
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
               next_attempt_at, lease_until, lease_owner, lease_token, created_at,
               round_started_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, (event_id, d, at)| {
            let lease = d.lease.as_ref();
            row.push_bind(*event_id)
                .push_bind(&d.rule)
                .push_bind(d.action_index)
                .push_bind(&d.channel)
                .push("'pending'")
                .push("0")
                // While leased, a delivery is due when the lease runs out.
                .push_bind(lease.map_or(*at, |l| l.until))
                .push_bind(lease.map(|l| l.until))
                .push_bind(lease.map(|l| l.owner.to_string()))
                .push_bind(lease.map(|l| l.token))
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
    Ok(ids_by_event(events, &ids))
}

async fn beat(tx: &mut SqliteConnection, instance: &Instance) -> Result<()> {
    sqlx::query(
        "INSERT INTO instances (id, started_at, heartbeat_at, info) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(instance.id.as_ref())
    .bind(instance.started_at)
    .bind(now_ms())
    .bind(&instance.info)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
