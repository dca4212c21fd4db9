//! Conversations on PostgreSQL: a step and a posted first message, each one transaction on the
//! conversation's row (locked with FOR UPDATE); what they do is [`crate::store::conversation`]'s.

use sqlx::{PgConnection, PgPool, Row};

use crate::store::Result;
use crate::store::conversation::{self, Conversation, Posted, Seen, Step, Stepped, ThreadRef};

pub(super) async fn step(pool: &PgPool, s: &Step) -> Result<Stepped> {
    let mut tx = pool.begin().await?;
    // Writing first takes the write lock before reading, so the read is the one that counts.
    sqlx::query(
        "INSERT INTO conversations (channel, key, expires_at, updated_at) VALUES ($1, $2, 0, $3)
         ON CONFLICT (channel, key) DO NOTHING",
    )
    .bind(&s.channel)
    .bind(&s.key)
    .bind(s.now)
    .execute(&mut *tx)
    .await?;
    let stored = load(&mut tx, &s.channel, &s.key).await?;
    let (stepped, c) = conversation::decide(stored, s);
    save(&mut tx, &s.channel, &s.key, &c, s.now).await?;
    tx.commit().await?;
    Ok(stepped)
}

pub(super) async fn posted(pool: &PgPool, p: &Posted) -> Result<()> {
    let mut tx = pool.begin().await?;
    // Write first, as in a step: the read that follows is then the one that counts.
    sqlx::query("UPDATE conversations SET updated_at = $1 WHERE channel = $2 AND key = $3")
        .bind(p.now)
        .bind(&p.channel)
        .bind(&p.key)
        .execute(&mut *tx)
        .await?;
    let stored = load(&mut tx, &p.channel, &p.key).await?.unwrap_or_default();
    let c = conversation::posted(stored, p);
    save(&mut tx, &p.channel, &p.key, &c, p.now).await?;
    tx.commit().await?;
    Ok(())
}

/// A conversation, to look at (`simulate`).
pub(super) async fn get(pool: &PgPool, channel: &str, key: &str) -> Result<Option<Conversation>> {
    let mut conn = pool.acquire().await?;
    load(&mut conn, channel, key).await
}

async fn load(tx: &mut PgConnection, channel: &str, key: &str) -> Result<Option<Conversation>> {
    let row = sqlx::query(
        "SELECT thread_id, place, subject, posted_at, posting_by, posting_until, latest_at, steps,
           expires_at
         FROM conversations WHERE channel = $1 AND key = $2 FOR UPDATE",
    )
    .bind(channel)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| {
        let thread_id: Option<String> = r.get("thread_id");
        let steps: String = r.get("steps");
        Conversation {
            thread: thread_id.map(|id| ThreadRef {
                id,
                place: r.get::<Option<String>, _>("place").unwrap_or_default(),
                subject: r.get::<Option<String>, _>("subject").unwrap_or_default(),
            }),
            posted_at: r.get("posted_at"),
            posting_by: r.get("posting_by"),
            posting_until: r.get("posting_until"),
            latest_at: r.get("latest_at"),
            steps: serde_json::from_str::<Vec<Seen>>(&steps).unwrap_or_default(),
            expires_at: r.get("expires_at"),
        }
    }))
}

async fn save(
    tx: &mut PgConnection,
    channel: &str,
    key: &str,
    c: &Conversation,
    now: i64,
) -> Result<()> {
    let steps = serde_json::to_string(&c.steps).unwrap_or_else(|_| "[]".into());
    let thread = c.thread.as_ref();
    sqlx::query(
        "UPDATE conversations SET thread_id = $3, place = $4, subject = $5, posted_at = $6,
           posting_by = $7, posting_until = $8, latest_at = $9, steps = $10, expires_at = $11,
           updated_at = $12
         WHERE channel = $1 AND key = $2",
    )
    .bind(channel)
    .bind(key)
    .bind(thread.map(|t| t.id.as_str()))
    .bind(thread.map(|t| t.place.as_str()))
    .bind(thread.map(|t| t.subject.as_str()))
    .bind(c.posted_at)
    .bind(c.posting_by)
    .bind(c.posting_until)
    .bind(c.latest_at)
    .bind(steps)
    .bind(c.expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
