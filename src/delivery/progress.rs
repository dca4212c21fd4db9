//! Whether the dispatcher is making progress (for `/readyz`), and settling deliveries that no
//! configuration can send any more.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{error, warn};

use super::Dispatcher;
use crate::store::{Claim, Millis, Next, Record, millis, now_ms};

/// A dispatcher whose loop has not run, or that has sent nothing while deliveries were due,
/// for this long is not making progress.
const STALL_AFTER: Duration = Duration::from_secs(60);

/// Why the dispatcher is not making progress, for `/readyz`.
#[derive(Debug, thiserror::Error)]
pub enum Stalled {
    #[error("the dispatcher has not run for {seconds} s")]
    NotRunning { seconds: i64 },
    #[error("cannot read the store")]
    Store(#[source] crate::store::StoreError),
    #[error(
        "deliveries to `{channel}` have been due since {since} and nothing was sent for {seconds} s"
    )]
    Stuck {
        channel: String,
        since: String,
        seconds: i64,
    },
}

impl Dispatcher {
    /// Whether deliveries are moving: the claim loop runs, and due deliveries of destinations
    /// that asked for no pause are being sent. `Err` says what is wrong, for `/readyz`.
    pub async fn progress(&self) -> Result<(), Stalled> {
        let now = now_ms();
        let tick_age = now.saturating_sub(self.last_tick.load(Ordering::Relaxed));
        if tick_age > millis(STALL_AFTER) {
            return Err(Stalled::NotRunning {
                seconds: tick_age / 1000,
            });
        }
        let record_age = now.saturating_sub(self.last_record.load(Ordering::Relaxed));
        if record_age <= millis(STALL_AFTER) {
            return Ok(());
        }
        let due = self
            .store
            .oldest_due(now.saturating_sub(millis(STALL_AFTER)))
            .await
            .map_err(Stalled::Store)?;
        match due
            .into_iter()
            .find(|(channel, _)| !self.held_back(channel))
        {
            Some((channel, since)) => Err(Stalled::Stuck {
                channel,
                since: crate::text::show_time(since),
                seconds: record_age / 1000,
            }),
            None => Ok(()),
        }
    }

    /// Makes dead letters of the deliveries still to make for channels the configuration no
    /// longer has (removed by a reload, or while herald was down): nothing would ever send them.
    pub(super) async fn retire_orphans(&self) {
        let channels = match self.store.channels_with_work().await {
            Ok(c) => c,
            Err(e) => return warn!(error = %e, "cannot look for deliveries to removed channels"),
        };
        let config = self.live.config();
        for channel in channels
            .into_iter()
            .filter(|c| !config.channels.contains_key(c))
        {
            self.retire(&channel).await;
        }
    }

    async fn retire(&self, channel: &str) {
        let reason = format!("channel `{channel}` is no longer in the rules file");
        loop {
            // Due or not: claim as if it were the end of time.
            let claim = Claim {
                channel: channel.to_string(),
                limit: 256,
                now: Millis::MAX,
                lease: self.lease(now_ms()),
                spacing: None,
            };
            let claimed = match self.store.claim(claim).await {
                Ok(c) if !c.deliveries.is_empty() => c.deliveries,
                _ => break,
            };
            for c in claimed {
                let record = Record {
                    delivery_id: c.delivery_id,
                    token: c.token,
                    attempt: None,
                    next: Next::Dead(reason.clone()),
                    about: None,
                };
                match self.store.record(record).await {
                    Ok(_) => {
                        error!(event_id = %c.event_id, rule = %c.rule, channel = %channel, delivery_id = c.delivery_id, reason = %reason, "delivery failed permanently")
                    }
                    Err(e) => warn!(error = %e, "cannot record a dead letter"),
                }
            }
        }
    }
}
