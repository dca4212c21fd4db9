//! What keeps leases honest across instances: this instance registers itself and heartbeats;
//! the leases of instances that stopped heartbeating are released (by one instance at a time);
//! old events are purged (once per period, whoever gets to it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::Dispatcher;
use crate::store::{Millis, millis, now_ms};

/// How often events are purged, over all instances.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

impl Dispatcher {
    /// Registers this instance and frees what dead ones held, before anything is claimed:
    /// after a crash and restart, what was in flight is due again at once.
    pub(super) async fn start(&self) {
        if let Err(e) = self.store.heartbeat(self.instance.clone()).await {
            warn!(error = %e, "cannot register this instance in the store; will keep trying");
        }
        self.sweep().await;
    }

    /// Proves this instance is alive and the store can commit.
    pub async fn heartbeat(&self) -> crate::store::Result<()> {
        self.store.heartbeat(self.instance.clone()).await
    }

    /// Heartbeats, sweeps and purges until `stop`.
    pub(super) async fn housekeeping(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = (self.settings.instance_timeout / 4).max(Duration::from_millis(100));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.store.heartbeat(self.instance.clone()).await {
                warn!(error = %e, "cannot heartbeat: the store cannot commit");
                continue;
            }
            if self.lead("sweep", every).await {
                self.sweep().await;
            }
            if self.lead("purge", PURGE_EVERY).await {
                self.purge().await;
            }
            self.watch_health().await;
            if self.lead("backlog", every).await {
                self.watch_backlog().await;
            }
        }
    }

    /// True if this instance takes the named job for the next `period`.
    async fn lead(&self, job: &'static str, period: Duration) -> bool {
        let now = now_ms();
        let until = now.saturating_add(millis(period));
        let owner = self.instance.id.clone();
        self.store
            .try_lock(job, owner, now, until)
            .await
            .unwrap_or_else(|e| {
                warn!(job, error = %e, "cannot take a housekeeping lock");
                false
            })
    }

    /// Frees the leases of instances that stopped heartbeating.
    async fn sweep(&self) {
        let now = now_ms();
        let before = now.saturating_sub(millis(self.settings.instance_timeout));
        match self
            .store
            .release_lapsed(self.instance.id.clone(), before, now)
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                info!(
                    deliveries = n,
                    "released the leases of an instance that stopped; sending them again"
                );
                self.wake();
            }
            Err(e) => warn!(error = %e, "cannot release the leases of stopped instances"),
        }
    }

    async fn purge(&self) {
        let before: Millis = now_ms().saturating_sub(millis(self.settings.retention));
        match self.store.purge(before).await {
            Ok(0) => {}
            Ok(n) => info!(events = n, "purged old events"),
            Err(e) => warn!(error = %e, "cannot purge old events"),
        }
    }
}
