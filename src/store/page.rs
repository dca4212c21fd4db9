//! The status page's queries, written once for both backends ([`super::sql`]): SQL text with
//! the few places where SQLite and PostgreSQL differ (placeholders, reading a field of the JSON
//! body) asked of a [`Dialect`], and the values to bind in order. Every query has an index
//! behind it (see the `status_page` and `status_index` migrations), so that pages stay fast on
//! a big store, but one: a search for words of an event's line (`about LIKE '%…%'`) reads the
//! events table, a page at a time.

pub use super::sql::{Dialect, Param, Sql};
use super::{DeliveryStatus, EventFilter, Millis};

/// The columns every delivery read takes.
pub const DELIVERY_COLUMNS: &str = "SELECT id, event_id, rule, channel, status, attempts, next_attempt_at, last_error, created_at, updated_at, digest_id, digest_of FROM deliveries";

/// Deliveries, newest first, filtered; a page at a time (older than `before`).
pub fn deliveries(dialect: Dialect, f: &super::DeliveryFilter) -> Sql {
    let (mut q, d) = Sql::new(dialect, DELIVERY_COLUMNS);
    q.text.push_str(" WHERE 1 = 1");
    if let Some(id) = f.id {
        q.bind(d, " AND id = ", Param::Int(id));
    }
    if let Some(s) = f.status {
        q.bind(d, " AND status = ", Param::Text(s.as_str().into()));
    }
    if let Some(e) = &f.event_id {
        q.bind(d, " AND event_id = ", Param::Text(e.clone()));
    }
    if let Some(c) = &f.channel {
        q.bind(d, " AND channel = ", Param::Text(c.clone()));
    }
    if let Some(before) = f.before {
        q.bind(d, " AND id < ", Param::Int(before));
    }
    let limit = Param::Int(i64::from(f.limit.max(1)));
    q.bind(d, " ORDER BY id DESC LIMIT ", limit);
    q
}

/// The deliveries of these events, oldest first.
pub fn deliveries_of(dialect: Dialect, event_ids: &[String]) -> Sql {
    let (mut q, d) = Sql::new(dialect, DELIVERY_COLUMNS);
    q.text.push_str(" WHERE event_id IN");
    q.bind_list(d, event_ids.iter().cloned().map(Param::Text));
    q.text.push_str(" ORDER BY id");
    q
}

/// The attempts of these deliveries, oldest first.
pub fn attempts_of(dialect: Dialect, delivery_ids: &[i64]) -> Sql {
    let (mut q, d) = Sql::new(
        dialect,
        "SELECT delivery_id, started_at, duration_ms, outcome, status_code, detail, sent FROM attempts WHERE delivery_id IN",
    );
    q.bind_list(d, delivery_ids.iter().copied().map(Param::Int));
    q.text.push_str(" ORDER BY id");
    q
}

/// Events, newest first, filtered; a page at a time (keyset: older than `before`).
pub fn events(dialect: Dialect, f: &EventFilter) -> Sql {
    let (mut q, d) = Sql::new(
        dialect,
        "SELECT event_id, event_type, received_at, matched_rules, about FROM events WHERE 1 = 1",
    );
    if let Some(t) = &f.event_type {
        q.bind(d, " AND event_type = ", Param::Text(t.clone()));
    }
    if let Some(s) = &f.search {
        q.bind(d, " AND (event_id = ", Param::Text(s.clone()));
        let pk = format!(" OR {} = ", d.body_field("PrimaryKey"));
        q.bind(d, &pk, Param::Text(s.clone()));
        let ctx = format!(" OR {} = ", d.body_field("ContextIdentifier"));
        q.bind(d, &ctx, Param::Text(s.clone()));
        let about = format!(" OR about {} ", d.like());
        q.bind(d, &about, Param::Text(format!("%{}%", like_escaped(s))));
        q.text.push_str(" ESCAPE '\\')");
    }
    if let Some(state) = f.state {
        let text = " AND event_id IN (SELECT event_id FROM deliveries WHERE status = ";
        q.bind(d, text, Param::Text(state.as_str().into()));
        q.text.push(')');
    }
    if let Some(since) = f.since {
        q.bind(d, " AND received_at >= ", Param::Int(since));
    }
    if let Some(until) = f.until {
        q.bind(d, " AND received_at < ", Param::Int(until));
    }
    if let Some((at, id)) = &f.before {
        q.bind(d, " AND (received_at < ", Param::Int(*at));
        q.bind(d, " OR (received_at = ", Param::Int(*at));
        q.bind(d, " AND event_id < ", Param::Text(id.clone()));
        q.text.push_str("))");
    }
    q.bind(
        d,
        " ORDER BY received_at DESC, event_id DESC LIMIT ",
        Param::Int(i64::from(f.limit.max(1))),
    );
    q
}

/// A search term as a `LIKE` pattern matches it: `%`, `_` and `\` as themselves.
fn like_escaped(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Events received since `since`, and how many of them matched no rule.
pub fn event_counts(dialect: Dialect, since: Millis) -> Sql {
    let (mut q, d) = Sql::new(
        dialect,
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN matched_rules = '[]' THEN 1 ELSE 0 END), 0) AS unmatched FROM events",
    );
    q.bind(d, " WHERE received_at >= ", Param::Int(since));
    q
}

/// Deliveries by channel and state.
pub const CHANNEL_COUNTS: &str =
    "SELECT channel, status, COUNT(*) AS n FROM deliveries GROUP BY channel, status";

/// The newest delivery of a channel in a state (its time and last error).
pub fn newest(dialect: Dialect, channel: &str, status: DeliveryStatus) -> Sql {
    let (mut q, d) = Sql::new(dialect, "SELECT updated_at, last_error FROM deliveries");
    q.bind(d, " WHERE channel = ", Param::Text(channel.into()));
    q.bind(d, " AND status = ", Param::Text(status.as_str().into()));
    q.text.push_str(" ORDER BY updated_at DESC LIMIT 1");
    q
}

/// Destinations paused (a 429's `Retry-After`) past `now`.
pub fn paused(dialect: Dialect, now: Millis) -> Sql {
    let (mut q, d) = Sql::new(dialect, "SELECT channel, paused_until FROM destinations");
    q.bind(d, " WHERE paused_until > ", Param::Int(now));
    q
}

/// The attempt rows that mark deliveries as queued again by hand, before the replay itself.
pub fn replay_marks(dialect: Dialect, which: &super::Replay, now: Millis) -> Sql {
    let (mut q, d) = Sql::new(
        dialect,
        "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code, detail) SELECT id",
    );
    q.bind(d, ", ", Param::Int(now));
    q.text
        .push_str(", 0, 'replayed', NULL, 'queued again by hand' FROM deliveries");
    match which {
        super::Replay::Ids(ids) => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            q.text
                .push_str(&format!(" WHERE id IN ({})", list.join(", ")));
        }
        super::Replay::Dead { channel } => {
            q.text.push_str(" WHERE status = 'dead'");
            if let Some(c) = channel {
                q.bind(d, " AND channel = ", Param::Text(c.clone()));
            }
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let f = EventFilter {
            limit: 50,
            search: Some("1042".into()),
            before: Some((7, "e".into())),
            ..Default::default()
        };
        let pg = events(Dialect::Postgres, &f);
        assert!(
            pg.text
                .contains("((COALESCE(doc, body)::jsonb) ->> 'PrimaryKey') = $2"),
            "{}",
            pg.text
        );
        assert!(pg.text.ends_with("LIMIT $8"), "{}", pg.text);
        let lite = events(Dialect::Sqlite, &f);
        assert_eq!(lite.text.matches('?').count(), lite.params.len());
        assert_eq!(lite.params.len(), 8);
    }
}
