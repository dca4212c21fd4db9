//! The data a template sees: the event's fields under their own names, plus `rule` and
//! `received_at`. Enrichment (quote, sale, contact...) adds top-level names with
//! [`TemplateContext::insert`].

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::event::Event;

/// The template context for one event and one rule.
#[derive(Debug, Clone)]
pub struct TemplateContext {
    value: Map<String, Value>,
    event: std::sync::Arc<Value>,
}

impl TemplateContext {
    pub fn new(event: &Event, rule: &str, received_at: Timestamp) -> Self {
        let mut value = event.fields().clone();
        // herald's own `herald.delivery.dead` names the rule whose delivery died as `rule`.
        let own_rule =
            crate::event::catalog::is_herald_event(event.name()) && value.contains_key("rule");
        if !own_rule {
            value.insert("rule".into(), json!({ "name": rule }));
        }
        value.insert("received_at".into(), Value::String(received_at.to_string()));
        value.insert("enriched".into(), Value::Bool(false));
        TemplateContext {
            value,
            event: event.shared(),
        }
    }

    /// The context of a digest's message: at the root the latest event's fields (and its
    /// enrichment), and `events` (each the context its own message would have), `count`, `key`
    /// and `window` (`start`, `end`, `spans_days`). A single message of an action with a digest has the same
    /// shape, with itself as the one event. `None` for no events.
    pub fn digest(
        members: &[TemplateContext],
        key: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<TemplateContext> {
        let latest = members.last()?;
        let mut digest = latest.clone();
        let window = window(start, end);
        let events: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut item = m.value.clone();
                item.insert("window".into(), window.clone());
                Value::Object(item)
            })
            .collect();
        digest.insert("count", json!(events.len()));
        digest.insert("events", Value::Array(events));
        digest.insert("key", Value::String(key.to_string()));
        digest.insert("window", window);
        Some(digest)
    }

    /// Adds or replaces a top-level name (the seam for enrichment).
    pub fn insert(&mut self, key: &str, value: Value) {
        self.value.insert(key.to_string(), value);
    }

    /// One top-level name's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key)
    }

    /// The context's fields, by name.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.value
    }

    /// The whole context as one JSON object, for checking conditions against it.
    pub fn value(&self) -> Value {
        Value::Object(self.value.clone())
    }

    pub fn rule_name(&self) -> &str {
        self.value["rule"]["name"].as_str().unwrap_or_default()
    }

    /// The event as SuperOffice sent it, for bodies that forward it whole.
    pub fn event(&self) -> &Value {
        &self.event
    }

    pub fn to_handlebars(&self) -> handlebars::Context {
        handlebars::Context::from(Value::Object(self.value.clone()))
    }
}

/// A digest's window: `start`, `end`, and `spans_days` when they fall on different dates
/// (UTC, as the `date` helper shows them by default), so a template can add the date to times.
/// Every event of the digest carries it too, for templates that list them.
fn window(start: Timestamp, end: Timestamp) -> Value {
    let day = |t: Timestamp| t.as_second().div_euclid(86_400);
    json!({
        "start": start.to_string(),
        "end": end.to_string(),
        "spans_days": day(start) != day(end),
    })
}

/// One step of a conversation as its messages' context shows it.
pub struct StepView<'a> {
    pub event: &'a str,
    /// When it happened, in milliseconds since the epoch.
    pub at: i64,
    /// Whether this is the step of the message being made.
    pub current: bool,
}

/// `conversation` in a message's context: its key, whether this is its first message, the steps
/// so far (each `event`, `state`, `at`, and `current` for this message's own), and the current
/// state (the newest step's).
pub fn conversation(key: &str, steps: &[StepView<'_>], posted_at: Option<i64>) -> Value {
    let list: Vec<Value> = steps
        .iter()
        .map(|s| {
            json!({
                "event": s.event,
                "state": state(s.event),
                "at": crate::text::iso(s.at),
                "current": s.current,
            })
        })
        .collect();
    let latest = steps.last().map(|s| state(s.event)).unwrap_or_default();
    json!({
        "key": key,
        "first": posted_at.is_none(),
        "posted_at": posted_at.map(crate::text::iso),
        "state": latest,
        "steps": list,
    })
}

/// A step's state in words: `quote.ordered` is "Ordered".
pub fn state(event: &str) -> String {
    let last = event.rsplit('.').next().unwrap_or(event);
    let mut chars = last.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_over_midnight_says_so_to_the_digest_and_each_event() {
        let event = crate::event::sample::event("quote.ordered");
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let one = TemplateContext::new(&event, "r", at("2026-12-02T22:00:00Z"));
        let same = TemplateContext::digest(
            std::slice::from_ref(&one),
            "",
            at("2026-12-02T08:00:00Z"),
            at("2026-12-02T23:59:00Z"),
        )
        .unwrap();
        assert_eq!(same.get("window").unwrap()["spans_days"], false);
        let over = TemplateContext::digest(
            &[one],
            "",
            at("2026-12-02T22:00:00Z"),
            at("2026-12-03T06:00:00Z"),
        )
        .unwrap();
        assert_eq!(over.get("window").unwrap()["spans_days"], true);
        assert_eq!(over.get("events").unwrap()[0]["window"]["spans_days"], true);
    }
}
