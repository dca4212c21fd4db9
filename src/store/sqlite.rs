//! The SQLite backend: one file, WAL journal, `synchronous = FULL` so that a commit is on disk
//! before herald answers 200.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::{
    Attempt, AttemptRow, BoxFuture, Claimed, Counts, DeliveryFilter, DeliveryRow, EventRow, Millis,
    NewDelivery, Next, Store, StoreError, WriteOp, WriteResult, now_ms,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Rows per multi-row statement, well under SQLite's limit on bound parameters.
const CHUNK: usize = 500;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.into()))?;
        Ok(SqliteStore { pool })
    }

    /// Applies a batch in one transaction with a handful of multi-row statements, whatever its
    /// size: the cost of a write is mostly the round trip per statement, not the rows.
    async fn write(&self, ops: &[WriteOp]) -> Result<Vec<WriteResult>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut results: Vec<Option<WriteResult>> = vec![None; ops.len()];

        // Events. Within a batch, a second copy of an id is a duplicate of the first.
        let mut seen = std::collections::HashSet::new();
        let mut accepts = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let WriteOp::Accept(e) = op {
                if seen.insert(e.event_id.as_str()) {
                    accepts.push((i, e));
                } else {
                    results[i] = Some(WriteResult::Duplicate);
                }
            }
        }
        let mut stored = std::collections::HashSet::new();
        for chunk in accepts.chunks(CHUNK) {
            // A new id inserts; an id older than the dedup window is replaced; an id seen
            // within the window changes nothing: a duplicate, not in RETURNING.
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO events (event_id, event_type, received_at, body, matched_rules) ",
            );
            q.push_values(chunk, |mut row, (_, e)| {
                row.push_bind(&e.event_id)
                    .push_bind(&e.event_type)
                    .push_bind(e.received_at)
                    .push_bind(&e.body)
                    .push_bind(serde_json::to_string(&e.matched_rules).expect("names serialize"));
            });
            q.push(
                " ON CONFLICT (event_id) DO UPDATE SET event_type = excluded.event_type,
                  received_at = excluded.received_at, body = excluded.body,
                  matched_rules = excluded.matched_rules
                  WHERE events.received_at < excluded.received_at - ",
            )
            .push_bind(chunk[0].1.dedup_window_ms)
            .push(" RETURNING event_id");
            for r in q.build().fetch_all(&mut *tx).await? {
                stored.insert(r.get::<String, _>("event_id"));
            }
        }
        let fresh: Vec<_> = accepts
            .into_iter()
            .filter(|(_, e)| stored.contains(&e.event_id))
            .collect();
        let rows: Vec<(&str, &NewDelivery, Millis)> = fresh
            .iter()
            .flat_map(|(_, e)| {
                e.deliveries
                    .iter()
                    .map(|d| (e.event_id.as_str(), d, e.received_at))
            })
            .collect();
        let mut ids: std::collections::HashMap<(String, String, i64), i64> =
            std::collections::HashMap::new();
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
                ids.insert(
                    (r.get("event_id"), r.get("rule"), r.get("action_index")),
                    r.get("id"),
                );
            }
        }
        for (i, e) in fresh {
            let delivery_ids = e
                .deliveries
                .iter()
                .map(|d| {
                    ids[&(
                        e.event_id.clone(),
                        d.rule.clone(),
                        i64::from(d.action_index),
                    )]
                })
                .collect();
            results[i] = Some(WriteResult::Accepted(delivery_ids));
        }
        for (i, op) in ops.iter().enumerate() {
            if let (WriteOp::Accept(_), None) = (op, &results[i]) {
                results[i] = Some(WriteResult::Duplicate);
            }
        }

        // Outcomes: every attempt in one insert, every success in one update.
        let records: Vec<(usize, i64, &Option<Attempt>, &Next)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                WriteOp::Record {
                    delivery_id,
                    attempt,
                    next,
                } => Some((i, *delivery_id, attempt, next)),
                _ => None,
            })
            .collect();
        let attempts: Vec<(i64, &Attempt)> = records
            .iter()
            .filter_map(|(_, id, a, _)| a.as_ref().map(|a| (*id, a)))
            .collect();
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
        let sent: Vec<(i64, bool)> = records
            .iter()
            .filter(|(_, _, _, next)| matches!(next, Next::Sent))
            .map(|(_, id, a, _)| (*id, a.is_some()))
            .collect();
        for chunk in sent.chunks(CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL, updated_at = ",
            );
            q.push_bind(now).push(" WHERE id IN (");
            let mut sep = q.separated(", ");
            for (id, _) in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        for (_, id, attempt, next) in &records {
            let tried = i64::from(attempt.is_some());
            let (status, next_at, error): (&str, Option<Millis>, Option<&str>) = match next {
                Next::Sent => continue,
                Next::RetryAt(at) => (
                    "retrying",
                    Some(*at),
                    attempt.as_ref().map(|a| a.detail.as_str()),
                ),
                Next::Dead(reason) => ("dead", None, Some(reason.as_str())),
                Next::Skipped(reason) => ("skipped", None, Some(reason.as_str())),
            };
            sqlx::query(
                "UPDATE deliveries SET status = ?1, attempts = attempts + ?2,
                   next_attempt_at = COALESCE(?3, next_attempt_at), lease_until = NULL,
                   last_error = COALESCE(?4, last_error), updated_at = ?5
                 WHERE id = ?6",
            )
            .bind(status)
            .bind(tried)
            .bind(next_at)
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for (i, ..) in &records {
            results[*i] = Some(WriteResult::Recorded);
        }

        for (i, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Claim {
                    channel,
                    limit,
                    now,
                    lease_until,
                } => {
                    results[i] = Some(WriteResult::Claimed(
                        claim(&mut tx, channel, *limit, *now, *lease_until).await?,
                    ));
                }
                WriteOp::Heartbeat => {
                    sqlx::query(
                        "INSERT INTO heartbeat (id, at) VALUES (1, ?1)
                         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    )
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    results[i] = Some(WriteResult::Recorded);
                }
                _ => {}
            }
        }
        tx.commit().await?;
        Ok(results
            .into_iter()
            .map(|r| r.expect("every operation has a result"))
            .collect())
    }

    async fn attempts_for(&self, rows: &mut [DeliveryRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT delivery_id, started_at, duration_ms, outcome, status_code, detail FROM attempts WHERE delivery_id IN (",
        );
        let mut sep = q.separated(", ");
        for r in rows.iter() {
            sep.push_bind(r.id);
        }
        q.push(") ORDER BY id");
        for a in q.build().fetch_all(&self.pool).await? {
            let id: i64 = a.get("delivery_id");
            if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
                row.attempt_log.push(AttemptRow {
                    started_at: a.get("started_at"),
                    duration_ms: a.get("duration_ms"),
                    outcome: a.get("outcome"),
                    status_code: a.get("status_code"),
                    detail: a.get("detail"),
                });
            }
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, event_id, rule, channel, status, attempts, next_attempt_at, last_error, created_at, updated_at
             FROM deliveries WHERE 1 = 1",
        );
        if let Some(s) = &filter.status {
            q.push(" AND status = ").push_bind(s.clone());
        }
        if let Some(e) = &filter.event_id {
            q.push(" AND event_id = ").push_bind(e.clone());
        }
        if let Some(c) = &filter.channel {
            q.push(" AND channel = ").push_bind(c.clone());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.max(1)));
        let mut rows: Vec<DeliveryRow> = q
            .build()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| delivery_row(&r))
            .collect();
        self.attempts_for(&mut rows).await?;
        Ok(rows)
    }

    async fn list_events(
        &self,
        limit: u32,
        event_type: Option<&str>,
    ) -> Result<Vec<EventRow>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT event_id, event_type, received_at, matched_rules FROM events WHERE 1 = 1",
        );
        if let Some(t) = event_type {
            q.push(" AND event_type = ").push_bind(t.to_string());
        }
        q.push(" ORDER BY received_at DESC, rowid DESC LIMIT ")
            .push_bind(i64::from(limit.max(1)));
        let mut events: Vec<EventRow> = q
            .build()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| EventRow {
                event_id: r.get("event_id"),
                event_type: r.get("event_type"),
                received_at: r.get("received_at"),
                matched_rules: serde_json::from_str(&r.get::<String, _>("matched_rules"))
                    .unwrap_or_default(),
                deliveries: Vec::new(),
            })
            .collect();
        if events.is_empty() {
            return Ok(events);
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, event_id, rule, channel, status, attempts, next_attempt_at, last_error, created_at, updated_at
             FROM deliveries WHERE event_id IN (",
        );
        let mut sep = q.separated(", ");
        for e in &events {
            sep.push_bind(e.event_id.clone());
        }
        q.push(") ORDER BY id");
        for r in q.build().fetch_all(&self.pool).await? {
            let d = delivery_row(&r);
            if let Some(e) = events.iter_mut().find(|e| e.event_id == d.event_id) {
                e.deliveries.push(d);
            }
        }
        Ok(events)
    }

    async fn replay(
        &self,
        ids: Option<&[i64]>,
        channel: Option<&str>,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ",
        );
        q.push_bind(now)
            .push(", round_started_at = ")
            .push_bind(now)
            .push(", lease_until = NULL, updated_at = ")
            .push_bind(now);
        match ids {
            Some(ids) => {
                q.push(" WHERE id IN (");
                let mut sep = q.separated(", ");
                for id in ids {
                    sep.push_bind(*id);
                }
                q.push(")");
            }
            None => {
                q.push(" WHERE status = 'dead'");
                if let Some(c) = channel {
                    q.push(" AND channel = ").push_bind(c.to_string());
                }
            }
        }
        Ok(q.build().execute(&self.pool).await?.rows_affected())
    }
}

/// Leases due deliveries of one channel, inside the caller's transaction.
async fn claim(
    tx: &mut SqliteConnection,
    channel: &str,
    limit: u32,
    now: Millis,
    lease_until: Millis,
) -> Result<Vec<Claimed>, StoreError> {
    let rows = sqlx::query(
        "UPDATE deliveries SET lease_until = ?1, next_attempt_at = ?1
         WHERE id IN (
           SELECT id FROM deliveries
           WHERE channel = ?2 AND status IN ('pending', 'retrying') AND next_attempt_at <= ?3
           ORDER BY next_attempt_at, id LIMIT ?4)
         RETURNING id, event_id, rule, action_index, channel, attempts, round_started_at",
    )
    .bind(lease_until)
    .bind(channel)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT event_id, event_type, body, received_at FROM events WHERE event_id IN (",
    );
    let mut sep = q.separated(", ");
    for r in &rows {
        sep.push_bind(r.get::<String, _>("event_id"));
    }
    q.push(")");
    let bodies: std::collections::HashMap<String, (String, String, Millis)> = q
        .build()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.get("event_id"),
                (r.get("event_type"), r.get("body"), r.get("received_at")),
            )
        })
        .collect();
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .filter_map(|r| {
            let event_id: String = r.get("event_id");
            let (event_type, body, received_at) = bodies.get(&event_id)?.clone();
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

fn delivery_row(r: &sqlx::sqlite::SqliteRow) -> DeliveryRow {
    DeliveryRow {
        id: r.get("id"),
        event_id: r.get("event_id"),
        rule: r.get("rule"),
        channel: r.get("channel"),
        status: r.get("status"),
        attempts: r.get::<i64, _>("attempts") as u32,
        next_attempt_at: r.get("next_attempt_at"),
        last_error: r.get("last_error"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        attempt_log: Vec::new(),
    }
}

impl Store for SqliteStore {
    fn write_batch<'a>(
        &'a self,
        ops: &'a [WriteOp],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, StoreError>> {
        Box::pin(self.write(ops))
    }

    fn release<'a>(&'a self, ids: &'a [i64]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "UPDATE deliveries SET lease_until = NULL, next_attempt_at = MIN(next_attempt_at, created_at) WHERE id IN (",
            );
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&self.pool).await?;
            Ok(())
        })
    }

    fn events<'a>(
        &'a self,
        limit: u32,
        event_type: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<EventRow>, StoreError>> {
        Box::pin(self.list_events(limit, event_type))
    }

    fn deliveries<'a>(
        &'a self,
        filter: &'a DeliveryFilter,
    ) -> BoxFuture<'a, Result<Vec<DeliveryRow>, StoreError>> {
        Box::pin(self.list_deliveries(filter))
    }

    fn replay_ids<'a>(
        &'a self,
        ids: &'a [i64],
        now: Millis,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.replay(Some(ids), None, now))
    }

    fn replay_dead<'a>(
        &'a self,
        channel: Option<&'a str>,
        now: Millis,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.replay(None, channel, now))
    }

    fn purge<'a>(&'a self, before: Millis) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (
                   SELECT 1 FROM deliveries d WHERE d.event_id = events.event_id
                   AND d.status IN ('pending', 'retrying'))",
            )
            .bind(before)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts, StoreError>> {
        Box::pin(async move {
            let mut counts = Counts::default();
            for r in sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
                .fetch_all(&self.pool)
                .await?
            {
                let n = r.get::<i64, _>("n") as u64;
                match r.get::<String, _>("status").as_str() {
                    "pending" => counts.pending = n,
                    "retrying" => counts.retrying = n,
                    "sent" => counts.sent = n,
                    "dead" => counts.dead = n,
                    _ => {}
                }
            }
            Ok(counts)
        })
    }

    fn oldest_due(
        &self,
        before: Millis,
    ) -> BoxFuture<'_, Result<Vec<(String, Millis)>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT channel, MIN(next_attempt_at) AS since FROM deliveries
                 WHERE status IN ('pending', 'retrying') AND next_attempt_at <= ?1
                 GROUP BY channel",
            )
            .bind(before)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get("channel"), r.get("since")))
                .collect())
        })
    }

    fn channels_with_work(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT channel FROM deliveries WHERE status IN ('pending', 'retrying')",
            )
            .fetch_all(&self.pool)
            .await?)
        })
    }
}
