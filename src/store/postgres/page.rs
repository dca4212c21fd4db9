//! The status page's reads on PostgreSQL: the shared queries of [`crate::store::page`], bound and
//! mapped to rows.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres, Row};

use super::read::{attempts_for, deliveries_of};
use crate::store::page::{self, CHANNEL_COUNTS, Dialect, Param, Sql};
use crate::store::{
    ChannelStats, Counts, DeliveryStatus, EventDetail, EventFilter, EventRow, Millis, Overview,
    Result,
};

const DIALECT: Dialect = Dialect::Postgres;

/// The query with its values bound.
pub(super) fn query(sql: &Sql) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text.clone()));
    for p in &sql.params {
        q = match p {
            Param::Int(i) => q.bind(*i),
            Param::Text(t) => q.bind(t.clone()),
        };
    }
    q
}

fn event_row(r: &PgRow) -> EventRow {
    EventRow {
        event_id: r.get("event_id"),
        event_type: r.get("event_type"),
        received_at: r.get("received_at"),
        matched_rules: serde_json::from_str(&r.get::<String, _>("matched_rules"))
            .unwrap_or_default(),
        deliveries: Vec::new(),
    }
}

pub(super) async fn events(pool: &PgPool, f: &EventFilter) -> Result<Vec<EventRow>> {
    let rows = query(&page::events(DIALECT, f)).fetch_all(pool).await?;
    let mut events: Vec<EventRow> = rows.iter().map(event_row).collect();
    deliveries_of(pool, &mut events).await?;
    Ok(events)
}

/// One event with its body, headers, deliveries and their attempts.
pub(super) async fn event(pool: &PgPool, id: &str) -> Result<Option<EventDetail>> {
    let sql = Sql {
        text: format!(
            "SELECT event_id, event_type, received_at, matched_rules, body, headers FROM events WHERE event_id = {}",
            if DIALECT == Dialect::Sqlite {
                "?"
            } else {
                "$1"
            }
        ),
        params: vec![Param::Text(id.to_string())],
    };
    let Some(r) = query(&sql).fetch_optional(pool).await? else {
        return Ok(None);
    };
    let mut rows = vec![event_row(&r)];
    deliveries_of(pool, &mut rows).await?;
    let mut row = rows.remove(0);
    attempts_for(pool, &mut row.deliveries).await?;
    Ok(Some(EventDetail {
        row,
        body: r.get("body"),
        headers: r.get("headers"),
    }))
}

pub(super) async fn overview(pool: &PgPool, now: Millis) -> Result<Overview> {
    let (events_hour, unmatched_hour) = counts_since(pool, now - 3_600_000).await?;
    let (events_day, unmatched_day) = counts_since(pool, now - 86_400_000).await?;
    let mut channels: Vec<ChannelStats> = Vec::new();
    for r in sqlx::query(CHANNEL_COUNTS).fetch_all(pool).await? {
        let channel: String = r.get("channel");
        if channels.last().is_none_or(|c| c.channel != channel) {
            channels.push(stats(channel.clone()));
        }
        if let (Some(c), Ok(s)) = (channels.last_mut(), r.get::<String, _>("status").parse()) {
            c.counts.set(s, r.get::<i64, _>("n") as u64);
        }
    }
    for c in &mut channels {
        let sent = newest(pool, &c.channel, DeliveryStatus::Sent).await?;
        c.last_sent = sent.map(|(at, _)| at);
        let dead = newest(pool, &c.channel, DeliveryStatus::Dead).await?;
        let retrying = newest(pool, &c.channel, DeliveryStatus::Retrying).await?;
        c.last_failure = dead.into_iter().chain(retrying).max_by_key(|(at, _)| *at);
    }
    for r in query(&page::paused(DIALECT, now)).fetch_all(pool).await? {
        let channel: String = r.get("channel");
        if let Some(c) = channels.iter_mut().find(|c| c.channel == channel) {
            c.paused_until = Some(r.get("paused_until"));
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

fn stats(channel: String) -> ChannelStats {
    ChannelStats {
        channel,
        counts: Counts::default(),
        last_sent: None,
        last_failure: None,
        paused_until: None,
    }
}

async fn counts_since(pool: &PgPool, since: Millis) -> Result<(u64, u64)> {
    let r = query(&page::event_counts(DIALECT, since))
        .fetch_one(pool)
        .await?;
    let n: i64 = r.get("n");
    let unmatched: i64 = r.try_get("unmatched").unwrap_or(0);
    Ok((n as u64, unmatched as u64))
}

async fn newest(
    pool: &PgPool,
    channel: &str,
    status: DeliveryStatus,
) -> Result<Option<(Millis, String)>> {
    let row = query(&page::newest(DIALECT, channel, status))
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| {
        let error: Option<String> = r.get("last_error");
        (r.get("updated_at"), error.unwrap_or_default())
    }))
}
