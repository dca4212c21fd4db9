//! Reading what a digest collected, for its message (joining one is [`super::join`]).

use sqlx::{Row, SqlitePool};

use crate::store::{DigestContent, Member, Result};

pub(super) async fn content(pool: &SqlitePool, id: i64) -> Result<Option<DigestContent>> {
    let Some(row) = sqlx::query("SELECT key, opened_at, due_at FROM digests WHERE id = ?1")
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let members = sqlx::query(
        "SELECT d.id, d.event_id, e.received_at, e.body FROM deliveries d
         JOIN events e ON e.event_id = d.event_id
         WHERE d.digest_id = ?1 AND d.status = 'digest' ORDER BY d.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Member {
        delivery_id: r.get("id"),
        event_id: r.get("event_id"),
        received_at: r.get("received_at"),
        body: r.get::<String, _>("body").into(),
    })
    .collect();
    Ok(Some(DigestContent {
        id,
        key: row.get("key"),
        opened_at: row.get("opened_at"),
        due_at: row.get("due_at"),
        members,
    }))
}
