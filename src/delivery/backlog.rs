//! A bounded backlog (`serve --max-backlog`): when more deliveries are due than the limit,
//! `/webhook` answers 503 with `Retry-After` and SuperOffice keeps the event and retries,
//! instead of herald taking events faster than it can send them, without bound.
//!
//! The count is the store's, taken every [`EVERY`], plus what was accepted since: it can only
//! be high between counts, never low, so the limit holds within one count's worth of sends.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use super::Dispatcher;
use crate::store::now_ms;

/// How often the due deliveries are counted.
const EVERY: Duration = Duration::from_secs(1);

impl Dispatcher {
    /// `Some((waiting, limit))` when more deliveries are due than `--max-backlog` allows.
    pub fn behind(&self) -> Option<(u64, u64)> {
        let max = self.settings.max_backlog?;
        let waiting = self.due.load(Ordering::Relaxed);
        (waiting >= max).then_some((waiting, max))
    }

    /// Newly stored deliveries count at once, before the next count.
    pub(super) fn more_due(&self, n: usize) {
        if self.settings.max_backlog.is_some() {
            self.due.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Counts the due deliveries every [`EVERY`] until `stop`.
    pub(super) async fn count_due(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            match self.store.due_count(now_ms()).await {
                Ok(n) => {
                    self.due.store(n, Ordering::Relaxed);
                    self.metrics.backlog_due.set(n as i64);
                }
                Err(e) => warn!(error = %e, "cannot count the deliveries due, for --max-backlog"),
            }
        }
    }
}
