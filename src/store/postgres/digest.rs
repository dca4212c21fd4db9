//! Digests on PostgreSQL: joining one (inside the batch's transaction), and reading what one
//! collected. The open digest's row is locked while a delivery joins it; two replicas opening
//! one for the same action and key at once meet at its unique index, and the second joins the
//! first's.

use sqlx::{PgConnection, Row};

use crate::store::digest::{Admitted, Open};
use crate::store::{Join, Joined, Millis, Result};

pub(super) async fn join(tx: &mut PgConnection, j: &Join) -> Result<Joined> {
    match admitted(tx, j).await? {
        Admitted::Stale => return Ok(Joined::Stale),
        Admitted::Already(now) => return Ok(now),
        Admitted::Not => {}
    }
    if let Some(about) = &j.about {
        super::record::describe(tx, j.delivery_id, about).await?;
    }
    let open = match current(tx, j).await? {
        Some(d) if d.due_at > j.now => d,
        due => {
            if let Some(d) = due {
                close(tx, d.id).await?;
            }
            open(tx, j).await?
        }
    };
    if open.immediate_left > 0 {
        return at_once(tx, j, &open).await;
    }
    collect(tx, j, &open).await
}

/// One of the digest's first: it goes now, as a message of its own.
async fn at_once(tx: &mut PgConnection, j: &Join, open: &Open) -> Result<Joined> {
    sqlx::query("UPDATE digests SET immediate_left = immediate_left - 1 WHERE id = $1")
        .bind(open.id)
        .execute(&mut *tx)
        .await?;
    // Marked as one of the digest's immediate messages, which it does not collect: a retry
    // of this delivery is not counted again.
    sqlx::query("UPDATE deliveries SET digest_id = $1 WHERE id = $2")
        .bind(open.id)
        .bind(j.delivery_id)
        .execute(&mut *tx)
        .await?;
    Ok(open.now())
}

/// Into the digest: it waits there, and a digest that is full is due at once.
async fn collect(tx: &mut PgConnection, j: &Join, open: &Open) -> Result<Joined> {
    let moved = sqlx::query(
        "UPDATE deliveries SET status = 'digest', digest_id = $1, lease_until = NULL,
           lease_owner = NULL, lease_token = NULL, updated_at = $2
         WHERE id = $3 AND lease_token = $4",
    )
    .bind(open.id)
    .bind(j.now)
    .bind(j.delivery_id)
    .bind(j.token)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(Joined::Stale);
    }
    let c = open.collect(j);
    sqlx::query("UPDATE digests SET size = $1, bytes = $2, due_at = $3 WHERE id = $4")
        .bind(c.size)
        .bind(c.bytes)
        .bind(c.due_at)
        .bind(open.id)
        .execute(&mut *tx)
        .await?;
    let delivery_id = match open.delivery_id {
        Some(id) => id,
        None => sender(tx, j, open.id, c.due_at).await?,
    };
    if c.full {
        sqlx::query("UPDATE deliveries SET next_attempt_at = $1 WHERE id = $2")
            .bind(c.due_at)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(c.joined())
}

async fn admitted(tx: &mut PgConnection, j: &Join) -> Result<Admitted> {
    let row = sqlx::query(
        "SELECT d.digest_id, g.opened_at, g.due_at FROM deliveries d
         LEFT JOIN digests g ON g.id = d.digest_id
         WHERE d.id = $1 AND d.lease_token = $2",
    )
    .bind(j.delivery_id)
    .bind(j.token)
    .fetch_optional(&mut *tx)
    .await?;
    let seen = row.map(|r| (r.get("digest_id"), r.get("opened_at"), r.get("due_at")));
    Ok(Admitted::of(seen, j))
}

async fn current(tx: &mut PgConnection, j: &Join) -> Result<Option<Open>> {
    let row = sqlx::query(
        "SELECT id, opened_at, due_at, immediate_left, size, delivery_id, bytes FROM digests
         WHERE channel = $1 AND rule = $2 AND action_index = $3 AND key = $4 AND state = 'open'
         FOR UPDATE",
    )
    .bind(&j.channel)
    .bind(&j.rule)
    .bind(i64::from(j.action_index))
    .bind(&j.key)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| Open {
        id: r.get("id"),
        opened_at: r.get("opened_at"),
        due_at: r.get("due_at"),
        immediate_left: r.get("immediate_left"),
        size: r.get("size"),
        delivery_id: r.get("delivery_id"),
        bytes: r.get("bytes"),
    }))
}

async fn close(tx: &mut PgConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE digests SET state = 'closed' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A new digest for the join's action and key.
async fn open(tx: &mut PgConnection, j: &Join) -> Result<Open> {
    let made: Option<i64> = sqlx::query_scalar(
        "INSERT INTO digests (channel, rule, action_index, key, state, opened_at, due_at,
           immediate_left, size, max)
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, 0, $8)
         ON CONFLICT (channel, rule, action_index, key) WHERE state = 'open' DO NOTHING
         RETURNING id",
    )
    .bind(&j.channel)
    .bind(&j.rule)
    .bind(i64::from(j.action_index))
    .bind(&j.key)
    .bind(j.now)
    .bind(j.due_at)
    .bind(i64::from(j.immediate))
    .bind(j.max.map(i64::from))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = made else {
        // Another replica opened it a moment ago: join theirs.
        return Box::pin(current(tx, j)).await?.ok_or_else(|| {
            crate::store::StoreError::Conflict("a digest opened and closed at once".into())
        });
    };
    Ok(Open::new(id, j))
}

/// The delivery that sends digest `id`, due when it is; made with its first member, so a
/// digest that collects nothing (everything went at once) sends nothing.
async fn sender(tx: &mut PgConnection, j: &Join, id: i64, due_at: Millis) -> Result<i64> {
    let delivery_id: i64 = sqlx::query_scalar(
        "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,
           next_attempt_at, created_at, round_started_at, updated_at, digest_of)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6, $6, $7) RETURNING id",
    )
    .bind(&j.event_id)
    .bind(&j.rule)
    .bind(i64::from(j.action_index))
    .bind(&j.channel)
    .bind(due_at)
    .bind(j.now)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE digests SET delivery_id = $1 WHERE id = $2")
        .bind(delivery_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(delivery_id)
}
