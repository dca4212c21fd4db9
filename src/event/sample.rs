//! Sample events of each type, as SuperOffice documents them: what `check` renders every
//! template against. Quote events carry only ids; sale, contact and person events also carry
//! `FieldValues`, as newer SuperOffice versions send them.

use serde_json::{Value, json};

use super::Event;
use super::catalog::{EVENTS, HERALD_EVENTS, is_herald_event, pattern_matches};

/// The documented event names a rule's `events:` patterns can receive (`test` never reaches a
/// rule's messages, so it is left out), each once, in catalog order.
pub fn names_for(patterns: &[String]) -> Vec<&'static str> {
    EVENTS
        .iter()
        .chain(HERALD_EVENTS)
        .copied()
        .filter(|e| *e != "test" && patterns.iter().any(|p| pattern_matches(p, e)))
        .collect()
}

/// A sample event of this type.
pub fn event(name: &str) -> Event {
    if is_herald_event(name) {
        return herald_event(name);
    }
    let entity = super::entity_of(name);
    let mut fields = json!({
        "EventId": "00000000-0000-4000-8000-000000001042",
        "Timestamp": "2026-11-20T13:05:44.8352175Z",
        "Changes": changes(entity),
        "Event": name,
        "PrimaryKey": 1042,
        "Entity": entity,
        "ContextIdentifier": "Cust12345",
        "ChangedByAssociateId": 37201,
        "WebhookName": "herald",
    });
    if let Some(values) = field_values(entity) {
        fields["FieldValues"] = values;
    }
    let bytes = serde_json::to_vec(&fields).unwrap_or_default();
    Event::parse(&bytes).expect("a sample event is an event")
}

/// A sample of one of herald's own events, with every field it carries.
fn herald_event(name: &str) -> Event {
    let mut fields = json!({
        "EventId": "herald-sample-1042",
        "Timestamp": "2026-11-20T13:05:44.8352175Z",
        "Event": name,
        "PrimaryKey": 0,
        "Entity": "herald",
        "ContextIdentifier": "Cust12345",
        "ChangedByAssociateId": 0,
        "WebhookName": "herald",
        "message": format!("herald: a sample {name} event"),
    });
    let values = json!({
        "channel": "sales-slack",
        "rule": "quote-ordered",
        "reason": "slack answered 404: no_service",
        "attempts": 1,
        "since": "2026-11-20T12:55:44Z",
        "oldest": "2026-11-20T12:55:44Z",
        "source": { "Event": "quote.ordered", "EventId": "00000000-0000-4000-8000-000000001042", "PrimaryKey": 1042 },
        "FieldValues": { "state": "Stopped", "consecutive_errors": 9, "last_error": "timeout", "reactivated": false, "message": "SuperOffice stopped sending" },
    });
    for key in super::catalog::herald_fields(name) {
        fields[*key] = values[*key].clone();
    }
    let bytes = serde_json::to_vec(&fields).unwrap_or_default();
    Event::parse(&bytes).expect("a sample event is an event")
}

/// `Changes`: column names; empty for quote events.
fn changes(entity: &str) -> Value {
    match entity {
        "quote" => json!([]),
        "sale" => json!(["status", "amount", "updated"]),
        "contact" => json!(["name", "updated"]),
        "person" => json!(["firstname", "lastname", "updated"]),
        _ => json!(["updated"]),
    }
}

fn field_values(entity: &str) -> Option<Value> {
    Some(match entity {
        "sale" => json!({
            "sale_id": 1042, "contact_id": 4211, "person_id": 9120, "associate_id": 37201,
            "heading": "Server upgrade", "amount": "120000", "status": "2",
        }),
        "contact" => json!({
            "contact_id": 1042, "name": "ACME AS", "department": "", "associate_id": 37201,
        }),
        "person" => json!({
            "person_id": 1042, "contact_id": 4211, "firstname": "Kari", "lastname": "Nordmann",
        }),
        _ => return None,
    })
}

/// What enrichment adds for the sample quote event (quote 1042), as herald builds it from the
/// saved answers in `examples/api/` (a test in `enrich` keeps the two the same).
pub fn enriched() -> serde_json::Map<String, Value> {
    serde_json::from_str(include_str!("sample-enriched.json")).expect("the sample is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_event_has_a_sample() {
        for name in EVENTS {
            assert_eq!(event(name).name(), *name);
        }
        let quote = names_for(&["quote.*".into()]);
        assert_eq!(quote.len(), 4);
        assert!(names_for(&["*".into()]).iter().all(|n| *n != "test"));
    }
}
