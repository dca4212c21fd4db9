//! Conversations and digests as stored, written once for both backends: a conversation's step
//! and its posted first message, each one transaction on the conversation's row (its write
//! first, so that the read which follows is the one that counts: SQLite's transaction holds
//! the write lock from its start, PostgreSQL's row is locked `FOR UPDATE`); what they decide is
//! [`super::conversation`]'s. And what a digest collected, for its message.

use super::conversation::{self, Conversation, Posted, Seen, Step, Stepped, ThreadRef};
use super::rows::{Conn, Rows};
use super::sql::{Col, Dialect, Param, Record, Sql};
use super::{DigestContent, Member, Result};

pub async fn step<R: Rows>(db: &R, s: &Step) -> Result<Stepped> {
    let d = R::DIALECT;
    let mut tx = db.begin().await?;
    let open = Sql::fixed(
        d,
        "INSERT INTO conversations (channel, key, expires_at, updated_at) VALUES (?1, ?2, 0, ?3)
         ON CONFLICT (channel, key) DO NOTHING",
        vec![
            Param::Text(s.channel.clone()),
            Param::Text(s.key.clone()),
            Param::Int(s.now),
        ],
    );
    tx.execute(&open).await?;
    let stored = load(&mut *tx, d, &s.channel, &s.key).await?;
    let (stepped, c) = conversation::decide(stored, s);
    save(&mut *tx, d, &s.channel, &s.key, &c, s.now).await?;
    tx.commit().await?;
    Ok(stepped)
}

pub async fn posted<R: Rows>(db: &R, p: &Posted) -> Result<()> {
    let d = R::DIALECT;
    let mut tx = db.begin().await?;
    let touch = Sql::fixed(
        d,
        "UPDATE conversations SET updated_at = ?1 WHERE channel = ?2 AND key = ?3",
        vec![
            Param::Int(p.now),
            Param::Text(p.channel.clone()),
            Param::Text(p.key.clone()),
        ],
    );
    tx.execute(&touch).await?;
    let stored = load(&mut *tx, d, &p.channel, &p.key)
        .await?
        .unwrap_or_default();
    let c = conversation::posted(stored, p);
    save(&mut *tx, d, &p.channel, &p.key, &c, p.now).await?;
    tx.commit().await?;
    Ok(())
}

/// A conversation, to look at (`simulate`).
pub async fn get<R: Rows>(db: &R, channel: &str, key: &str) -> Result<Option<Conversation>> {
    let sql = load_sql(R::DIALECT, channel, key, "");
    let rows = db.fetch(&sql, &CONVERSATION).await?;
    rows.first().map(conversation_of).transpose()
}

const CONVERSATION: [Col; 9] = [
    Col::Text("thread_id"),
    Col::Text("place"),
    Col::Text("subject"),
    Col::Int("posted_at"),
    Col::Int("posting_by"),
    Col::Int("posting_until"),
    Col::Int("latest_at"),
    Col::Text("steps"),
    Col::Int("expires_at"),
];

async fn load(
    tx: &mut dyn Conn,
    d: Dialect,
    channel: &str,
    key: &str,
) -> Result<Option<Conversation>> {
    let sql = load_sql(d, channel, key, d.for_update());
    let rows = tx.fetch(&sql, &CONVERSATION).await?;
    rows.first().map(conversation_of).transpose()
}

fn load_sql(d: Dialect, channel: &str, key: &str, lock: &str) -> Sql {
    let text = format!(
        "SELECT thread_id, place, subject, posted_at, posting_by, posting_until, latest_at, steps,
           expires_at
         FROM conversations WHERE channel = ?1 AND key = ?2{lock}"
    );
    let params = vec![Param::Text(channel.into()), Param::Text(key.into())];
    Sql::fixed(d, &text, params)
}

fn conversation_of(r: &Record) -> Result<Conversation> {
    let thread = match r.opt_text("thread_id")? {
        Some(id) => Some(ThreadRef {
            id,
            place: r.opt_text("place")?.unwrap_or_default(),
            subject: r.opt_text("subject")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Conversation {
        thread,
        posted_at: r.int("posted_at")?,
        posting_by: r.opt_int("posting_by")?,
        posting_until: r.int("posting_until")?,
        latest_at: r.int("latest_at")?,
        steps: serde_json::from_str::<Vec<Seen>>(&r.text("steps")?).unwrap_or_default(),
        expires_at: r.int("expires_at")?,
    })
}

async fn save(
    tx: &mut dyn Conn,
    d: Dialect,
    channel: &str,
    key: &str,
    c: &Conversation,
    now: i64,
) -> Result<()> {
    let steps = serde_json::to_string(&c.steps).unwrap_or_else(|_| "[]".into());
    let thread = c.thread.as_ref();
    let part = |f: fn(&ThreadRef) -> &String| Param::MaybeText(thread.map(|t| f(t).clone()));
    let params = vec![
        Param::Text(channel.into()),
        Param::Text(key.into()),
        part(|t| &t.id),
        part(|t| &t.place),
        part(|t| &t.subject),
        Param::Int(c.posted_at),
        Param::MaybeInt(c.posting_by),
        Param::Int(c.posting_until),
        Param::Int(c.latest_at),
        Param::Text(steps),
        Param::Int(c.expires_at),
        Param::Int(now),
    ];
    let sql = Sql::fixed(
        d,
        "UPDATE conversations SET thread_id = ?3, place = ?4, subject = ?5, posted_at = ?6,
           posting_by = ?7, posting_until = ?8, latest_at = ?9, steps = ?10, expires_at = ?11,
           updated_at = ?12
         WHERE channel = ?1 AND key = ?2",
        params,
    );
    tx.execute(&sql).await?;
    Ok(())
}

/// What digest `id` collected, for its message.
pub async fn digest<R: Rows>(db: &R, id: i64) -> Result<Option<DigestContent>> {
    let d = R::DIALECT;
    let head = Sql::fixed(
        d,
        "SELECT key, opened_at, due_at FROM digests WHERE id = ?1",
        vec![Param::Int(id)],
    );
    let head_cols = [Col::Text("key"), Col::Int("opened_at"), Col::Int("due_at")];
    let Some(row) = db.fetch(&head, &head_cols).await?.into_iter().next() else {
        return Ok(None);
    };
    let members = Sql::fixed(
        d,
        "SELECT d.id, d.event_id, e.received_at, e.body FROM deliveries d
         JOIN events e ON e.event_id = d.event_id
         WHERE d.digest_id = ?1 AND d.status = 'digest' ORDER BY d.id",
        vec![Param::Int(id)],
    );
    let cols = [
        Col::Int("id"),
        Col::Text("event_id"),
        Col::Int("received_at"),
        Col::Text("body"),
    ];
    let members = db
        .fetch(&members, &cols)
        .await?
        .iter()
        .map(|r| {
            Ok(Member {
                delivery_id: r.int("id")?,
                event_id: r.text("event_id")?,
                received_at: r.int("received_at")?,
                body: r.text("body")?.into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(DigestContent {
        id,
        key: row.text("key")?,
        opened_at: row.int("opened_at")?,
        due_at: row.int("due_at")?,
        members,
    }))
}
