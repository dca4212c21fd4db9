//! The parts of the rules schema: a channel (its keys by `type`), an action, a condition, and
//! the noise settings.

use serde_json::{Value, json};

use super::{object, one_or_list, or_var, text, words};
use crate::config::channel::{Kind, keys};
use crate::config::conversation::Mode;
use crate::config::schedule::Days;

use super::words::{ACTION, CHANNEL, CONDITION, CONVERSATION, NOISE};

const DURATION: &str = "a duration: 500ms, 30s, 10m, 2h, 7d";

pub(super) fn duration(description: impl Into<String>) -> Value {
    text(format!("{} ({DURATION})", description.into()))
}

/// A channel: every key any kind takes, and for each `type:` only its own.
pub(super) fn channel() -> Value {
    let mut schema = object(channel_keys(), &["type"]);
    // No `additionalProperties: false` here: the kinds below each say which keys they take.
    schema
        .as_object_mut()
        .unwrap()
        .remove("additionalProperties");
    schema["allOf"] = Value::Array(by_kind());
    schema
}

/// Every key a channel of any kind takes.
fn channel_keys() -> Vec<(&'static str, Value)> {
    let w = |k| words(CHANNEL, k);
    let mut keys = vec![
        (
            "type",
            json!({ "enum": Kind::NAMES, "description": w("type") }),
        ),
        ("url", text(w("url"))),
        ("token", text(w("token"))),
        ("channel", text(w("channel"))),
        ("api_url", text(w("api_url"))),
        ("timeout", duration(w("timeout"))),
        ("failing_after", duration(w("failing_after"))),
        ("pace", text(w("pace"))),
        (
            "retry",
            json!({ "$ref": "#/$defs/retry", "description": w("retry") }),
        ),
        (
            "method",
            or_var(json!({ "enum": ["POST", "PUT", "PATCH"] }), w("method")),
        ),
        (
            "headers",
            json!({ "type": "object", "description": w("headers"), "additionalProperties": { "type": "string" } }),
        ),
        ("smtp", text(w("smtp"))),
        ("from", text(w("from"))),
        ("to", one_or_list(w("to"))),
        ("cc", one_or_list(w("cc"))),
        ("allowed_domains", one_or_list(w("allowed_domains"))),
        ("reply_to", text(w("reply_to"))),
        ("subject", text(w("subject"))),
    ];
    keys.extend(noise_refs(CHANNEL));
    keys
}

/// `digest`, `throttle` and `active_hours`, described as `table` says (a channel's or an
/// action's).
fn noise_refs(table: &[(&str, &str)]) -> Vec<(&'static str, Value)> {
    ["digest", "throttle", "active_hours"]
        .into_iter()
        .map(|k| {
            (
                k,
                json!({ "$ref": format!("#/$defs/{k}"), "description": words(table, k) }),
            )
        })
        .collect()
}

/// For each `type:`, the keys it takes (and what email requires).
fn by_kind() -> Vec<Value> {
    [Kind::Slack, Kind::Teams, Kind::Email, Kind::Webhook]
        .into_iter()
        .map(|kind| {
            let mut then = json!({ "propertyNames": { "enum": keys(kind) } });
            if kind == Kind::Email {
                then["required"] = json!(["smtp", "from"]);
            }
            json!({
                "if": { "properties": { "type": { "const": kind.as_str() } }, "required": ["type"] },
                "then": then
            })
        })
        .collect()
}

/// A `notify:` entry.
pub(super) fn action() -> Value {
    let w = |k| words(ACTION, k);
    let c = |k| words(CONVERSATION, k);
    let conversation = object(
        vec![
            ("key", text(c("key"))),
            (
                "mode",
                json!({ "enum": Mode::NAMES, "description": c("mode") }),
            ),
            (
                "broadcast",
                or_var(json!({ "type": "boolean" }), c("broadcast")),
            ),
            ("keep", duration(c("keep"))),
        ],
        &["key"],
    );
    let mut conversation = conversation;
    conversation["description"] = json!(w("conversation"));
    object(
        vec![
            ("channel", text(w("channel"))),
            ("template", text(w("template"))),
            ("text", text(w("text"))),
            ("subject", text(w("subject"))),
            ("to", one_or_list(w("to"))),
            ("cc", one_or_list(w("cc"))),
            ("conversation", conversation),
        ]
        .into_iter()
        .chain(noise_refs(ACTION))
        .collect(),
        &["channel"],
    )
}

/// A condition: a field and an operator, or `any`, `all`, `not`, `time`.
pub(super) fn condition() -> Value {
    let w = |k| words(CONDITION, k);
    let anything = |k| json!({ "description": w(k) });
    let list = |k| json!({ "type": "array", "description": w(k) });
    let mut props: Vec<(&str, Value)> = vec![
        (
            "field",
            text("the field's path: PrimaryKey, FieldValues.amount, sale.Amount…"),
        ),
        ("equals", anything("equals")),
        ("not_equals", anything("not_equals")),
        ("in", list("in")),
        ("not_in", list("not_in")),
        ("contains", anything("contains")),
        ("starts_with", text(w("starts_with"))),
        ("ends_with", text(w("ends_with"))),
        ("matches", text(w("matches"))),
        ("exists", or_var(json!({ "type": "boolean" }), w("exists"))),
    ];
    for op in ["gt", "gte", "lt", "lte"] {
        props.push((
            op,
            json!({ "type": ["number", "string"], "description": w(op) }),
        ));
    }
    let nested = |what: &str| json!({ "type": "array", "items": { "$ref": "#/$defs/condition" }, "description": what });
    props.push(("any", nested("at least one of these holds")));
    props.push(("all", nested("every one of these holds")));
    props.push((
        "not",
        json!({ "$ref": "#/$defs/condition", "description": "this does not hold" }),
    ));
    props.push((
        "time",
        json!({ "$ref": "#/$defs/hours", "description": "the event's Timestamp falls on these days (and between from and to) in this time zone" }),
    ));
    let mut schema = object(props, &[]);
    schema["anyOf"] = json!(
        ["field", "any", "all", "not", "time"]
            .iter()
            .map(|k| json!({ "required": [k] }))
            .collect::<Vec<_>>()
    );
    schema
}

/// `retry:`, `digest:`, `throttle:`, `active_hours:`, and the days and hours they name.
pub(super) fn noise_defs() -> Vec<(&'static str, Value)> {
    let n = |k| words(NOISE, k);
    vec![
        ("digest", digest()),
        ("throttle", throttle()),
        (
            "active_hours",
            hours(n("`active_hours: { timezone, days, from, to }`")),
        ),
        ("hours", hours("days and hours in a time zone".to_string())),
        ("retry", retry()),
    ]
}

fn days() -> Value {
    json!({
        "type": "array",
        "description": format!("days of the week: {} (or full names), and ranges such as mon-fri or fri-mon", Days::NAMES.join(", ")),
        "items": { "type": "string" }
    })
}

pub(super) fn count(description: &str) -> Value {
    or_var(
        json!({ "type": "integer", "minimum": 1 }),
        description.to_string(),
    )
}

fn hours(description: String) -> Value {
    let mut o = object(
        vec![
            ("timezone", text("an IANA time zone: Europe/Oslo")),
            ("days", days()),
            ("from", text("HH:MM, the first minute")),
            ("to", text("HH:MM, the end (24:00 for midnight)")),
        ],
        &[],
    );
    o["description"] = json!(description);
    o
}

fn digest() -> Value {
    let n = |k| words(NOISE, k);
    let at = n(r#"`digest: { at: ["08:00", "13:00"], timezone: Europe/Oslo, days: [mon, …] }`"#);
    object(
        vec![
            ("window", duration(n("`digest: { window: 10m }`"))),
            (
                "at",
                json!({ "type": "array", "items": { "type": "string" }, "description": at }),
            ),
            ("timezone", text("an IANA time zone for at:")),
            ("days", days()),
            ("key", text(n("`digest.key`"))),
            ("max", count(&n("`digest.max`"))),
            (
                "first",
                json!({ "enum": ["now"], "description": n("`digest.first: now`") }),
            ),
        ],
        &[],
    )
}

fn throttle() -> Value {
    let said = words(NOISE, "`throttle: { key, at_most, per }`");
    object(
        vec![
            ("key", text("a template: one limit per value")),
            ("at_most", count(&said)),
            ("per", duration("the period")),
        ],
        &["key", "at_most", "per"],
    )
}

fn retry() -> Value {
    let delays = "the waits before the first retries, in order (1m, 5m, 30m)";
    object(
        vec![
            (
                "delays",
                json!({ "type": "array", "items": { "type": "string" }, "description": delays }),
            ),
            ("then", duration("the wait between the retries after those")),
            (
                "give_up_after",
                duration("how long to keep trying before a delivery becomes a dead letter"),
            ),
            (
                "max_retry_after",
                duration("the longest pause a 429's Retry-After may ask for"),
            ),
        ],
        &[],
    )
}
