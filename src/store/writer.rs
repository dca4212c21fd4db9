//! Group commit: one task applies the writes of many concurrent requests in one transaction,
//! so one fsync makes a whole batch durable. Each caller waits for the commit of the batch
//! its write was in.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError, WriteOp, WriteResult};

type Reply = oneshot::Sender<Result<WriteResult, StoreError>>;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<(WriteOp, Reply)>,
}

impl Writer {
    /// Starts the writer task. `max_batch` bounds how many writes share one transaction.
    pub fn spawn(store: Arc<dyn Store>, max_batch: usize) -> Writer {
        let (tx, mut rx) = mpsc::channel::<(WriteOp, Reply)>(max_batch * 4);
        tokio::spawn(async move {
            let mut ops = Vec::with_capacity(max_batch);
            let mut replies = Vec::with_capacity(max_batch);
            while let Some((op, reply)) = rx.recv().await {
                ops.push(op);
                replies.push(reply);
                // Everything that arrived while the last batch was committing goes in this one.
                while ops.len() < max_batch {
                    match rx.try_recv() {
                        Ok((op, reply)) => {
                            ops.push(op);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                match store.write_batch(&ops).await {
                    Ok(results) => {
                        for (reply, result) in replies.drain(..).zip(results) {
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
                ops.clear();
            }
        });
        Writer { tx }
    }

    /// Submits one write and waits until it is committed.
    pub async fn submit(&self, op: WriteOp) -> Result<WriteResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((op, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
