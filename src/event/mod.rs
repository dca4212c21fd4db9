//! The SuperOffice webhook event: parsed leniently from the wire, kept whole.
//!
//! SuperOffice adds fields over versions and omits others (`Entity` is missing on webhook
//! state events), so only `EventId` and `Event` are required; every field, known or not, stays
//! available to rules and templates through [`Event::fields`].

pub mod about;
pub mod catalog;
pub mod sample;
pub mod time;

use serde_json::{Map, Value};

use crate::text::json;

/// Fields SuperOffice documents on webhook bodies. Templates and conditions may use these,
/// whether or not a given event carries them (`{{default WebhookName "..."}}` covers an absent
/// one).
pub const FIELDS: &[&str] = &[
    "EventId",
    "Timestamp",
    "Changes",
    "Event",
    "PrimaryKey",
    "Entity",
    "ContextIdentifier",
    "ChangedByAssociateId",
    "WebhookName",
    "FieldValues",
    "Values",
    "Properties",
];

/// A parsed event. Built only by [`Event::parse`], so an `Event` always has an id and a name.
#[derive(Debug, Clone)]
pub struct Event {
    id: String,
    name: String,
    /// Always a JSON object: the body as sent. Shared, so contexts can keep it cheaply.
    body: std::sync::Arc<Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is JSON but not an object")]
    NotAnObject,
    #[error("body lacks the `{0}` field")]
    Missing(&'static str),
    #[error("`{0}` must be a non-empty string")]
    NotText(&'static str),
    #[error("`{0}` is longer than {1} characters")]
    TooLong(&'static str, usize),
    #[error("`{0}` contains control characters")]
    Control(&'static str),
}

/// SuperOffice's longest event names are about 30 characters (`projectmember.changed`,
/// `webhook123.stopped`, `list.<name>.created`); this leaves room for long list and table
/// names, and keeps anything else out of logs and metric labels.
pub const MAX_NAME_CHARS: usize = 100;

/// An EventId is a GUID (36 characters); this leaves room for other forms.
pub const MAX_ID_CHARS: usize = 128;

impl Event {
    /// Parses a webhook body. The caller decides whether the bytes were verified first.
    pub fn parse(body: &[u8]) -> Result<Event, EventError> {
        let value = read_json(body)?;
        let Value::Object(fields) = value else {
            return Err(EventError::NotAnObject);
        };
        let id = required_text(&fields, "EventId", MAX_ID_CHARS)?;
        let name = required_text(&fields, "Event", MAX_NAME_CHARS)?;
        Ok(Event {
            id,
            name,
            body: std::sync::Arc::new(Value::Object(fields)),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event name, such as `quote.ordered`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the event is about: `quote` for `quote.ordered`, `webhook12` for
    /// `webhook12.stopped`.
    pub fn entity(&self) -> &str {
        entity_of(&self.name)
    }

    /// The registration test event, sent when a webhook is created in SuperOffice.
    pub fn is_test(&self) -> bool {
        self.name == "test"
    }

    /// Every field of the body, in the order SuperOffice sent them.
    pub fn fields(&self) -> &Map<String, Value> {
        self.body.as_object().expect("an event body is an object")
    }

    /// The body as one JSON value, for conditions and bodies that forward the event.
    pub fn as_value(&self) -> &Value {
        &self.body
    }

    pub fn shared(&self) -> std::sync::Arc<Value> {
        self.body.clone()
    }

    /// What the event says, apart from its id: its `Timestamp`, then a digest of `Event`,
    /// `PrimaryKey`, `ContextIdentifier`, `Timestamp`, `Changes` and `ChangedByAssociateId`.
    /// SuperOffice's documentation says both that a retried event keeps its EventId and that
    /// each new cycle of retries gets a new one: two events with the same content are one event
    /// sent twice.
    ///
    /// Two keys are equal exactly when their digests are (the digest covers the whole
    /// Timestamp); the Timestamp in front, cut to [`KEY_TIME_CHARS`] characters, only orders
    /// the keys as the events arrive, so that the store adds each at the end of its index
    /// instead of at a random place (one page written per batch, not one per event). Only a
    /// Timestamp of printable ASCII, as SuperOffice's are, leads: PostgreSQL's text refuses a
    /// NUL, and the migrations that rekeyed stored contents read no other.
    pub fn content_key(&self) -> String {
        use sha2::Digest;
        use std::fmt::Write as _;
        let fields = self.fields();
        let content: [&Value; 6] = CONTENT.map(|k| fields.get(k).unwrap_or(&Value::Null));
        // Serialized straight into the hash: no copy of the event's values.
        let mut hasher = HashWriter(sha2::Sha256::new());
        serde_json::to_writer(&mut hasher, &content).expect("JSON values serialize");
        let time = match fields.get("Timestamp") {
            Some(Value::String(t)) if t.bytes().all(|b| (b' '..=b'~').contains(&b)) => {
                &t[..t.len().min(KEY_TIME_CHARS)]
            }
            _ => "",
        };
        let mut key = String::with_capacity(time.len() + 65);
        key.push_str(time);
        key.push(' ');
        for b in hasher.0.finalize() {
            let _ = write!(key, "{b:02x}");
        }
        key
    }
}

/// How much of an event's `Timestamp` leads its content key: a SuperOffice timestamp
/// (`2026-11-20T10:15:00.1234567Z`) whole. The migrations that keyed stored contents this way
/// (`event_content_order`) cut at the same length.
const KEY_TIME_CHARS: usize = 40;

/// Bytes written into a SHA-256 hash.
struct HashWriter(sha2::Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The entity an event name is about: what comes before its first dot.
pub fn entity_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The fields that make an event's content, for [`Event::content_key`].
const CONTENT: [&str; 6] = [
    "Event",
    "PrimaryKey",
    "ContextIdentifier",
    "Timestamp",
    "Changes",
    "ChangedByAssociateId",
];

/// The body as JSON; one with lone surrogate escapes (a .NET string cut mid-pair) is read with
/// each as `\ufffd`, the raw body staying as it came.
fn read_json(body: &[u8]) -> Result<Value, EventError> {
    let e = match serde_json::from_slice(body) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let repaired = std::str::from_utf8(body)
        .ok()
        .map(|text| json::for_reader(text, json::Reader::Serde))
        .filter(|r| matches!(r, std::borrow::Cow::Owned(_)));
    match repaired {
        Some(text) => serde_json::from_str(&text).map_err(|_| EventError::NotJson(e.to_string())),
        None => Err(EventError::NotJson(e.to_string())),
    }
}

fn required_text(
    fields: &Map<String, Value>,
    key: &'static str,
    max: usize,
) -> Result<String, EventError> {
    match fields.get(key) {
        None | Some(Value::Null) => Err(EventError::Missing(key)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(EventError::NotText(key)),
        Some(Value::String(s)) if s.chars().count() > max => Err(EventError::TooLong(key, max)),
        Some(Value::String(s)) if s.chars().any(char::is_control) => Err(EventError::Control(key)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(EventError::NotText(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_are_equal_for_equal_content_and_ordered_by_time() {
        let key = |id: &str, time: &str| {
            let body = format!(
                r#"{{"EventId":"{id}","Event":"quote.sent","PrimaryKey":7,"Timestamp":"{time}"}}"#
            );
            Event::parse(body.as_bytes()).unwrap().content_key()
        };
        let first = key("a", "2026-11-20T10:15:00.1234567Z");
        assert_eq!(first, key("b", "2026-11-20T10:15:00.1234567Z"));
        assert!(first.starts_with("2026-11-20T10:15:00.1234567Z "));
        assert!(first < key("c", "2026-11-20T10:15:00.1234568Z"));
        let long = "9".repeat(KEY_TIME_CHARS);
        assert_ne!(key("d", &format!("{long}1")), key("e", &format!("{long}2")));
        let untimed = Event::parse(br#"{"EventId":"f","Event":"quote.sent","Timestamp":5}"#);
        assert_eq!(untimed.unwrap().content_key().len(), 65);
        for odd in [r#"a\u0000b"#, r#"2026-11-20T10:15:00Z\u00e5"#, r#"\ud800"#] {
            let body = format!(r#"{{"EventId":"g","Event":"quote.sent","Timestamp":"{odd}"}}"#);
            let key = Event::parse(body.as_bytes()).unwrap().content_key();
            assert!(key.starts_with(' ') && key.len() == 65, "{odd}: {key:?}");
        }
    }

    #[test]
    fn keeps_unknown_fields() {
        let e = Event::parse(br#"{"EventId":"a","Event":"quote.sent","Custom":{"x":1}}"#).unwrap();
        assert_eq!((e.id(), e.name()), ("a", "quote.sent"));
        assert_eq!(e.fields()["Custom"]["x"], 1);
    }

    #[test]
    fn says_what_is_wrong_with_a_bad_body() {
        let long = format!(r#"{{"EventId":"a","Event":"{}"}}"#, "x".repeat(101));
        assert_eq!(
            Event::parse(long.as_bytes()).unwrap_err(),
            EventError::TooLong("Event", MAX_NAME_CHARS)
        );
        let cases: [(&[u8], EventError); 5] = [
            (b"[1]", EventError::NotAnObject),
            (br#"{"Event":"x"}"#, EventError::Missing("EventId")),
            (br#"{"EventId":"a"}"#, EventError::Missing("Event")),
            (
                br#"{"EventId":7,"Event":"x"}"#,
                EventError::NotText("EventId"),
            ),
            (
                b"{\"EventId\":\"a\\u001b[2J\",\"Event\":\"x\"}",
                EventError::Control("EventId"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(Event::parse(body).unwrap_err(), expected);
        }
        assert!(matches!(
            Event::parse(b"{nope"),
            Err(EventError::NotJson(_))
        ));
    }
}
