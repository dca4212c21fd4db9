//! Housekeeping and the few writes outside the pipeline's group commit, written once for both
//! backends: replays, giving leases back, pauses, the lease sweep, locks, purging, and the
//! counts the metrics read. They are rare, so each is a plain statement or transaction.

use super::rows::Rows;
use super::sql::{Col, Param, Sql};
use super::{CONTENT_WINDOW_MS, Counts, Held, Millis, Replay, Result, now_ms, page};

/// Queues deliveries again, now, marking each with an attempt row that says so.
pub async fn replay<R: Rows>(db: &R, which: &Replay, now: Millis) -> Result<u64> {
    let d = R::DIALECT;
    if matches!(which, Replay::Ids(ids) if ids.is_empty()) {
        return Ok(0);
    }
    let (mut q, _) = Sql::new(d, "UPDATE deliveries SET status = 'pending', attempts = 0");
    q.bind(d, ", next_attempt_at = ", Param::Int(now));
    q.bind(d, ", round_started_at = ", Param::Int(now));
    q.text
        .push_str(", lease_until = NULL, lease_owner = NULL, lease_token = NULL");
    q.bind(d, ", updated_at = ", Param::Int(now));
    match which {
        Replay::Ids(ids) => {
            q.text.push_str(" WHERE id IN");
            q.bind_list(d, ids.iter().map(|id| Param::Int(*id)));
        }
        Replay::Dead { channel } => {
            q.text.push_str(" WHERE status = 'dead'");
            if let Some(c) = channel {
                q.bind(d, " AND channel = ", Param::Text(c.clone()));
            }
        }
    }
    let mut tx = db.begin().await?;
    tx.execute(&page::replay_marks(d, which, now)).await?;
    let n = tx.execute(&q).await?;
    tx.commit().await?;
    Ok(n)
}

/// Gives leases back: the deliveries are due again at once. A lease is matched by its token,
/// so one that was claimed again meanwhile is left alone.
pub async fn release<R: Rows>(db: &R, leases: &[Held]) -> Result<()> {
    if leases.is_empty() {
        return Ok(());
    }
    let d = R::DIALECT;
    let (mut q, _) = Sql::new(
        d,
        &format!(
            "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, lease_token = NULL,
               next_attempt_at = {}(next_attempt_at, created_at)
             WHERE id IN",
            d.least()
        ),
    );
    q.bind_list(d, leases.iter().map(|l| Param::Int(l.delivery_id)));
    // `lease_token = CASE id WHEN … THEN … END`: each row with its own claim's token (a
    // row-value `IN` would scan the table).
    q.text.push_str(" AND lease_token = CASE id");
    for l in leases {
        q.bind(d, " WHEN ", Param::Int(l.delivery_id));
        q.bind(d, " THEN ", Param::Int(l.token));
    }
    q.text.push_str(" END");
    db.execute(&q).await?;
    Ok(())
}

/// Nobody sends to `channel` before `until` (a later pause already asked for stays).
pub async fn pause<R: Rows>(db: &R, channel: &str, until: Millis) -> Result<()> {
    let d = R::DIALECT;
    let text = format!(
        "INSERT INTO destinations (channel, paused_until) VALUES (?1, ?2)
         ON CONFLICT (channel) DO UPDATE SET paused_until = {}(destinations.paused_until, excluded.paused_until)",
        d.greatest()
    );
    let params = vec![Param::Text(channel.into()), Param::Int(until)];
    db.execute(&Sql::fixed(d, &text, params)).await?;
    Ok(())
}

/// Deliveries due now and not sent: pending or retrying, with their time come.
pub async fn due_count<R: Rows>(db: &R, now: Millis) -> Result<u64> {
    let text = "SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'retrying') AND next_attempt_at <= ?1";
    let sql = Sql::fixed(R::DIALECT, text, vec![Param::Int(now)]);
    let rows = db.fetch(&sql, &[Col::Int("n")]).await?;
    let n = rows.first().map(|r| r.int("n")).transpose()?.unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// Leases held by anyone but `me` whose holder has not heartbeat since `before` (or is not
/// named) are due again now; those instances are forgotten.
pub async fn release_lapsed<R: Rows>(db: &R, me: &str, before: Millis, now: Millis) -> Result<u64> {
    let d = R::DIALECT;
    let who = || vec![Param::Text(me.into()), Param::Int(before)];
    // Usually nobody stopped: look before touching the deliveries.
    let count = Sql::fixed(
        d,
        "SELECT COUNT(*) AS n FROM instances WHERE id <> ?1 AND heartbeat_at < ?2",
        who(),
    );
    let lapsed = db.fetch(&count, &[Col::Int("n")]).await?;
    let lapsed = lapsed.first().map(|r| r.int("n")).transpose()?.unwrap_or(0);
    if lapsed == 0 && before != Millis::MAX {
        return Ok(0);
    }
    let text = format!(
        "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, lease_token = NULL,
           next_attempt_at = {}(next_attempt_at, ?3)
         WHERE lease_until IS NOT NULL AND (lease_owner IS NULL OR (lease_owner <> ?1 AND lease_owner NOT IN (
           SELECT id FROM instances WHERE heartbeat_at >= ?2)))",
        d.least()
    );
    let mut params = who();
    params.push(Param::Int(now));
    let forget = "DELETE FROM instances WHERE id <> ?1 AND heartbeat_at < ?2";
    let mut tx = db.begin().await?;
    let released = tx.execute(&Sql::fixed(d, &text, params)).await?;
    tx.execute(&Sql::fixed(d, forget, who())).await?;
    tx.commit().await?;
    Ok(released)
}

/// Takes the lock `name` until `until` if nobody holds it now (or `owner` already does).
pub async fn try_lock<R: Rows>(
    db: &R,
    name: &str,
    owner: &str,
    now: Millis,
    until: Millis,
) -> Result<bool> {
    let sql = Sql::fixed(
        R::DIALECT,
        "INSERT INTO locks (name, owner, until) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE locks.until <= ?3 OR locks.owner = excluded.owner
         RETURNING owner",
        vec![
            Param::Text(name.into()),
            Param::Text(owner.into()),
            Param::Int(now),
            Param::Int(until),
        ],
    );
    Ok(!db.fetch(&sql, &[Col::Text("owner")]).await?.is_empty())
}

/// Deletes events received before `before` whose deliveries are all finished, and what
/// nothing needs any more.
pub async fn purge<R: Rows>(db: &R, before: Millis) -> Result<u64> {
    let d = R::DIALECT;
    let at = |t: Millis| vec![Param::Int(t)];
    let done = db
        .execute(&Sql::fixed(
            d,
            "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (
               SELECT 1 FROM deliveries d WHERE d.event_id = events.event_id
               AND d.status IN ('pending', 'retrying', 'held', 'digest'))",
            at(before),
        ))
        .await?;
    // Digests that collected nothing (what came went at once) have no delivery to take them
    // along: they go once long past due. The others go with their delivery.
    let empty = "DELETE FROM digests WHERE delivery_id IS NULL AND due_at < ?1";
    db.execute(&Sql::fixed(d, empty, at(before))).await?;
    // Conversations nobody wrote in for their `keep:` (a quote's life).
    let quiet = "DELETE FROM conversations WHERE expires_at < ?1";
    db.execute(&Sql::fixed(d, quiet, at(before))).await?;
    // Contents past the window in which they count as the same event sent again.
    let old = "DELETE FROM event_contents WHERE received_at < ?1";
    db.execute(&Sql::fixed(d, old, at(now_ms() - CONTENT_WINDOW_MS)))
        .await?;
    Ok(done)
}

/// Deliveries by state.
pub async fn counts<R: Rows>(db: &R) -> Result<Counts> {
    let sql = Sql::fixed(
        R::DIALECT,
        "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status",
        Vec::new(),
    );
    let mut counts = Counts::default();
    for r in db
        .fetch(&sql, &[Col::Text("status"), Col::Int("n")])
        .await?
    {
        if let Ok(status) = r.text("status")?.parse() {
            counts.set(status, r.int("n")? as u64);
        }
    }
    Ok(counts)
}

/// For each channel, the oldest delivery due since before `before`.
pub async fn oldest_due<R: Rows>(db: &R, before: Millis) -> Result<Vec<(String, Millis)>> {
    let sql = Sql::fixed(
        R::DIALECT,
        "SELECT channel, MIN(next_attempt_at) AS since FROM deliveries
         WHERE status IN ('pending', 'retrying', 'held') AND next_attempt_at <= ?1
         GROUP BY channel",
        vec![Param::Int(before)],
    );
    let rows = db
        .fetch(&sql, &[Col::Text("channel"), Col::Int("since")])
        .await?;
    rows.iter()
        .map(|r| Ok((r.text("channel")?, r.int("since")?)))
        .collect()
}

/// Channels that have deliveries still to make.
pub async fn channels_with_work<R: Rows>(db: &R) -> Result<Vec<String>> {
    let sql = Sql::fixed(
        R::DIALECT,
        "SELECT DISTINCT channel FROM deliveries WHERE status IN ('pending', 'retrying', 'held')",
        Vec::new(),
    );
    let rows = db.fetch(&sql, &[Col::Text("channel")]).await?;
    rows.iter().map(|r| r.text("channel")).collect()
}
