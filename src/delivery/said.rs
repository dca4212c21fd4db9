//! The log line an attempt ends with, written once its outcome is committed: whoever reads
//! "delivered" or "delivery failed permanently" and then asks the store finds it so.

use tracing::{error, info, warn};

use crate::store::{Claimed, Millis};
use crate::text::show_time;

/// What to say about an attempt.
#[derive(Debug)]
pub(super) enum Said {
    Delivered {
        status: Option<u16>,
        took_ms: i64,
        detail: String,
    },
    Retry {
        /// The line's message: why it will be tried again.
        said: &'static str,
        status: Option<u16>,
        retry_in_ms: i64,
        reason: String,
    },
    Dead {
        status: Option<u16>,
        reason: String,
    },
    Skipped {
        reason: String,
    },
    /// Outside working hours: held until they open.
    Held {
        until: Millis,
    },
    /// Put in a digest, which is due then and holds `size` so far.
    Collected {
        digest: i64,
        due_at: Millis,
        size: u32,
    },
    /// The claim was overtaken (its lease ran out or was released): nothing was recorded.
    Overtaken,
}

impl Said {
    /// Logs the line, with the delivery's ids as fields. ERROR is for dead letters only: what
    /// an operator must act on.
    pub(super) fn log(&self, c: &Claimed, attempt: u32) {
        let (event_id, event, rule, channel) = (
            c.event_id.as_str(),
            c.event_type.as_str(),
            c.rule.as_str(),
            c.channel.as_str(),
        );
        let delivery_id = c.delivery_id;
        match self {
            Said::Delivered {
                status,
                took_ms,
                detail,
            } => {
                info!(event_id, event, rule, channel, delivery_id, attempt, status, took_ms, detail = %detail, "delivered")
            }
            Said::Retry {
                said,
                status,
                retry_in_ms,
                reason,
            } => {
                warn!(event_id, event, rule, channel, delivery_id, attempt, status, retry_in_ms, reason = %reason, "{said}")
            }
            Said::Dead { status, reason } => {
                error!(event_id, event, rule, channel, delivery_id, attempt, status, reason = %reason, "delivery failed permanently")
            }
            Said::Skipped { reason } => {
                info!(event_id, event, rule, channel, delivery_id, reason = %reason, "skipped")
            }
            Said::Held { until } => {
                let until = show_time(*until);
                info!(event_id, event, rule, channel, delivery_id, until = %until, "held: outside the action's active_hours")
            }
            Said::Collected {
                digest,
                due_at,
                size,
            } => {
                let due = show_time(*due_at);
                info!(event_id, event, rule, channel, delivery_id, digest, size, due = %due, "put in a digest")
            }
            Said::Overtaken => {
                warn!(
                    event_id,
                    event,
                    rule,
                    channel,
                    delivery_id,
                    "this attempt's claim was overtaken (its lease ran out or was released): its outcome was not recorded"
                )
            }
        }
    }
}
