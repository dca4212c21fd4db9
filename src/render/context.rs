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
        value.insert("rule".into(), json!({ "name": rule }));
        value.insert("received_at".into(), Value::String(received_at.to_string()));
        value.insert("enriched".into(), Value::Bool(false));
        TemplateContext {
            value,
            event: event.shared(),
        }
    }

    /// Adds or replaces a top-level name (the seam for enrichment).
    pub fn insert(&mut self, key: &str, value: Value) {
        self.value.insert(key.to_string(), value);
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
