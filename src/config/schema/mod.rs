//! JSON Schemas (draft 2020-12) for `rules.yaml` and `*.test.yaml`, for editors with the YAML
//! language server: completion, descriptions on hover, and a red underline for an unknown key,
//! a wrong type or an unknown channel type before `herald check` runs. What a schema can say is
//! said here, from the same key lists the loader refuses others by; what needs the whole file
//! (a rule naming a channel that exists, a template that compiles) stays with `check`.
//! `herald schema rules|tests` prints them; `schema/` holds them committed.

mod parts;
mod superoffice;
mod tests_file;
pub mod words;

use serde_json::{Map, Value, json};

use parts::{action, channel, condition, noise_defs};
use superoffice::superoffice;
pub use tests_file::tests;

pub const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// `${VAR}` and `${VAR:-default}`: a value the environment fills in when the file loads.
const VAR: &str = r"^.*\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}.*$";

/// The description the README's table gives `key`.
pub(crate) fn words(table: &[(&str, &str)], key: &str) -> String {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, w)| w.to_string())
        .unwrap_or_else(|| panic!("no words for `{key}`"))
}

/// A string.
pub(crate) fn text(description: impl Into<String>) -> Value {
    json!({ "type": "string", "description": description.into() })
}

/// A value of this schema, or a `${VAR}` that becomes one.
pub(crate) fn or_var(schema: Value, description: impl Into<String>) -> Value {
    json!({
        "description": description.into(),
        "anyOf": [schema, { "$ref": "#/$defs/var" }]
    })
}

/// One string or a list of them.
pub(crate) fn one_or_list(description: impl Into<String>) -> Value {
    json!({
        "description": description.into(),
        "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
    })
}

/// An object with exactly these keys (the loader refuses any other).
pub(crate) fn object(properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    let mut props = Map::new();
    for (k, v) in properties {
        props.insert(k.to_string(), v);
    }
    let mut o = json!({ "type": "object", "properties": props, "additionalProperties": false });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// The schema of `rules.yaml`.
pub fn rules() -> Value {
    let mut defs = Map::new();
    defs.insert(
        "var".into(),
        json!({ "type": "string", "pattern": VAR, "description": "a ${VAR} (or ${VAR:-default}) from the environment" }),
    );
    defs.insert("channel".into(), channel());
    defs.insert("rule".into(), rule());
    defs.insert("action".into(), action());
    defs.insert("condition".into(), condition());
    for (name, schema) in noise_defs() {
        defs.insert(name.into(), schema);
    }
    let top = object(
        vec![
            ("superoffice", superoffice()),
            (
                "channels",
                json!({
                    "type": "object",
                    "description": "where messages go: each channel's name and settings",
                    "additionalProperties": { "$ref": "#/$defs/channel" }
                }),
            ),
            (
                "rules",
                json!({ "type": "array", "description": "which events become which messages, in order", "items": { "$ref": "#/$defs/rule" } }),
            ),
            (
                "templates",
                text(
                    "the folder of message templates, relative to this file (default templates/ beside it)",
                ),
            ),
        ],
        &["channels", "rules"],
    );
    let mut schema = json!({
        "$schema": DRAFT,
        "title": "herald rules.yaml",
        "description": "herald's rules: which SuperOffice events become which messages, and where they go (README, \"rules.yaml\").",
    });
    for (k, v) in top.as_object().unwrap() {
        schema[k] = v.clone();
    }
    schema["$defs"] = Value::Object(defs);
    schema
}

fn rule() -> Value {
    let w = |k| words(words::RULE, k);
    object(
        vec![
            ("name", text(w("name"))),
            ("description", text(w("description"))),
            ("events", one_or_list(w("events"))),
            (
                "when",
                json!({ "type": "array", "description": w("when"), "items": { "$ref": "#/$defs/condition" } }),
            ),
            (
                "notify",
                json!({ "type": "array", "description": w("notify"), "minItems": 1, "items": { "$ref": "#/$defs/action" } }),
            ),
            ("stop", or_var(json!({ "type": "boolean" }), w("stop"))),
        ],
        &["name", "events", "notify"],
    )
}
