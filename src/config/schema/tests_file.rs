//! The schema of `*.test.yaml` files: the rules file, and cases of an event and what must come
//! of it.

use serde_json::{Value, json};

use super::{DRAFT, object, one_or_list, text, words};

/// The schema of a `*.test.yaml` file (`herald test`).
pub fn tests() -> Value {
    let mut schema = object(
        vec![
            (
                "rules",
                text("the rules file the cases run against, relative to this file"),
            ),
            (
                "tests",
                json!({ "type": "array", "items": case(), "description": "the cases" }),
            ),
        ],
        &["tests"],
    );
    schema["$schema"] = json!(DRAFT);
    schema["title"] = json!("herald rule tests (*.test.yaml)");
    schema["description"] =
        json!("Test cases for a rules file, run by herald test (README, \"Testing your rules\").");
    schema
}

/// What a case expects a message to be.
fn delivery() -> Value {
    object(
        vec![
            ("channel", text("the channel the message is for")),
            ("template", text("the template folder it must be made from")),
            ("contains", one_or_list("texts the message must contain")),
            (
                "not_contains",
                one_or_list("texts the message must not contain"),
            ),
            (
                "json",
                json!({ "type": "object", "description": "JSON Pointer (/text) to the value found there", "additionalProperties": true }),
            ),
            ("subject", text("an email's exact subject")),
            (
                "decision",
                json!({ "enum": ["now", "held", "digest"], "description": "what noise control does with it: now, held or digest" }),
            ),
        ],
        &["channel"],
    )
}

fn expect() -> Value {
    let w = |k| words(words::TEST_CASE, k);
    object(
        vec![
            (
                "matched",
                json!({ "type": "array", "items": { "type": "string" }, "description": w("expect.matched") }),
            ),
            (
                "deliveries",
                json!({ "type": "array", "items": delivery(), "description": w("expect.deliveries") }),
            ),
            (
                "not_delivered",
                json!({ "type": "array", "items": { "type": "string" }, "description": w("expect.not_delivered") }),
            ),
        ],
        &[],
    )
}

fn case() -> Value {
    let w = |k| words(words::TEST_CASE, k);
    object(
        vec![
            ("name", text(w("name"))),
            (
                "event",
                json!({ "description": w("event"), "anyOf": [{ "type": "string" }, { "type": "object" }] }),
            ),
            ("api_responses", text(w("api_responses"))),
            (
                "env",
                json!({ "type": "object", "description": w("env"), "additionalProperties": { "type": ["string", "number", "boolean"] } }),
            ),
            ("at", text(w("at"))),
            ("expect", expect()),
        ],
        &["name", "event", "expect"],
    )
}
