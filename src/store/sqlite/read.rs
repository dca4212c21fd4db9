//! SQLite reads for people (events, deliveries, counts) and the few writes that do not go
//! through group commit: replay, release, pause, purge and the lease sweep, which are rare.

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::store::page;
use crate::store::{Counts, Millis, Replay, Result};

pub(super) async fn replay(pool: &SqlitePool, which: &Replay, now: Millis) -> Result<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let marks = page::replay_marks(page::Dialect::Sqlite, which, now);
    crate::store::page_run::query(&marks)
        .execute(&mut *tx)
        .await?;
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ",
    );
    q.push_bind(now)
        .push(", round_started_at = ")
        .push_bind(now)
        .push(", lease_until = NULL, lease_owner = NULL, lease_token = NULL, updated_at = ")
        .push_bind(now);
    match which {
        Replay::Ids(ids) => {
            q.push(" WHERE id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            q.push(")");
        }
        Replay::Dead { channel } => {
            q.push(" WHERE status = 'dead'");
            if let Some(c) = channel {
                q.push(" AND channel = ").push_bind(c.clone());
            }
        }
    }
    let n = q.build().execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(n)
}

pub(super) async fn release(pool: &SqlitePool, leases: &[(i64, i64)]) -> Result<()> {
    if leases.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, lease_token = NULL,
           next_attempt_at = MIN(next_attempt_at, created_at)
         WHERE ",
    );
    push_leases(&mut q, leases);
    q.build().execute(pool).await?;
    Ok(())
}

/// `id IN (…) AND lease_token = CASE id WHEN … THEN … END`: the rows by primary key (a
/// row-value `IN` would scan the table), each with its own claim's token.
pub(super) fn push_leases(q: &mut QueryBuilder<Sqlite>, leases: &[(i64, i64)]) {
    q.push("id IN (");
    let mut ids = q.separated(", ");
    for (id, _) in leases {
        ids.push_bind(*id);
    }
    q.push(") AND lease_token = CASE id");
    for (id, token) in leases {
        q.push(" WHEN ")
            .push_bind(*id)
            .push(" THEN ")
            .push_bind(*token);
    }
    q.push(" END");
}

pub(super) async fn pause(pool: &SqlitePool, channel: &str, until: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO destinations (channel, paused_until) VALUES (?1, ?2)
         ON CONFLICT (channel) DO UPDATE SET paused_until = MAX(paused_until, excluded.paused_until)",
    )
    .bind(channel)
    .bind(until)
    .execute(pool)
    .await?;
    Ok(())
}

/// Leases held by anyone but `me` whose holder has not heartbeat since `before` (or is not
/// named) are due again now; those instances are forgotten.
pub(super) async fn release_lapsed(
    pool: &SqlitePool,
    me: &str,
    before: Millis,
    now: Millis,
) -> Result<u64> {
    // Usually nobody stopped: look before touching the deliveries.
    let lapsed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE id <> ?1 AND heartbeat_at < ?2")
            .bind(me)
            .bind(before)
            .fetch_one(pool)
            .await?;
    if lapsed == 0 && before != Millis::MAX {
        return Ok(0);
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let released = sqlx::query(
        "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, lease_token = NULL,
           next_attempt_at = MIN(next_attempt_at, ?3)
         WHERE lease_until IS NOT NULL AND (lease_owner IS NULL OR (lease_owner <> ?1 AND lease_owner NOT IN (
           SELECT id FROM instances WHERE heartbeat_at >= ?2)))",
    )
    .bind(me)
    .bind(before)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM instances WHERE id <> ?1 AND heartbeat_at < ?2")
        .bind(me)
        .bind(before)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(released)
}

pub(super) async fn try_lock(
    pool: &SqlitePool,
    name: &str,
    owner: &str,
    now: Millis,
    until: Millis,
) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO locks (name, owner, until) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE locks.until <= ?3 OR locks.owner = excluded.owner
         RETURNING owner",
    )
    .bind(name)
    .bind(owner)
    .bind(now)
    .bind(until)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

pub(super) async fn purge(pool: &SqlitePool, before: Millis) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (
           SELECT 1 FROM deliveries d WHERE d.event_id = events.event_id
           AND d.status IN ('pending', 'retrying', 'held', 'digest'))",
    )
    .bind(before)
    .execute(pool)
    .await?;
    // Digests that collected nothing (what came went at once) have no delivery to take them
    // along: they go once long past due. The others go with their delivery.
    sqlx::query("DELETE FROM digests WHERE delivery_id IS NULL AND due_at < ?1")
        .bind(before)
        .execute(pool)
        .await?;
    // Conversations nobody wrote in for their `keep:` (a quote's life).
    sqlx::query("DELETE FROM conversations WHERE expires_at < ?1")
        .bind(before)
        .execute(pool)
        .await?;
    // Contents past the window in which they count as the same event sent again.
    sqlx::query("DELETE FROM event_contents WHERE received_at < ?1")
        .bind(crate::store::now_ms() - crate::store::CONTENT_WINDOW_MS)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn counts(pool: &SqlitePool) -> Result<Counts> {
    let mut counts = Counts::default();
    for r in sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
        .fetch_all(pool)
        .await?
    {
        if let Ok(status) = r.get::<String, _>("status").parse() {
            counts.set(status, r.get::<i64, _>("n") as u64);
        }
    }
    Ok(counts)
}

pub(super) async fn oldest_due(pool: &SqlitePool, before: Millis) -> Result<Vec<(String, Millis)>> {
    let rows = sqlx::query(
        "SELECT channel, MIN(next_attempt_at) AS since FROM deliveries
         WHERE status IN ('pending', 'retrying', 'held') AND next_attempt_at <= ?1
         GROUP BY channel",
    )
    .bind(before)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("channel"), r.get("since")))
        .collect())
}

pub(super) async fn channels_with_work(pool: &SqlitePool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT channel FROM deliveries WHERE status IN ('pending', 'retrying', 'held')",
    )
    .fetch_all(pool)
    .await?)
}
