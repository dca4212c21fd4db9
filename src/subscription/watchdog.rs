//! The watchdog in `serve`: every `watch_every` (and at once after a reload, or when SuperOffice
//! sends a `webhook….stopped` / `.errors` event) it reads herald's webhook in SuperOffice. When
//! SuperOffice stopped it, the watchdog says so (an ERROR line, the
//! `herald_superoffice_webhook_active` metric, an alert event delivered to `superoffice:
//! alerts:` like any other), and with `reactivate: true` sets it back to Active. When the
//! rules need events the webhook does not send, it says which and how to fix it (or, with
//! `sync_events: true`, fixes it).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use super::client::Client;
use super::events::{difference, needed};
use super::{State, Usage, Webhook};
use crate::config::superoffice::SuperOfficeSpec;
use crate::delivery::Dispatcher;
use crate::live::Live;
use crate::metrics::{Metrics, WebhookLabels};
use crate::rules::RuleSet;

pub struct Watchdog {
    /// What the last look saw, for the status page.
    pub seen: Arc<LastLook>,
    pub live: Arc<Live>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<Metrics>,
    /// Notified to look now.
    pub wake: Arc<Notify>,
    pub http: reqwest::Client,
}

/// The webhook as the watchdog last saw it: its name, id and state, or why it could not be
/// seen; the events the rules need that it does not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub at: Timestamp,
    pub webhook: String,
    pub id: Option<i64>,
    /// `Active`, `TooManyErrors`, …; `None` when the webhook could not be seen.
    pub state: Option<State>,
    /// Why it could not be seen.
    pub problem: Option<String>,
    pub missing: Vec<String>,
}

/// The last [`Look`], shared with the status page.
#[derive(Default)]
pub struct LastLook(parking_lot::Mutex<Option<Look>>);

impl LastLook {
    pub fn get(&self) -> Option<Look> {
        self.0.lock().clone()
    }

    fn set(&self, look: Look) {
        *self.0.lock() = Some(look);
    }
}

/// What the last looks found, so that each change is said once.
#[derive(Default)]
struct Seen {
    /// The state SuperOffice stopped the webhook in, while it stays stopped.
    down: Option<State>,
    missing: Vec<String>,
    problem: Option<String>,
}

impl Watchdog {
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut seen = Seen::default();
        loop {
            let every = self
                .live
                .config()
                .superoffice
                .as_ref()
                .map_or(Duration::from_secs(300), |s| s.watch.every);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            self.look(&mut seen).await;
        }
    }

    async fn look(&self, seen: &mut Seen) {
        let config = self.live.config();
        let Some(so) = &config.superoffice else {
            return;
        };
        let found = match Client::new(so, self.http.clone()) {
            Ok(client) => find(&client, &so.watch.name).await.map(|w| (client, w)),
            Err(e) => Err(Unseen::Client(e)),
        };
        let (client, hook) = match found {
            Ok(found) => found,
            Err(unseen) => {
                let problem = crate::text::causes(&unseen);
                self.seen.set(Look {
                    at: Timestamp::now(),
                    webhook: so.watch.name.clone(),
                    id: None,
                    state: None,
                    problem: Some(problem.clone()),
                    missing: Vec::new(),
                });
                return say_once(seen, problem);
            }
        };
        seen.problem = None;
        let missing = self.events(&client, &config, so, &hook, seen).await;
        let state = hook.state();
        self.seen.set(Look {
            at: Timestamp::now(),
            webhook: hook.name.clone(),
            id: Some(hook.webhook_id),
            state: Some(state.clone()),
            problem: None,
            missing,
        });
        match state {
            State::Active => self.active(&hook, seen),
            state => self.down(&client, &config, so, &hook, state, seen).await,
        }
    }

    fn active(&self, hook: &Webhook, seen: &mut Seen) {
        self.gauge(&hook.name, 1);
        if seen.down.take().is_some() {
            info!(webhook = %hook.name, id = hook.webhook_id, "SuperOffice sends to herald again: its webhook is Active");
        }
    }

    async fn down(
        &self,
        client: &Client,
        config: &RuleSet,
        so: &SuperOfficeSpec,
        hook: &Webhook,
        state: State,
        seen: &mut Seen,
    ) {
        let usage = client.usage(hook.webhook_id).await.unwrap_or_default();
        let mut message = stopped_message(hook, &state, &usage);
        error!(webhook = %hook.name, id = hook.webhook_id, state = state.as_str(), consecutive_errors = usage.consecutive_errors, last_error = %usage.last_error, "{message}");
        self.gauge(&hook.name, 0);
        let reactivated = so.watch.reactivate && self.reactivate(client, hook).await;
        if reactivated {
            message.push_str("; herald set it back to Active");
        }
        if seen.down.replace(state.clone()).is_none() {
            self.alert(config, hook, &state, &usage, &message, reactivated)
                .await;
        }
    }

    /// PUT the webhook back to Active; true if SuperOffice took it.
    async fn reactivate(&self, client: &Client, hook: &Webhook) -> bool {
        let mut active = hook.clone();
        active.state = State::Active.as_str().to_string();
        match client.update(&active).await {
            Ok(_) => {
                info!(webhook = %hook.name, id = hook.webhook_id, "watchdog set the webhook back to Active (reactivate: true)");
                let labels = WebhookLabels {
                    webhook: hook.name.clone(),
                };
                self.metrics
                    .superoffice_reactivations
                    .get_or_create(&labels)
                    .inc();
                true
            }
            Err(e) => {
                error!(webhook = %hook.name, error = %e, "watchdog could not set the webhook back to Active");
                false
            }
        }
    }

    /// The rules' events against the webhook's: said once per change, or synced. What the
    /// webhook still does not send, for the status page (nothing once synced).
    async fn events(
        &self,
        client: &Client,
        config: &RuleSet,
        so: &SuperOfficeSpec,
        hook: &Webhook,
        seen: &mut Seen,
    ) -> Vec<String> {
        let (want, _) = needed(config);
        let (missing, _) = difference(&want, &hook.events);
        if missing.is_empty() || missing == seen.missing {
            seen.missing = missing.clone();
            return missing;
        }
        if so.watch.sync_events {
            let mut synced = hook.clone();
            synced.events = want;
            return match client.update(&synced).await {
                Ok(_) => {
                    info!(webhook = %hook.name, added = %missing.join(", "), "watchdog added the events the rules use to the webhook (sync_events: true)");
                    Vec::new()
                }
                Err(e) => {
                    warn!(webhook = %hook.name, error = %e, "watchdog could not update the webhook's events");
                    missing
                }
            };
        }
        warn!(webhook = %hook.name, missing = %missing.join(", "), "the webhook in SuperOffice does not send events the rules use; run `herald superoffice register --url {}` (or set `superoffice: sync_events: true`)", hook.target_url);
        seen.missing = missing.clone();
        missing
    }

    /// An alert event, stored and delivered to `superoffice: alerts:` like any other.
    async fn alert(
        &self,
        config: &RuleSet,
        hook: &Webhook,
        state: &State,
        usage: &Usage,
        message: &str,
        reactivated: bool,
    ) {
        let now = Timestamp::now();
        let body = json!({
            "EventId": format!("herald-watchdog-{}-{}", hook.webhook_id, now.as_millisecond()),
            "Timestamp": now.to_string(),
            "Event": crate::rules::ALERT_EVENT,
            "PrimaryKey": hook.webhook_id,
            "Entity": "webhook",
            "ContextIdentifier": config.superoffice.as_ref().and_then(|s| s.tenant.clone()).unwrap_or_default(),
            "ChangedByAssociateId": 0,
            "WebhookName": hook.name,
            "message": message,
            "FieldValues": {
                "state": state.as_str(),
                "consecutive_errors": usage.consecutive_errors,
                "last_error": usage.last_error,
                "reactivated": reactivated,
                "message": message,
            },
        });
        self.dispatcher.raise_body(body, now).await;
    }

    fn gauge(&self, webhook: &str, value: i64) {
        let labels = WebhookLabels {
            webhook: webhook.to_string(),
        };
        self.metrics
            .superoffice_webhook_active
            .get_or_create(&labels)
            .set(value);
    }
}

/// The webhook with this name, or why there is none to look at.
async fn find(client: &Client, name: &str) -> Result<Webhook, Unseen> {
    let hooks = client.list().await.map_err(Unseen::List)?;
    hooks
        .into_iter()
        .find(|w| w.name == name)
        .ok_or_else(|| Unseen::Missing(name.to_string()))
}

/// Why the watchdog cannot see herald's webhook.
#[derive(Debug, thiserror::Error)]
enum Unseen {
    #[error(transparent)]
    Client(super::client::ManageError),
    #[error("watchdog cannot read SuperOffice's webhooks")]
    List(#[source] super::client::ManageError),
    #[error(
        "SuperOffice has no webhook named `{0}`; create it with `herald superoffice register --url https://…/webhook`"
    )]
    Missing(String),
}

fn say_once(seen: &mut Seen, problem: String) {
    if seen.problem.as_ref() != Some(&problem) {
        warn!("{problem}");
        seen.problem = Some(problem);
    }
}

/// "SuperOffice stopped sending to herald: webhook `herald` (id 12) is TooManyErrors after 9
/// errors in a row; last error: …"
fn stopped_message(hook: &Webhook, state: &State, usage: &Usage) -> String {
    let mut m = format!(
        "SuperOffice stopped sending to herald: webhook `{}` (id {}) is {}",
        hook.name,
        hook.webhook_id,
        state.as_str()
    );
    if usage.consecutive_errors > 0 {
        m.push_str(&format!(
            " after {} errors in a row",
            usage.consecutive_errors
        ));
    }
    if !usage.last_error.is_empty() {
        m.push_str(&format!("; last error: {}", usage.last_error));
    }
    m
}
