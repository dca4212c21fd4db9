//! PostgreSQL writes, a batch to a transaction: events in id order and claims in channel order
//! (so that two replicas' batches take locks in the same order and cannot deadlock), claims
//! with `FOR UPDATE SKIP LOCKED` under the destination's row lock, outcomes only under the
//! current claim token.

use std::collections::{HashMap, HashSet};

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool, Row};

use crate::store::batch::{Applied, Apply, Batch};
use crate::store::{
    Accepted, CONTENT_WINDOW_MS, Claims, Instance, Millis, NewEvent, Result, now_ms,
};

pub(super) struct Writes {
    pub(super) pool: PgPool,
}

impl Apply for Writes {
    fn apply(&self, batch: Batch) -> BoxFuture<'_, Result<Applied>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let (accepted, for_anyone) = accept(&mut tx, &batch.accepts).await?;
            let recorded = super::record::record(&mut tx, &batch.records).await?;
            let mut joined = Vec::with_capacity(batch.joins.len());
            for j in &batch.joins {
                joined.push(super::digest::join(&mut tx, j).await?);
            }
            let mut order: Vec<usize> = (0..batch.claims.len()).collect();
            order.sort_by(|a, b| batch.claims[*a].channel.cmp(&batch.claims[*b].channel));
            let mut claimed = vec![Claims::default(); batch.claims.len()];
            for i in order {
                claimed[i] = super::claim::claim(&mut tx, &batch.claims[i]).await?;
            }
            for instance in &batch.beats {
                beat(&mut tx, instance).await?;
            }
            tx.commit().await?;
            if for_anyone {
                super::listen::notify(&self.pool).await;
            }
            Ok(Applied {
                accepted,
                recorded,
                joined,
                claimed,
            })
        })
    }
}

/// Stores the batch's events and their deliveries; one answer per event, in order, and
/// whether a stored delivery is for any replica to claim (not leased to this one).
async fn accept(tx: &mut PgConnection, events: &[NewEvent]) -> Result<(Vec<Accepted>, bool)> {
    let mut seen = HashSet::new();
    let mut contents = HashSet::new();
    let firsts: Vec<&NewEvent> = events
        .iter()
        .filter(|e| seen.insert(e.event_id.as_str()))
        .filter(|e| e.content_key.as_ref().is_none_or(|k| contents.insert(k)))
        .collect();
    let new_contents = insert_contents(tx, &firsts).await?;
    let mut firsts: Vec<&NewEvent> = firsts
        .into_iter()
        .filter(|e| e.content_key.is_none() || new_contents.contains(&e.event_id))
        .collect();
    firsts.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let stored = insert_events(tx, &firsts).await?;
    let fresh: Vec<&NewEvent> = firsts
        .into_iter()
        .filter(|e| stored.contains(&e.event_id))
        .collect();
    let for_anyone = fresh
        .iter()
        .any(|e| e.deliveries.iter().any(|d| d.lease.is_none()));
    let mut ids = insert_deliveries(tx, &fresh).await?;
    // The first copy of a stored id takes its deliveries; any later copy is a duplicate.
    let answers = events
        .iter()
        .map(|e| match ids.remove(&e.event_id) {
            Some(list) => Accepted::Stored(list),
            None => Accepted::Duplicate,
        })
        .collect();
    Ok((answers, for_anyone))
}

/// Remembers the events' contents (in key order, so that replicas lock alike); returns the
/// EventIds whose content no other EventId brought within [`CONTENT_WINDOW_MS`].
async fn insert_contents(tx: &mut PgConnection, events: &[&NewEvent]) -> Result<HashSet<String>> {
    let mut keyed: Vec<(&str, &NewEvent)> = events
        .iter()
        .filter_map(|e| Some((e.content_key.as_deref()?, *e)))
        .collect();
    if keyed.is_empty() {
        return Ok(HashSet::new());
    }
    keyed.sort_by(|a, b| a.0.cmp(b.0));
    let keys: Vec<&str> = keyed.iter().map(|(k, _)| *k).collect();
    let ids: Vec<&str> = keyed.iter().map(|(_, e)| e.event_id.as_str()).collect();
    let at: Vec<Millis> = keyed.iter().map(|(_, e)| e.received_at).collect();
    let rows = sqlx::query(
        "INSERT INTO event_contents (content_key, event_id, received_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (content_key) DO UPDATE SET event_id = excluded.event_id,
           received_at = excluded.received_at
         WHERE event_contents.event_id = excluded.event_id
            OR event_contents.received_at < excluded.received_at - $4
         RETURNING event_id",
    )
    .bind(&keys)
    .bind(&ids)
    .bind(&at)
    .bind(CONTENT_WINDOW_MS)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.iter().map(|r| r.get("event_id")).collect())
}

/// Inserts events; returns the ids actually stored. A unique key decides between replicas: a
/// new id inserts, one older than the dedup window is replaced, one seen within the window
/// changes nothing (and is not in RETURNING). One statement text whatever the number of rows
/// (arrays, `UNNEST`), so the server parses it once per connection.
async fn insert_events(tx: &mut PgConnection, events: &[&NewEvent]) -> Result<HashSet<String>> {
    let Some(first) = events.first() else {
        return Ok(HashSet::new());
    };
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let at: Vec<Millis> = events.iter().map(|e| e.received_at).collect();
    let bodies: Vec<&str> = events.iter().map(|e| &*e.body).collect();
    let rules: Vec<String> = events
        .iter()
        .map(|e| serde_json::Value::from(e.matched_rules.clone()).to_string())
        .collect();
    let headers: Vec<Option<&str>> = events.iter().map(|e| e.headers.as_deref()).collect();
    let docs: Vec<Option<String>> = events.iter().map(|e| jsonb_copy(&e.body)).collect();
    let about: Vec<Option<&str>> = events.iter().map(|e| e.about.as_deref()).collect();
    let rows = sqlx::query(
        "INSERT INTO events (event_id, event_type, received_at, body, matched_rules, headers, doc, about)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                              $7::text[], $8::text[], $9::text[])
         ON CONFLICT (event_id) DO UPDATE SET event_type = excluded.event_type,
           received_at = excluded.received_at, body = excluded.body,
           matched_rules = excluded.matched_rules, headers = excluded.headers, doc = excluded.doc,
           about = excluded.about
         WHERE events.received_at < excluded.received_at - $6
         RETURNING event_id",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&at)
    .bind(&bodies)
    .bind(&rules)
    .bind(first.dedup_window_ms)
    .bind(&headers)
    .bind(&docs)
    .bind(&about)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.iter().map(|r| r.get("event_id")).collect())
}

/// What `jsonb` reads in place of a body it cannot: `None` when it reads the body itself.
fn jsonb_copy(body: &str) -> Option<String> {
    use crate::text::json::{Reader, for_reader};
    match for_reader(body, Reader::Jsonb) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(copy) => Some(copy),
    }
}

/// The deliveries of freshly stored events, as columns.
#[derive(Default)]
struct Columns<'a> {
    event_id: Vec<&'a str>,
    rule: Vec<&'a str>,
    index: Vec<i64>,
    channel: Vec<&'a str>,
    next_at: Vec<Millis>,
    lease_until: Vec<Option<Millis>>,
    owner: Vec<Option<&'a str>>,
    token: Vec<Option<i64>>,
    at: Vec<Millis>,
}

impl<'a> Columns<'a> {
    fn of(events: &[&'a NewEvent]) -> Columns<'a> {
        let mut c = Columns::default();
        for e in events {
            for d in &e.deliveries {
                let lease = d.lease.as_ref();
                c.event_id.push(&e.event_id);
                c.rule.push(&d.rule);
                c.index.push(i64::from(d.action_index));
                c.channel.push(&d.channel);
                // While leased, a delivery is due when the lease runs out.
                c.next_at.push(lease.map_or(e.received_at, |l| l.until));
                c.lease_until.push(lease.map(|l| l.until));
                c.owner.push(lease.map(|l| &*l.owner));
                c.token.push(lease.map(|l| l.token));
                c.at.push(e.received_at);
            }
        }
        c
    }
}

/// Inserts the deliveries of freshly stored events; returns their ids by event, in order.
async fn insert_deliveries(
    tx: &mut PgConnection,
    events: &[&NewEvent],
) -> Result<HashMap<String, Vec<i64>>> {
    let c = Columns::of(events);
    if c.event_id.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,
           next_attempt_at, lease_until, lease_owner, lease_token, created_at,
           round_started_at, updated_at)
         SELECT e, r, i, c, 'pending', 0, n, lu, lo, lt, a, a, a
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::text[], $8::bigint[], $9::bigint[])
           AS v(e, r, i, c, n, lu, lo, lt, a)
         RETURNING id, event_id, rule, action_index",
    )
    .bind(&c.event_id)
    .bind(&c.rule)
    .bind(&c.index)
    .bind(&c.channel)
    .bind(&c.next_at)
    .bind(&c.lease_until)
    .bind(&c.owner)
    .bind(&c.token)
    .bind(&c.at)
    .fetch_all(&mut *tx)
    .await?;
    let ids: HashMap<(String, String, i64), i64> = rows
        .iter()
        .map(|r| {
            (
                (r.get("event_id"), r.get("rule"), r.get("action_index")),
                r.get("id"),
            )
        })
        .collect();
    Ok(ids_by_event(events, &ids))
}

async fn beat(tx: &mut PgConnection, instance: &Instance) -> Result<()> {
    sqlx::query(
        "INSERT INTO instances (id, started_at, heartbeat_at, info) VALUES ($1, $2, $3, $4)
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

/// The new deliveries' ids of each event, in the order its deliveries were given, from the ids
/// a backend got back keyed by (event, rule, action index).
fn ids_by_event(
    events: &[&NewEvent],
    ids: &HashMap<(String, String, i64), i64>,
) -> HashMap<String, Vec<i64>> {
    events
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
        .collect()
}
