//! Recording outcomes, only under the current claim token: a delivery whose lease ran out and
//! was claimed again cannot have its result overwritten by the slower claim.

use std::collections::HashSet;

use sqlx::{PgConnection, Row};

use crate::store::{Attempt, Millis, Next, Record, Recorded, Result, now_ms};

/// Records outcomes whose claim is still current, then the attempts of those that counted.
pub(super) async fn record(tx: &mut PgConnection, records: &[Record]) -> Result<Vec<Recorded>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let sent: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.next, Next::Sent))
        .collect();
    let mut current = mark_sent(tx, &sent, now).await?;
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
    for r in records.iter().filter(|r| current.contains(&r.delivery_id)) {
        if let Some(about) = &r.about {
            describe(tx, r.delivery_id, about).await?;
        }
    }
    Ok(records
        .iter()
        .map(|r| match current.contains(&r.delivery_id) {
            true => Recorded::Done,
            false => Recorded::Stale,
        })
        .collect())
}

async fn insert_attempts(tx: &mut PgConnection, attempts: &[(i64, &Attempt)]) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = attempts.iter().map(|(id, _)| *id).collect();
    let started: Vec<Millis> = attempts.iter().map(|(_, a)| a.started_at).collect();
    let took: Vec<i64> = attempts.iter().map(|(_, a)| a.duration_ms).collect();
    let outcome: Vec<&str> = attempts.iter().map(|(_, a)| a.outcome.as_str()).collect();
    let status: Vec<Option<i64>> = attempts
        .iter()
        .map(|(_, a)| a.status_code.map(i64::from))
        .collect();
    let detail: Vec<&str> = attempts.iter().map(|(_, a)| a.detail.as_str()).collect();
    let sent: Vec<Option<&str>> = attempts.iter().map(|(_, a)| a.sent.as_deref()).collect();
    sqlx::query(
        "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code, detail, sent)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[])",
    )
    .bind(&ids)
    .bind(&started)
    .bind(&took)
    .bind(&outcome)
    .bind(&status)
    .bind(&detail)
    .bind(&sent)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks sent the deliveries whose claim is current; returns their ids.
async fn mark_sent(
    tx: &mut PgConnection,
    records: &[&Record],
    now: Millis,
) -> Result<HashSet<i64>> {
    let mut done = HashSet::new();
    if !records.is_empty() {
        let ids: Vec<i64> = records.iter().map(|r| r.delivery_id).collect();
        let tokens: Vec<i64> = records.iter().map(|r| r.token).collect();
        // `id = ANY` finds the rows by primary key whatever the plan; the token is matched
        // to its id by position.
        let rows = sqlx::query(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL,
               lease_owner = NULL, lease_token = NULL, updated_at = $1
             WHERE id = ANY($2) AND lease_token = ($3::bigint[])[array_position($2::bigint[], id)]
             RETURNING id",
        )
        .bind(now)
        .bind(&ids)
        .bind(&tokens)
        .fetch_all(&mut *tx)
        .await?;
        done.extend(rows.iter().map(|r| r.get::<i64, _>("id")));
    }
    Ok(done)
}

/// A retry, a dead letter or a skip. False if the claim is no longer current.
async fn mark_unsent(tx: &mut PgConnection, r: &Record, now: Millis) -> Result<bool> {
    let tried = i64::from(r.attempt.is_some());
    let (next_at, error) = match &r.next {
        Next::RetryAt(at) => (Some(*at), r.attempt.as_ref().map(|a| a.detail.as_str())),
        Next::Dead(reason) | Next::Skipped(reason) => (None, Some(reason.as_str())),
        Next::Held(until) => (Some(*until), None),
        Next::Sent => return Ok(false),
    };
    let changed = sqlx::query(
        "UPDATE deliveries SET status = $1, attempts = attempts + $2,
           next_attempt_at = COALESCE($3, next_attempt_at), lease_until = NULL,
           lease_owner = NULL, lease_token = NULL,
           last_error = COALESCE($4, last_error), updated_at = $5
         WHERE id = $6 AND lease_token = $7",
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
async fn members_sent(tx: &mut PgConnection, digests: &HashSet<i64>, now: Millis) -> Result<()> {
    if digests.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = digests.iter().copied().collect();
    sqlx::query(
        "UPDATE deliveries SET status = 'sent', updated_at = $1
         WHERE status = 'digest' AND digest_id IN (
           SELECT digest_of FROM deliveries WHERE digest_of IS NOT NULL AND id = ANY($2))",
    )
    .bind(now)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The line of the delivery's event, when `about` says more (is longer) than the one kept.
pub(super) async fn describe(tx: &mut PgConnection, delivery_id: i64, about: &str) -> Result<()> {
    sqlx::query(
        "UPDATE events SET about = $1
         WHERE event_id = (SELECT event_id FROM deliveries WHERE id = $2)
           AND (about IS NULL OR length(about) < length($1))",
    )
    .bind(about)
    .bind(delivery_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
