//! The SQLite backend: one file, WAL journal, `synchronous = FULL` so that a commit is on disk
//! before herald answers 200.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::{
    AttemptRow, BoxFuture, Claimed, Counts, DeliveryFilter, DeliveryRow, EventRow, Millis, Next,
    Store, StoreError, WriteOp, WriteResult, now_ms,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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

    async fn write(&self, ops: &[WriteOp]) -> Result<Vec<WriteResult>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Accept(e) => {
                    // A new id inserts; an id older than the dedup window is replaced; an id
                    // seen within the window changes nothing: a duplicate.
                    let done = sqlx::query(
                        "INSERT INTO events (event_id, event_type, received_at, body, matched_rules)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (event_id) DO UPDATE SET
                           event_type = excluded.event_type, received_at = excluded.received_at,
                           body = excluded.body, matched_rules = excluded.matched_rules
                         WHERE events.received_at < ?6",
                    )
                    .bind(&e.event_id)
                    .bind(&e.event_type)
                    .bind(e.received_at)
                    .bind(&e.body)
                    .bind(serde_json::to_string(&e.matched_rules).expect("names serialize"))
                    .bind(e.dedup_since)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        results.push(WriteResult::Duplicate);
                        continue;
                    }
                    for d in &e.deliveries {
                        sqlx::query(
                            "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,
                               next_attempt_at, created_at, round_started_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5, ?5)",
                        )
                        .bind(&e.event_id)
                        .bind(&d.rule)
                        .bind(d.action_index)
                        .bind(&d.channel)
                        .bind(e.received_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    results.push(WriteResult::Accepted);
                }
                WriteOp::Record {
                    delivery_id,
                    attempt,
                    next,
                } => {
                    if let Some(a) = attempt {
                        sqlx::query(
                            "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code, detail)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )
                        .bind(delivery_id)
                        .bind(a.started_at)
                        .bind(a.duration_ms)
                        .bind(a.outcome.as_str())
                        .bind(a.status_code.map(i64::from))
                        .bind(&a.detail)
                        .execute(&mut *tx)
                        .await?;
                    }
                    let tried = i64::from(attempt.is_some());
                    let (status, next_at, error): (&str, Option<Millis>, Option<&str>) = match next
                    {
                        Next::Sent => ("sent", None, None),
                        Next::RetryAt(at) => (
                            "retrying",
                            Some(*at),
                            attempt.as_ref().map(|a| a.detail.as_str()),
                        ),
                        Next::Dead(reason) => ("dead", None, Some(reason.as_str())),
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
                    .bind(delivery_id)
                    .execute(&mut *tx)
                    .await?;
                    results.push(WriteResult::Recorded);
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn claim_due(
        &self,
        channel: &str,
        limit: u32,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "UPDATE deliveries SET lease_until = ?1
             WHERE id IN (
               SELECT id FROM deliveries
               WHERE channel = ?2 AND status IN ('pending', 'retrying') AND next_attempt_at <= ?3
                 AND (lease_until IS NULL OR lease_until <= ?3)
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
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT event_id, body, received_at FROM events WHERE event_id IN (");
        let mut sep = q.separated(", ");
        for r in &rows {
            sep.push_bind(r.get::<String, _>("event_id"));
        }
        q.push(")");
        let bodies: std::collections::HashMap<String, (String, Millis)> = q
            .build()
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.get("event_id"), (r.get("body"), r.get("received_at"))))
            .collect();
        tx.commit().await?;
        let mut claimed: Vec<Claimed> = rows
            .into_iter()
            .filter_map(|r| {
                let event_id: String = r.get("event_id");
                let (body, received_at) = bodies.get(&event_id)?.clone();
                Some(Claimed {
                    delivery_id: r.get("id"),
                    event_id,
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

    fn claim<'a>(
        &'a self,
        channel: &'a str,
        limit: u32,
        now: Millis,
        lease_until: Millis,
    ) -> BoxFuture<'a, Result<Vec<Claimed>, StoreError>> {
        Box::pin(self.claim_due(channel, limit, now, lease_until))
    }

    fn release<'a>(&'a self, ids: &'a [i64]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("UPDATE deliveries SET lease_until = NULL WHERE id IN (");
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
}
