//! Whether each channel is failing: every attempt to it has failed since `since`. Past the
//! channel's `failing_after` that raises `herald.channel.failing` (once), and the next success
//! `herald.channel.recovered`. Attempts carrying herald's own events do not count: an alert
//! channel that fails cannot alert about itself.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tracing::{info, warn};

use super::Dispatcher;
use crate::store::{Millis, millis, now_ms};
use crate::text::iso;

/// A channel whose attempts have all failed since `since`.
struct Failing {
    since: Millis,
    reason: String,
    raised: bool,
}

#[derive(Default)]
pub(super) struct Health(Mutex<HashMap<String, Failing>>);

impl Health {
    /// An attempt failed.
    pub(super) fn failed(&self, channel: &str, reason: &str) {
        let mut all = self.0.lock();
        let f = all.entry(channel.to_string()).or_insert_with(|| Failing {
            since: now_ms(),
            reason: String::new(),
            raised: false,
        });
        f.reason = reason.to_string();
    }

    /// An attempt succeeded: when the failing began, if it was raised.
    pub(super) fn succeeded(&self, channel: &str) -> Option<Millis> {
        let mut all = self.0.lock();
        all.remove(channel).filter(|f| f.raised).map(|f| f.since)
    }

    /// The channels failing for longer than their `after` says and not raised yet, marked
    /// raised: each with when it began and the last reason.
    fn due(
        &self,
        now: Millis,
        after: impl Fn(&str) -> Option<Duration>,
    ) -> Vec<(String, Millis, String)> {
        let mut all = self.0.lock();
        all.iter_mut()
            .filter(|(c, f)| {
                !f.raised && after(c).is_some_and(|a| now.saturating_sub(f.since) >= millis(a))
            })
            .map(|(c, f)| {
                f.raised = true;
                (c.clone(), f.since, f.reason.clone())
            })
            .collect()
    }
}

impl Dispatcher {
    /// Notes an attempt's outcome for the channel's health; a recovery is raised at once.
    pub(super) async fn health(&self, channel: &str, event_type: &str, failed: Option<&str>) {
        if crate::event::catalog::is_herald_event(event_type) {
            return;
        }
        let Some(reason) = failed else {
            if let Some(since) = self.health.succeeded(channel) {
                let message = format!(
                    "`{channel}` takes messages again (failing since {})",
                    iso(since)
                );
                info!(channel, since = %iso(since), "{message}");
                let fields = json!({ "channel": channel, "since": iso(since) });
                self.raise("herald.channel.recovered", &message, fields)
                    .await;
            }
            return;
        };
        self.health.failed(channel, reason);
    }

    /// `herald.channel.failing` for each channel whose attempts have all failed for its
    /// `failing_after`.
    pub(super) async fn watch_health(&self) {
        let config = self.live.config();
        let after = |c: &str| config.channels.get(c).map(|s| s.failing_after);
        for (channel, since, reason) in self.health.due(now_ms(), after) {
            let message = format!(
                "every attempt to `{channel}` has failed since {}: {reason}",
                iso(since)
            );
            warn!(channel = %channel, since = %iso(since), reason = %reason, "{message}");
            let fields = json!({ "channel": channel, "since": iso(since), "reason": reason });
            self.raise("herald.channel.failing", &message, fields).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_due_once_past_its_time_and_recovers_only_if_raised() {
        let health = Health::default();
        let after = |_: &str| Some(Duration::from_secs(600));
        health.failed("erp", "webhook answered 503");
        let since = now_ms();
        assert!(health.due(since + 1_000, after).is_empty(), "not yet");
        health.failed("erp", "webhook answered 502");
        let due = health.due(since + 601_000, after);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].2, "webhook answered 502", "the last reason");
        assert!(health.due(since + 700_000, after).is_empty(), "raised once");
        assert!(
            health.succeeded("erp").is_some(),
            "a raised failing recovers"
        );

        health.failed("slack", "timeout");
        assert_eq!(health.succeeded("slack"), None, "never raised: no recovery");
        assert_eq!(health.succeeded("slack"), None);
        health.failed("gone", "x");
        assert!(
            health.due(since + 700_000, |_| None).is_empty(),
            "a channel no longer configured"
        );
    }
}
