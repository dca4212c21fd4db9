//! Group commit: the writes of many concurrent callers are applied in one transaction, so one
//! fsync makes a whole batch durable. Each caller waits for the commit of the batch its write
//! was in, and gets its own typed answer.
//!
//! Either a backend says how to apply a [`Batch`] in one transaction ([`Apply`]) and the
//! [`Writer`]'s tasks gather the batches (PostgreSQL), or a thread of the backend's gathers
//! them itself from an [`Inbox`] (SQLite). Within a batch, events are stored first, then outcomes recorded, then
//! claims made, so a claim sees what the same batch stored.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{
    Accepted, Claim, Claims, Instance, Join, Joined, NewEvent, Record, Recorded, Result, StoreError,
};

/// The writes of one transaction, by kind, in arrival order.
#[derive(Debug, Default)]
pub struct Batch {
    pub accepts: Vec<NewEvent>,
    pub records: Vec<Record>,
    pub joins: Vec<Join>,
    pub claims: Vec<Claim>,
    pub beats: Vec<Instance>,
}

/// The answers to a batch: one per accept, record and claim, in the batch's order.
#[derive(Debug, Default)]
pub struct Applied {
    pub accepted: Vec<Accepted>,
    pub recorded: Vec<Recorded>,
    pub joined: Vec<Joined>,
    pub claimed: Vec<Claims>,
}

/// A backend's way of applying a batch in one transaction.
pub trait Apply: Send + Sync + 'static {
    fn apply(&self, batch: Batch) -> BoxFuture<'_, Result<Applied>>;
}

type Reply<T> = oneshot::Sender<Result<T>>;

enum Item {
    Accept(NewEvent, Reply<Accepted>),
    Record(Record, Reply<Recorded>),
    Join(Join, Reply<Joined>),
    Claim(Claim, Reply<Claims>),
    Heartbeat(Instance, Reply<()>),
}

/// Who waits for what in the batch being gathered: answered with [`Waiting::answer`] once
/// the batch is applied.
#[derive(Default)]
pub struct Waiting {
    accepts: Vec<Reply<Accepted>>,
    records: Vec<Reply<Recorded>>,
    joins: Vec<Reply<Joined>>,
    claims: Vec<Reply<Claims>>,
    beats: Vec<Reply<()>>,
}

impl Waiting {
    fn len(&self) -> usize {
        self.accepts.len()
            + self.records.len()
            + self.joins.len()
            + self.claims.len()
            + self.beats.len()
    }

    /// Gives each caller its answer, or every caller the error.
    pub fn answer(self, applied: Result<Applied>) {
        match applied {
            Ok(Applied {
                accepted,
                recorded,
                joined,
                claimed,
            }) => {
                for (reply, j) in self.joins.into_iter().zip(joined) {
                    let _ = reply.send(Ok(j));
                }
                for (reply, a) in self.accepts.into_iter().zip(accepted) {
                    let _ = reply.send(Ok(a));
                }
                for (reply, r) in self.records.into_iter().zip(recorded) {
                    let _ = reply.send(Ok(r));
                }
                for (reply, c) in self.claims.into_iter().zip(claimed) {
                    let _ = reply.send(Ok(c));
                }
                for reply in self.beats {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    fn fail(self, e: &StoreError) {
        fn all<T>(replies: Vec<Reply<T>>, e: &StoreError) {
            for r in replies {
                let _ = r.send(Err(e.clone()));
            }
        }
        all(self.accepts, e);
        all(self.records, e);
        all(self.joins, e);
        all(self.claims, e);
        all(self.beats, e);
    }
}

fn add(item: Item, batch: &mut Batch, waiting: &mut Waiting) {
    match item {
        Item::Accept(e, r) => {
            batch.accepts.push(e);
            waiting.accepts.push(r);
        }
        Item::Record(rec, r) => {
            batch.records.push(rec);
            waiting.records.push(r);
        }
        Item::Join(j, r) => {
            batch.joins.push(j);
            waiting.joins.push(r);
        }
        Item::Claim(c, r) => {
            batch.claims.push(c);
            waiting.claims.push(r);
        }
        Item::Heartbeat(i, r) => {
            batch.beats.push(i);
            waiting.beats.push(r);
        }
    }
}

/// Adds to the batch whatever has arrived, up to `max` writes.
fn fill(rx: &mut mpsc::Receiver<Item>, max: usize, batch: &mut Batch, waiting: &mut Waiting) {
    while waiting.len() < max {
        match rx.try_recv() {
            Ok(item) => add(item, batch, waiting),
            Err(_) => break,
        }
    }
}

/// The next batch: the first write waited for, and everything that arrived meanwhile (while
/// the last batch was committing), up to `max`. `None` once every sender is gone.
async fn gather(
    rx: &tokio::sync::Mutex<mpsc::Receiver<Item>>,
    max: usize,
) -> Option<(Batch, Waiting)> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let (mut batch, mut waiting) = (Batch::default(), Waiting::default());
    add(first, &mut batch, &mut waiting);
    fill(&mut rx, max, &mut batch, &mut waiting);
    Some((batch, waiting))
}

/// The writes a backend applies on a thread of its own, gathered there: the thread takes the
/// next batch when it is free, so no task has to be scheduled between two commits.
pub struct Inbox {
    rx: mpsc::Receiver<Item>,
    max: usize,
}

impl Inbox {
    /// [`gather`], blocking the calling thread (never a runtime's).
    pub fn next_blocking(&mut self) -> Option<(Batch, Waiting)> {
        let first = self.rx.blocking_recv()?;
        let (mut batch, mut waiting) = (Batch::default(), Waiting::default());
        add(first, &mut batch, &mut waiting);
        fill(&mut self.rx, self.max, &mut batch, &mut waiting);
        Some((batch, waiting))
    }
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Item>,
}

impl Writer {
    /// A writer whose batches a thread gathers from the [`Inbox`] and applies itself, at
    /// most `max_batch` writes each (SQLite's writer thread).
    pub fn inbox(max_batch: usize) -> (Writer, Inbox) {
        let (tx, rx) = mpsc::channel::<Item>(max_batch * 4);
        (Writer { tx }, Inbox { rx, max: max_batch })
    }

    /// Starts `workers` writer tasks that gather batches and apply them through `backend`.
    /// `max_batch` bounds how many writes share one transaction; several workers commit
    /// batches side by side (PostgreSQL commits them in parallel).
    pub fn spawn(backend: Arc<dyn Apply>, max_batch: usize, workers: usize) -> Writer {
        let (tx, rx) = mpsc::channel::<Item>(max_batch * 4);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (backend, rx) = (backend.clone(), rx.clone());
            tokio::spawn(async move {
                while let Some((batch, waiting)) = gather(&rx, max_batch).await {
                    waiting.answer(backend.apply(batch).await);
                }
            });
        }
        Writer { tx }
    }

    async fn submit<T>(&self, item: impl FnOnce(Reply<T>) -> Item) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(item(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn accept(&self, event: NewEvent) -> Result<Accepted> {
        self.submit(|r| Item::Accept(event, r)).await
    }

    pub async fn record(&self, record: Record) -> Result<Recorded> {
        self.submit(|r| Item::Record(record, r)).await
    }

    pub async fn join(&self, join: Join) -> Result<Joined> {
        self.submit(|r| Item::Join(join, r)).await
    }

    pub async fn claim(&self, claim: Claim) -> Result<Claims> {
        self.submit(|r| Item::Claim(claim, r)).await
    }

    pub async fn heartbeat(&self, instance: Instance) -> Result<()> {
        self.submit(|r| Item::Heartbeat(instance, r)).await
    }
}
