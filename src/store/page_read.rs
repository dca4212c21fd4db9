//! Reads for people (the status page, `herald events` and `herald deliveries`), once for both
//! backends: each backend only runs the SQL of [`super::page`] and hands back its rows by column
//! name ([`Rows`]); turning them into events, deliveries, attempts and the overview happens here.

use super::page::{self, CHANNEL_COUNTS, Param, Sql};
use super::rows::Rows;
use super::sql::{Col, Record};
use super::{
    AttemptOutcome, AttemptRow, ChannelStats, Counts, DeliveryFilter, DeliveryRow, DeliveryStatus,
    EventDetail, EventFilter, EventRow, Millis, Overview, Result,
};

const DELIVERY: [Col; 12] = [
    Col::Int("id"),
    Col::Text("event_id"),
    Col::Text("rule"),
    Col::Text("channel"),
    Col::Text("status"),
    Col::Int("attempts"),
    Col::Int("next_attempt_at"),
    Col::Text("last_error"),
    Col::Int("created_at"),
    Col::Int("updated_at"),
    Col::Int("digest_id"),
    Col::Int("digest_of"),
];

fn delivery_row(r: &Record) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.int("id")?,
        event_id: r.text("event_id")?,
        rule: r.text("rule")?,
        channel: r.text("channel")?,
        // A state this version does not know reads as pending: it will be looked at again.
        status: r.text("status")?.parse().unwrap_or(DeliveryStatus::Pending),
        attempts: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: r.int("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        digest_id: r.opt_int("digest_id")?,
        digest_of: r.opt_int("digest_of")?,
        attempt_log: Vec::new(),
    })
}

pub async fn deliveries<R: Rows>(db: &R, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
    let rows = db
        .fetch(&page::deliveries(R::DIALECT, f), &DELIVERY)
        .await?;
    let mut rows = rows.iter().map(delivery_row).collect::<Result<Vec<_>>>()?;
    attempts_for(db, &mut rows).await?;
    Ok(rows)
}

/// Fills in each event's deliveries, oldest first.
async fn deliveries_of<R: Rows>(db: &R, events: &mut [EventRow]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    for c in db
        .fetch(&page::deliveries_of(R::DIALECT, &ids), &DELIVERY)
        .await?
    {
        let d = delivery_row(&c)?;
        if let Some(e) = events.iter_mut().find(|e| e.event_id == d.event_id) {
            e.deliveries.push(d);
        }
    }
    Ok(())
}

/// Fills in each delivery's attempts, oldest first.
async fn attempts_for<R: Rows>(db: &R, rows: &mut [DeliveryRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let columns = [
        Col::Int("delivery_id"),
        Col::Int("started_at"),
        Col::Int("duration_ms"),
        Col::Text("outcome"),
        Col::Int("status_code"),
        Col::Text("detail"),
        Col::Text("sent"),
    ];
    for a in db
        .fetch(&page::attempts_of(R::DIALECT, &ids), &columns)
        .await?
    {
        let id = a.int("delivery_id")?;
        if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
            row.attempt_log.push(AttemptRow {
                started_at: a.int("started_at")?,
                duration_ms: a.int("duration_ms")?,
                outcome: AttemptOutcome::parse(&a.text("outcome")?)
                    .unwrap_or(AttemptOutcome::Failed),
                status_code: a.opt_int("status_code")?,
                detail: a.text("detail")?,
                sent: a
                    .opt_text("sent")?
                    .and_then(|s| serde_json::from_str(&s).ok()),
            });
        }
    }
    Ok(())
}

const EVENT: [Col; 5] = [
    Col::Text("event_id"),
    Col::Text("event_type"),
    Col::Int("received_at"),
    Col::Text("matched_rules"),
    Col::Text("about"),
];

fn event_row(r: &Record) -> Result<EventRow> {
    Ok(EventRow {
        event_id: r.text("event_id")?,
        event_type: r.text("event_type")?,
        received_at: r.int("received_at")?,
        matched_rules: serde_json::from_str(&r.text("matched_rules")?).unwrap_or_default(),
        about: r.opt_text("about")?,
        deliveries: Vec::new(),
    })
}

pub async fn events<R: Rows>(db: &R, f: &EventFilter) -> Result<Vec<EventRow>> {
    let rows = db.fetch(&page::events(R::DIALECT, f), &EVENT).await?;
    let mut events = rows.iter().map(event_row).collect::<Result<Vec<_>>>()?;
    deliveries_of(db, &mut events).await?;
    Ok(events)
}

/// One event with its body, headers, deliveries and their attempts.
pub async fn event<R: Rows>(db: &R, id: &str) -> Result<Option<EventDetail>> {
    let sql = Sql::fixed(
        R::DIALECT,
        "SELECT event_id, event_type, received_at, matched_rules, about, body, headers FROM events WHERE event_id = ?1",
        vec![Param::Text(id.to_string())],
    );
    let columns = [
        EVENT[0],
        EVENT[1],
        EVENT[2],
        EVENT[3],
        EVENT[4],
        Col::Text("body"),
        Col::Text("headers"),
    ];
    let Some(found) = db.fetch(&sql, &columns).await?.into_iter().next() else {
        return Ok(None);
    };
    let mut rows = vec![event_row(&found)?];
    deliveries_of(db, &mut rows).await?;
    let mut row = rows.remove(0);
    attempts_for(db, &mut row.deliveries).await?;
    Ok(Some(EventDetail {
        row,
        body: found.text("body")?,
        headers: found.opt_text("headers")?,
    }))
}

pub async fn overview<R: Rows>(db: &R, now: Millis) -> Result<Overview> {
    let (events_hour, unmatched_hour) = counts_since(db, now - 3_600_000).await?;
    let (events_day, unmatched_day) = counts_since(db, now - 86_400_000).await?;
    let mut channels = channel_counts(db).await?;
    for c in &mut channels {
        let newest = |s| page::newest(R::DIALECT, &c.channel, s);
        c.last_sent = latest(db, newest(DeliveryStatus::Sent))
            .await?
            .map(|(at, _)| at);
        let dead = latest(db, newest(DeliveryStatus::Dead)).await?;
        let retrying = latest(db, newest(DeliveryStatus::Retrying)).await?;
        c.last_failure = dead.into_iter().chain(retrying).max_by_key(|(at, _)| *at);
    }
    let paused = [Col::Text("channel"), Col::Int("paused_until")];
    for r in db.fetch(&page::paused(R::DIALECT, now), &paused).await? {
        let name = r.text("channel")?;
        if let Some(c) = channels.iter_mut().find(|c| c.channel == name) {
            c.paused_until = Some(r.int("paused_until")?);
        }
    }
    Ok(Overview {
        events_hour,
        unmatched_hour,
        events_day,
        unmatched_day,
        channels,
    })
}

/// Deliveries by channel and state.
async fn channel_counts<R: Rows>(db: &R) -> Result<Vec<ChannelStats>> {
    let sql = Sql {
        text: CHANNEL_COUNTS.into(),
        params: Vec::new(),
    };
    let columns = [Col::Text("channel"), Col::Text("status"), Col::Int("n")];
    let mut channels: Vec<ChannelStats> = Vec::new();
    for r in db.fetch(&sql, &columns).await? {
        let name = r.text("channel")?;
        if channels.last().is_none_or(|c| c.channel != name) {
            channels.push(ChannelStats {
                channel: name,
                counts: Counts::default(),
                last_sent: None,
                last_failure: None,
                paused_until: None,
            });
        }
        if let (Some(c), Ok(s)) = (channels.last_mut(), r.text("status")?.parse()) {
            c.counts.set(s, r.int("n")? as u64);
        }
    }
    Ok(channels)
}

async fn counts_since<R: Rows>(db: &R, since: Millis) -> Result<(u64, u64)> {
    let columns = [Col::Int("n"), Col::Int("unmatched")];
    let rows = db
        .fetch(&page::event_counts(R::DIALECT, since), &columns)
        .await?;
    match rows.first() {
        Some(r) => Ok((r.int("n")? as u64, r.int("unmatched")? as u64)),
        None => Ok((0, 0)),
    }
}

/// The newest delivery a query finds: its time and last error.
async fn latest<R: Rows>(db: &R, sql: Sql) -> Result<Option<(Millis, String)>> {
    let columns = [Col::Int("updated_at"), Col::Text("last_error")];
    let rows = db.fetch(&sql, &columns).await?;
    match rows.first() {
        Some(r) => Ok(Some((
            r.int("updated_at")?,
            r.opt_text("last_error")?.unwrap_or_default(),
        ))),
        None => Ok(None),
    }
}
