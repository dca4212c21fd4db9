//! Slack's Block Kit limits, from Slack's reference:
//! - blocks: <https://docs.slack.dev/reference/block-kit/blocks> (50 blocks a message; each
//!   block's own limits on its page: section text 3,000 characters and at most 10 fields of
//!   2,000; header plain_text of at most 150; context at most 10 elements; actions at most 25;
//!   `block_id` at most 255);
//! - text objects: <https://docs.slack.dev/reference/block-kit/composition-objects/text-object>
//!   (`plain_text` or `mrkdwn`, `text` required);
//! - `text`: <https://docs.slack.dev/reference/methods/chat.postMessage> (required when there
//!   are no blocks; with blocks, the fallback shown in notifications).

use serde_json::Value;

use super::{Finding, chars};
use crate::config::diag::did_you_mean;

const BLOCKS: &str = "docs.slack.dev/reference/block-kit/blocks";
const MAX_BLOCKS: usize = 50;
const SECTION_TEXT: usize = 3000;
const MAX_FIELDS: usize = 10;
const FIELD_TEXT: usize = 2000;
const HEADER_TEXT: usize = 150;
const CONTEXT_ELEMENTS: usize = 10;
const ACTION_ELEMENTS: usize = 25;
const BLOCK_ID: usize = 255;

const BLOCK_TYPES: &[&str] = &[
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "table",
    "video",
];

pub fn check(body: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let text = body.get("text").and_then(Value::as_str).unwrap_or("");
    let blocks = body.get("blocks");
    match (text.trim().is_empty(), blocks) {
        (true, None) => out.push(Finding::error(
            "the Slack message has neither `text` nor `blocks`; Slack refuses it (no_text, docs.slack.dev/reference/methods/chat.postMessage)",
        )),
        (true, Some(_)) => out.push(Finding::warning(
            "the Slack message has `blocks` but no `text`: notifications and screen readers show nothing (docs.slack.dev/reference/methods/chat.postMessage)",
        )),
        _ => {}
    }
    match blocks {
        None => {}
        Some(Value::Array(blocks)) => {
            if blocks.len() > MAX_BLOCKS {
                out.push(Finding::error(format!(
                    "the Slack message has {} blocks; Slack takes at most {MAX_BLOCKS} ({BLOCKS})",
                    blocks.len()
                )));
            }
            for (i, block) in blocks.iter().enumerate() {
                out.extend(self::block(i, block));
            }
        }
        Some(_) => out.push(Finding::error(format!(
            "the Slack message's `blocks` must be a list ({BLOCKS})"
        ))),
    }
    out
}

fn block(i: usize, block: &Value) -> Vec<Finding> {
    let at = format!("block {i}");
    let Some(kind) = block.get("type").and_then(Value::as_str) else {
        return vec![Finding::error(format!(
            "{at} has no `type`; Slack refuses it ({BLOCKS})"
        ))];
    };
    let at = format!("{at} ({kind})");
    let mut out = Vec::new();
    if !BLOCK_TYPES.contains(&kind) {
        out.push(Finding::error(format!(
            "{at}: `{kind}` is not a Slack block type{}; Slack refuses the message ({BLOCKS})",
            did_you_mean(kind, BLOCK_TYPES.iter().copied())
        )));
        return out;
    }
    if let Some(id) = block.get("block_id").and_then(Value::as_str)
        && chars(id) > BLOCK_ID
    {
        out.push(Finding::error(format!(
            "{at}: `block_id` is {} characters; Slack takes at most {BLOCK_ID} ({BLOCKS})",
            chars(id)
        )));
    }
    match kind {
        "section" => section(&at, block, &mut out),
        "header" => header(&at, block, &mut out),
        "context" => count(&at, block, "elements", CONTEXT_ELEMENTS, &mut out),
        "actions" => count(&at, block, "elements", ACTION_ELEMENTS, &mut out),
        "image" => {
            for key in ["alt_text"] {
                if block.get(key).is_none() {
                    out.push(Finding::error(format!(
                        "{at} needs `{key}` ({BLOCKS}/#image)"
                    )));
                }
            }
        }
        _ => {}
    }
    out
}

fn section(at: &str, block: &Value, out: &mut Vec<Finding>) {
    let text = block.get("text");
    let fields = block.get("fields").and_then(Value::as_array);
    if text.is_none() && fields.is_none() {
        out.push(Finding::error(format!(
            "{at} needs `text` or `fields` ({BLOCKS}#section)"
        )));
    }
    if let Some(text) = text {
        text_object(&format!("{at} text"), text, SECTION_TEXT, out);
    }
    let Some(fields) = fields else { return };
    if fields.len() > MAX_FIELDS {
        out.push(Finding::error(format!(
            "{at} has {} fields; Slack takes at most {MAX_FIELDS} ({BLOCKS}#section)",
            fields.len()
        )));
    }
    for (j, field) in fields.iter().enumerate() {
        text_object(&format!("{at} field {j}"), field, FIELD_TEXT, out);
    }
}

fn header(at: &str, block: &Value, out: &mut Vec<Finding>) {
    let Some(text) = block.get("text") else {
        out.push(Finding::error(format!(
            "{at} needs `text` ({BLOCKS}#header)"
        )));
        return;
    };
    if text.get("type").and_then(Value::as_str) != Some("plain_text") {
        out.push(Finding::error(format!(
            "{at}: a header's text must be `plain_text` ({BLOCKS}#header)"
        )));
    }
    text_object(&format!("{at} text"), text, HEADER_TEXT, out);
}

/// A text object: `plain_text` or `mrkdwn`, non-empty text of at most `max` characters.
fn text_object(at: &str, text: &Value, max: usize, out: &mut Vec<Finding>) {
    let kind = text.get("type").and_then(Value::as_str);
    if !matches!(kind, Some("plain_text" | "mrkdwn")) {
        out.push(Finding::error(format!(
            "{at}: a text object's `type` must be plain_text or mrkdwn, found {} (docs.slack.dev/reference/block-kit/composition-objects/text-object)",
            kind.unwrap_or("none")
        )));
    }
    match text.get("text").and_then(Value::as_str) {
        Some("") => out.push(Finding::error(format!(
            "{at} is empty; Slack refuses empty text (invalid_blocks)"
        ))),
        Some(s) if chars(s) > max => out.push(Finding::error(format!(
            "{at} is {} characters; Slack takes at most {max} ({BLOCKS})",
            chars(s)
        ))),
        Some(_) => {}
        None => out.push(Finding::error(format!("{at} needs `text`"))),
    }
}

fn count(at: &str, block: &Value, key: &str, max: usize, out: &mut Vec<Finding>) {
    match block.get(key).and_then(Value::as_array) {
        Some(items) if items.len() > max => out.push(Finding::error(format!(
            "{at} has {} {key}; Slack takes at most {max} ({BLOCKS})",
            items.len()
        ))),
        Some(_) => {}
        None => out.push(Finding::error(format!("{at} needs `{key}` ({BLOCKS})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(body: Value) -> Vec<String> {
        check(&body).into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn a_good_message_passes() {
        let body = json!({"text": "hi", "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Quote 1"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*x*"},
             "fields": [{"type": "mrkdwn", "text": "a"}]},
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]}]});
        assert_eq!(messages(body), Vec::<String>::new());
    }

    #[test]
    fn limits_and_types_are_reported() {
        let blocks: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        let got = messages(json!({"text": "t", "blocks": blocks}));
        assert!(got[0].contains("51 blocks"), "{got:?}");
        let got = messages(json!({"text": "t", "blocks": [
            {"type": "sectoin"},
            {"type": "header", "text": {"type": "mrkdwn", "text": "x".repeat(151)}},
            {"type": "section", "fields": (0..11).map(|_| json!({"type": "mrkdwn", "text": "f"})).collect::<Vec<_>>()}]}));
        assert!(got[0].contains("did you mean `section`"), "{got:?}");
        assert!(got[1].contains("plain_text"), "{got:?}");
        assert!(got[2].contains("151 characters"), "{got:?}");
        assert!(got[3].contains("11 fields"), "{got:?}");
        assert!(messages(json!({}))[0].contains("no_text"));
    }
}
