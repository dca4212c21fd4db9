//! herald's webhook in SuperOffice, managed from the rules: which events it must send
//! ([`events`]), what must change to make it so ([`plan`]), the REST calls that do it
//! ([`client`]), and the watchdog in `serve` that notices when SuperOffice stops sending
//! ([`watchdog`]).
//!
//! From SuperOffice's documentation (`docs/en/automation/webhook/dev/subscription.md`,
//! `register.md`, `troubleshooting.md`): `GET/POST api/v1/Webhook`, `PUT api/v1/Webhook/{id}`,
//! `GET api/v1/Webhook/default`; saving makes SuperOffice POST a `test` event to the target and
//! refuse unless it answers 200; `State` is `Unknown`, `Active`, `Stopped` or `TooManyErrors`;
//! usage statistics come from `api/v1/Archive/dynamic` (`webhook_usage`).

pub mod client;
pub mod events;
pub mod plan;
pub mod watchdog;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::enrich::wire::{nullable, texts};

/// A webhook definition as SuperOffice's REST API gives and takes it. Fields herald does not
/// manage (`Headers`, `Properties`, `Registered`…) are kept as they came and sent back. Any
/// field may come as `null` (`GET api/v1/Webhook/default` gives `Name` and `TargetUrl` so):
/// it reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Webhook {
    #[serde(default, deserialize_with = "nullable")]
    pub webhook_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "texts")]
    pub events: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub target_url: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
    #[serde(default, rename = "Type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_email: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Whether SuperOffice sends a webhook's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Active,
    /// Stopped by a person or an app.
    Stopped,
    /// Stopped by SuperOffice after about nine failures in a row.
    TooManyErrors,
    Unknown,
    Other(String),
}

impl State {
    pub fn parse(text: &str) -> State {
        match text {
            "Active" => State::Active,
            "Stopped" => State::Stopped,
            "TooManyErrors" => State::TooManyErrors,
            "Unknown" | "" => State::Unknown,
            other => State::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            State::Active => "Active",
            State::Stopped => "Stopped",
            State::TooManyErrors => "TooManyErrors",
            State::Unknown => "Unknown",
            State::Other(s) => s,
        }
    }
}

impl Webhook {
    pub fn state(&self) -> State {
        State::parse(&self.state)
    }

    /// Everything SuperOffice would print of it, the secret hidden.
    pub fn redacted(&self) -> Webhook {
        let mut shown = self.clone();
        if shown.secret.as_deref().is_some_and(|s| !s.is_empty()) {
            shown.secret = Some("***".into());
        }
        shown
    }
}

/// A webhook's usage statistics (`webhook_usage` in the archive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub total_calls: i64,
    pub total_errors: i64,
    pub consecutive_errors: i64,
    pub last_error: String,
}

/// The webhook that tells herald about another webhook's state changes is called after it.
pub fn state_webhook_name(name: &str) -> String {
    format!("{name} state")
}

/// The events a state-change webhook subscribes to for webhook `id`.
pub fn state_events(id: i64) -> Vec<String> {
    ["errors", "started", "stopped"]
        .iter()
        .map(|e| format!("webhook{id}.{e}"))
        .collect()
}

/// True for SuperOffice's state-change events (`webhook12.stopped`, `webhook.errors`): the
/// watchdog looks at once when one arrives.
pub fn is_state_change(event: &str) -> bool {
    event.starts_with("webhook") && (event.ends_with(".stopped") || event.ends_with(".errors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_definition_decodes_with_every_field_null() {
        let fields = [
            "WebhookId",
            "Name",
            "Events",
            "TargetUrl",
            "Secret",
            "State",
            "Type",
            "Headers",
            "Properties",
            "Registered",
            "RegisteredAssociateId",
            "Updated",
            "UpdatedAssociateId",
        ];
        let all_null: Map<String, Value> = fields
            .iter()
            .map(|f| (f.to_string(), Value::Null))
            .collect();
        let w: Webhook = serde_json::from_value(Value::Object(all_null)).unwrap();
        assert_eq!((w.webhook_id, w.name.as_str(), w.events.len()), (0, "", 0));
        assert_eq!(w.state(), State::Unknown);
        let w: Webhook = serde_json::from_str(r#"{"Events": ["quote.created", null]}"#).unwrap();
        assert_eq!(w.events, ["quote.created"]);
    }
}
