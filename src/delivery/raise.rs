//! herald's own events (`herald.*`): what herald says about itself, stored and delivered like
//! SuperOffice's events to the ordinary rules that take them, so that the user's templates,
//! throttles, digests, working hours and `herald test` all apply.
//!
//! - `herald.delivery.dead`: a delivery became a dead letter (`channel`, `rule`, `reason`,
//!   `attempts`, `source` with the original event's `Event`, `EventId`, `PrimaryKey`);
//! - `herald.channel.failing` / `herald.channel.recovered` ([`super::health`]);
//! - `herald.backlog.behind`: the oldest due delivery of a channel is older than
//!   `serve --behind-after` (`channel`, `oldest`);
//! - `herald.superoffice.stopped`, from the SuperOffice watchdog.
//!
//! No loop: a delivery of one of herald's own events never raises another.

use std::collections::HashSet;

use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tracing::{error, warn};

use super::{Dispatcher, planned};
use crate::event::Event;
use crate::event::catalog::is_herald_event;
use crate::store::{Claimed, Millis, millis, now_ms};

/// The channels whose backlog was last seen behind, so that each episode is raised once.
#[derive(Default)]
pub(super) struct Behind(Mutex<HashSet<String>>);

impl Dispatcher {
    /// Raises one of herald's own events: `fields` (an object) at its top level, beside
    /// `Event`, `EventId`, `Timestamp` and `message`. Stored and delivered to every rule that
    /// takes it (and `superoffice: alerts:` for the watchdog's); nothing is stored when none
    /// does.
    pub async fn raise(&self, name: &str, message: &str, fields: Value) {
        let now = Timestamp::now();
        let mut body = json!({
            "EventId": format!("{name}-{}-{:08x}", now.as_millisecond(), fastrand::u32(..)),
            "Timestamp": now.to_string(),
            "Event": name,
            "PrimaryKey": 0,
            "Entity": "herald",
            "ContextIdentifier": "",
            "ChangedByAssociateId": 0,
            "WebhookName": "herald",
            "message": message,
        });
        if let (Some(map), Value::Object(fields)) = (body.as_object_mut(), fields) {
            map.extend(fields);
        }
        self.raise_body(body, now).await;
    }

    /// Stores a herald event whose body is made, for the rules that take it.
    pub async fn raise_body(&self, body: Value, now: Timestamp) {
        let text = body.to_string();
        let Ok(event) = Event::parse(text.as_bytes()) else {
            return error!(event = %body["Event"], "internal error: herald made an event it cannot read");
        };
        let config = self.live.config();
        let mut rules = config.matching(&event);
        if event.name() == crate::rules::ALERT_EVENT {
            rules.extend(config.alerts.iter());
        }
        if rules.is_empty() {
            return;
        }
        let new = planned(&event, &rules, text.into(), now, 0);
        if let Err(e) = self.accept(&config, new).await {
            error!(event = event.name(), error = %e, "cannot store one of herald's own events");
        }
    }

    /// A delivery became a dead letter: `herald.delivery.dead`, unless it carried one of
    /// herald's own events.
    pub(super) async fn dead_letter(&self, c: &Claimed, reason: &str, attempts: u32) {
        if is_herald_event(&c.event_type) {
            return;
        }
        let body: Value = serde_json::from_str(&c.body).unwrap_or(Value::Null);
        let fields = json!({
            "channel": c.channel,
            "rule": c.rule,
            "reason": reason,
            "attempts": attempts,
            "source": {
                "Event": c.event_type,
                "EventId": c.event_id,
                "PrimaryKey": body.get("PrimaryKey").cloned().unwrap_or(Value::Null),
            },
        });
        let message = format!(
            "herald could not deliver {} {} to `{}` (rule `{}`): {reason}",
            c.event_type, c.event_id, c.channel, c.rule
        );
        self.raise("herald.delivery.dead", &message, fields).await;
    }

    /// `herald.backlog.behind` for each channel whose oldest due delivery is older than
    /// `--behind-after`, once until it catches up.
    pub(super) async fn watch_backlog(&self) {
        let behind_after = millis(self.settings.behind_after);
        let now = now_ms();
        let due = match self
            .store
            .oldest_due(now.saturating_sub(behind_after))
            .await
        {
            Ok(due) => due,
            Err(e) => return warn!(error = %e, "cannot look at the backlog"),
        };
        let fresh: Vec<(String, Millis)> = {
            let mut seen = self.behind.0.lock();
            seen.retain(|c| due.iter().any(|(d, _)| d == c));
            due.into_iter()
                .filter(|(c, _)| seen.insert(c.clone()))
                .collect()
        };
        for (channel, oldest) in fresh {
            let oldest = crate::text::iso(oldest);
            let message = format!(
                "deliveries to `{channel}` are behind: the oldest has been due since {oldest}"
            );
            warn!(channel = %channel, oldest = %oldest, "{message}");
            let fields = json!({ "channel": channel, "oldest": oldest });
            self.raise("herald.backlog.behind", &message, fields).await;
        }
    }
}
