//! Group commit: one task applies the writes of many concurrent callers in one transaction, so
//! one fsync makes a whole batch durable. Each caller waits for the commit of the batch its
//! write was in, and gets its own typed answer.
//!
//! A backend says how to apply a [`Batch`] in one transaction ([`Apply`]); the [`Writer`]
//! gathers the batches. Within a batch, events are stored first, then outcomes recorded, then
//! claims made, so a claim sees what the same batch stored.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{Accepted, Claim, Claimed, NewEvent, Record, Result, StoreError};

/// The writes of one transaction, by kind, in arrival order.
#[derive(Debug, Default)]
pub struct Batch {
    pub accepts: Vec<NewEvent>,
    pub records: Vec<Record>,
    pub claims: Vec<Claim>,
    pub heartbeat: bool,
}

/// The answers to a batch: one per accept and one per claim, in the batch's order.
#[derive(Debug, Default)]
pub struct Applied {
    pub accepted: Vec<Accepted>,
    pub claimed: Vec<Vec<Claimed>>,
}

/// A backend's way of applying a batch in one transaction.
pub trait Apply: Send + Sync + 'static {
    fn apply<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Applied>>;
}

type Reply<T> = oneshot::Sender<Result<T>>;

enum Item {
    Accept(NewEvent, Reply<Accepted>),
    Record(Record, Reply<()>),
    Claim(Claim, Reply<Vec<Claimed>>),
    Heartbeat(Reply<()>),
}

/// Who waits for what in the batch being gathered.
#[derive(Default)]
struct Waiting {
    accepts: Vec<Reply<Accepted>>,
    records: Vec<Reply<()>>,
    claims: Vec<Reply<Vec<Claimed>>>,
    beats: Vec<Reply<()>>,
}

impl Waiting {
    fn len(&self) -> usize {
        self.accepts.len() + self.records.len() + self.claims.len() + self.beats.len()
    }

    fn answer(self, applied: Result<Applied>) {
        match applied {
            Ok(Applied { accepted, claimed }) => {
                for (reply, a) in self.accepts.into_iter().zip(accepted) {
                    let _ = reply.send(Ok(a));
                }
                for (reply, c) in self.claims.into_iter().zip(claimed) {
                    let _ = reply.send(Ok(c));
                }
                for reply in self.records.into_iter().chain(self.beats) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    fn fail(self, e: &StoreError) {
        self.accepts
            .into_iter()
            .for_each(|r| drop(r.send(Err(e.clone()))));
        self.claims
            .into_iter()
            .for_each(|r| drop(r.send(Err(e.clone()))));
        for r in self.records.into_iter().chain(self.beats) {
            let _ = r.send(Err(e.clone()));
        }
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
        Item::Claim(c, r) => {
            batch.claims.push(c);
            waiting.claims.push(r);
        }
        Item::Heartbeat(r) => {
            batch.heartbeat = true;
            waiting.beats.push(r);
        }
    }
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Item>,
}

impl Writer {
    /// Starts the writer task. `max_batch` bounds how many writes share one transaction.
    pub fn spawn(backend: Arc<dyn Apply>, max_batch: usize) -> Writer {
        let (tx, mut rx) = mpsc::channel::<Item>(max_batch * 4);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let (mut batch, mut waiting) = (Batch::default(), Waiting::default());
                add(first, &mut batch, &mut waiting);
                // Everything that arrived while the last batch was committing goes in this one.
                while waiting.len() < max_batch {
                    match rx.try_recv() {
                        Ok(item) => add(item, &mut batch, &mut waiting),
                        Err(_) => break,
                    }
                }
                waiting.answer(backend.apply(&batch).await);
            }
        });
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

    pub async fn record(&self, record: Record) -> Result<()> {
        self.submit(|r| Item::Record(record, r)).await
    }

    pub async fn claim(&self, claim: Claim) -> Result<Vec<Claimed>> {
        self.submit(|r| Item::Claim(claim, r)).await
    }

    pub async fn heartbeat(&self) -> Result<()> {
        self.submit(Item::Heartbeat).await
    }
}
