//! Reads for people (the status page, `herald events` and `herald deliveries`), once for both
//! backends: each backend only runs the SQL of [`super::page`] and hands back plain cells
//! ([`Rows`]); turning them into events, deliveries, attempts and the overview happens here.

use super::page::{self, CHANNEL_COUNTS, Dialect, Param, Sql};
use super::{
    AttemptOutcome, AttemptRow, ChannelStats, Counts, DeliveryFilter, DeliveryRow, DeliveryStatus,
    EventDetail, EventFilter, EventRow, Millis, Overview, Result,
};

/// A column to read, and as what.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    Int(&'static str),
    Text(&'static str),
}

/// A cell read: an integer or text, or nothing (NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

impl Cell {
    fn int(&self) -> i64 {
        match self {
            Cell::Int(Some(i)) => *i,
            _ => 0,
        }
    }

    fn opt_int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => *i,
            Cell::Text(_) => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Int(i) => i.map(|i| i.to_string()),
        }
    }
}

/// What a backend does for the status page.
pub trait Rows: Sync {
    const DIALECT: Dialect;

    /// Runs `sql` and reads `columns` of each row.
    fn fetch(
        &self,
        sql: &Sql,
        columns: &[Col],
    ) -> impl Future<Output = Result<Vec<Vec<Cell>>>> + Send;
}

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

fn delivery_row(c: &[Cell]) -> DeliveryRow {
    DeliveryRow {
        id: c[0].int(),
        event_id: c[1].text().unwrap_or_default(),
        rule: c[2].text().unwrap_or_default(),
        channel: c[3].text().unwrap_or_default(),
        // A state this version does not know reads as pending: it will be looked at again.
        status: c[4]
            .text()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DeliveryStatus::Pending),
        attempts: c[5].int() as u32,
        next_attempt_at: c[6].int(),
        last_error: c[7].text(),
        created_at: c[8].int(),
        updated_at: c[9].int(),
        digest_id: c[10].opt_int(),
        digest_of: c[11].opt_int(),
        attempt_log: Vec::new(),
    }
}

pub async fn deliveries<R: Rows>(db: &R, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
    let rows = db
        .fetch(&page::deliveries(R::DIALECT, f), &DELIVERY)
        .await?;
    let mut rows: Vec<DeliveryRow> = rows.iter().map(|c| delivery_row(c)).collect();
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
        let d = delivery_row(&c);
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
    ];
    for a in db
        .fetch(&page::attempts_of(R::DIALECT, &ids), &columns)
        .await?
    {
        let id = a[0].int();
        if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
            row.attempt_log.push(AttemptRow {
                started_at: a[1].int(),
                duration_ms: a[2].int(),
                outcome: a[3]
                    .text()
                    .and_then(|o| AttemptOutcome::parse(&o))
                    .unwrap_or(AttemptOutcome::Failed),
                status_code: a[4].opt_int(),
                detail: a[5].text().unwrap_or_default(),
            });
        }
    }
    Ok(())
}

const EVENT: [Col; 4] = [
    Col::Text("event_id"),
    Col::Text("event_type"),
    Col::Int("received_at"),
    Col::Text("matched_rules"),
];

fn event_row(c: &[Cell]) -> EventRow {
    EventRow {
        event_id: c[0].text().unwrap_or_default(),
        event_type: c[1].text().unwrap_or_default(),
        received_at: c[2].int(),
        matched_rules: serde_json::from_str(&c[3].text().unwrap_or_default()).unwrap_or_default(),
        deliveries: Vec::new(),
    }
}

pub async fn events<R: Rows>(db: &R, f: &EventFilter) -> Result<Vec<EventRow>> {
    let rows = db.fetch(&page::events(R::DIALECT, f), &EVENT).await?;
    let mut events: Vec<EventRow> = rows.iter().map(|c| event_row(c)).collect();
    deliveries_of(db, &mut events).await?;
    Ok(events)
}

/// One event with its body, headers, deliveries and their attempts.
pub async fn event<R: Rows>(db: &R, id: &str) -> Result<Option<EventDetail>> {
    let placeholder = match R::DIALECT {
        Dialect::Sqlite => "?",
        Dialect::Postgres => "$1",
    };
    let sql = Sql {
        text: format!(
            "SELECT event_id, event_type, received_at, matched_rules, body, headers FROM events WHERE event_id = {placeholder}"
        ),
        params: vec![Param::Text(id.to_string())],
    };
    let columns = [
        EVENT[0],
        EVENT[1],
        EVENT[2],
        EVENT[3],
        Col::Text("body"),
        Col::Text("headers"),
    ];
    let Some(cells) = db.fetch(&sql, &columns).await?.into_iter().next() else {
        return Ok(None);
    };
    let mut rows = vec![event_row(&cells)];
    deliveries_of(db, &mut rows).await?;
    let mut row = rows.remove(0);
    attempts_for(db, &mut row.deliveries).await?;
    Ok(Some(EventDetail {
        row,
        body: cells[4].text().unwrap_or_default(),
        headers: cells[5].text(),
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
        let name = r[0].text().unwrap_or_default();
        if let Some(c) = channels.iter_mut().find(|c| c.channel == name) {
            c.paused_until = Some(r[1].int());
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
        let name = r[0].text().unwrap_or_default();
        if channels.last().is_none_or(|c| c.channel != name) {
            channels.push(ChannelStats {
                channel: name,
                counts: Counts::default(),
                last_sent: None,
                last_failure: None,
                paused_until: None,
            });
        }
        if let (Some(c), Some(Ok(s))) = (channels.last_mut(), r[1].text().map(|s| s.parse())) {
            c.counts.set(s, r[2].int() as u64);
        }
    }
    Ok(channels)
}

async fn counts_since<R: Rows>(db: &R, since: Millis) -> Result<(u64, u64)> {
    let columns = [Col::Int("n"), Col::Int("unmatched")];
    let rows = db
        .fetch(&page::event_counts(R::DIALECT, since), &columns)
        .await?;
    let r = rows.first();
    Ok((
        r.map_or(0, |r| r[0].int()) as u64,
        r.map_or(0, |r| r[1].int()) as u64,
    ))
}

/// The newest delivery a query finds: its time and last error.
async fn latest<R: Rows>(db: &R, sql: Sql) -> Result<Option<(Millis, String)>> {
    let columns = [Col::Int("updated_at"), Col::Text("last_error")];
    let rows = db.fetch(&sql, &columns).await?;
    Ok(rows
        .first()
        .map(|r| (r[0].int(), r[1].text().unwrap_or_default())))
}
