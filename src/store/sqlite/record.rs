//! Recording outcomes, only under the current claim token: a delivery whose lease ran out and
//! was claimed again cannot have its result overwritten by the slower claim.

use std::collections::HashSet;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::store::{Attempt, Millis, Next, Record, Recorded, Result, now_ms};

/// Rows per multi-row statement.
const CHUNK: usize = 500;

/// Records outcomes whose claim is still current: every success in one update, the rest one
/// by one, then the attempts of those that counted in one insert. One answer per record.
pub(super) async fn record(tx: &mut SqliteConnection, records: &[Record]) -> Result<Vec<Recorded>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let sent: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.next, Next::Sent))
        .collect();
    let mut current: HashSet<i64> = mark_sent(tx, &sent, now).await?;
    members_sent(tx, &current, now).await?;
    for r in records.iter().filter(|r| !matches!(r.next, Next::Sent)) {
        if mark_unsent(tx, r, now).await? {
            current.insert(r.delivery_id);
        }
    }
    let attempts: Vec<(i64, &Attempt)> = records
        .iter()
        .filter(|r| current.contains(&r.delivery_id))
        .filter_map(|r| r.attempt.as_ref().map(|a| (r.delivery_id, a)))
        .collect();
    insert_attempts(tx, &attempts).await?;
    Ok(records
        .iter()
        .map(|r| match current.contains(&r.delivery_id) {
            true => Recorded::Done,
            false => Recorded::Stale,
        })
        .collect())
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

/// Marks sent the deliveries whose claim is current; returns their ids.
async fn mark_sent(
    tx: &mut SqliteConnection,
    records: &[&Record],
    now: Millis,
) -> Result<HashSet<i64>> {
    let mut done = HashSet::new();
    for chunk in records.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL,
               lease_owner = NULL, lease_token = NULL, updated_at = ",
        );
        q.push_bind(now).push(" WHERE ");
        let pairs: Vec<(i64, i64)> = chunk.iter().map(|r| (r.delivery_id, r.token)).collect();
        super::read::push_leases(&mut q, &pairs);
        q.push(" RETURNING id");
        for row in q.build().fetch_all(&mut *tx).await? {
            done.insert(row.get("id"));
        }
    }
    Ok(done)
}

/// A retry, a dead letter, a skip or a hold: the new state, when next, and why. False if the claim is
/// no longer current.
async fn mark_unsent(tx: &mut SqliteConnection, r: &Record, now: Millis) -> Result<bool> {
    let tried = i64::from(r.attempt.is_some());
    let (next_at, error) = match &r.next {
        Next::RetryAt(at) => (Some(*at), r.attempt.as_ref().map(|a| a.detail.as_str())),
        Next::Dead(reason) | Next::Skipped(reason) => (None, Some(reason.as_str())),
        Next::Held(until) => (Some(*until), None),
        Next::Sent => return Ok(false),
    };
    let changed = sqlx::query(
        "UPDATE deliveries SET status = ?1, attempts = attempts + ?2,
           next_attempt_at = COALESCE(?3, next_attempt_at), lease_until = NULL,
           lease_owner = NULL, lease_token = NULL,
           last_error = COALESCE(?4, last_error), updated_at = ?5
         WHERE id = ?6 AND lease_token = ?7",
    )
    .bind(r.next.status().as_str())
    .bind(tried)
    .bind(next_at)
    .bind(error)
    .bind(now)
    .bind(r.delivery_id)
    .bind(r.token)
    .execute(&mut *tx)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// The deliveries a sent digest collected are sent with it.
async fn members_sent(
    tx: &mut SqliteConnection,
    digests: &HashSet<i64>,
    now: Millis,
) -> Result<()> {
    if digests.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("UPDATE deliveries SET status = 'sent', updated_at = ");
    q.push_bind(now).push(
        " WHERE status = 'digest' AND digest_id IN (
            SELECT digest_of FROM deliveries WHERE digest_of IS NOT NULL AND id IN (",
    );
    let mut ids = q.separated(", ");
    for id in digests {
        ids.push_bind(*id);
    }
    q.push("))");
    q.build().execute(&mut *tx).await?;
    Ok(())
}
