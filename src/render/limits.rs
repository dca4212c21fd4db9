//! Platform limits: better a message cut short with an ellipsis than one refused.
//!
//! Slack refuses a section text over 3,000 characters and more than 50 blocks
//! (`invalid_blocks`); Teams refuses messages over about 28 KB. Each function returns notes
//! saying what it cut, for the log.

use serde_json::Value;

use crate::text::truncate_chars;

pub const SLACK_TEXT_MAX: usize = 3000;
pub const SLACK_BLOCKS_MAX: usize = 50;
pub const TEAMS_BYTES_MAX: usize = 28_000;

pub fn slack(message: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(Value::String(text)) = message.get_mut("text") {
        cut(text, SLACK_TEXT_MAX, "slack text", &mut notes);
    }
    if let Some(Value::Array(blocks)) = message.get_mut("blocks") {
        if blocks.len() > SLACK_BLOCKS_MAX {
            notes.push(format!(
                "slack blocks cut from {} to {SLACK_BLOCKS_MAX}",
                blocks.len()
            ));
            blocks.truncate(SLACK_BLOCKS_MAX);
        }
        for block in blocks.iter_mut() {
            if let Some(Value::Object(text)) = block.get_mut("text")
                && let Some(Value::String(s)) = text.get_mut("text")
            {
                cut(s, SLACK_TEXT_MAX, "slack block text", &mut notes);
            }
            if let Some(Value::Array(fields)) = block.get_mut("fields") {
                for field in fields {
                    if let Some(Value::String(s)) = field.get_mut("text") {
                        cut(s, 2000, "slack field text", &mut notes);
                    }
                }
            }
        }
    }
    notes
}

/// Shortens the longest TextBlock texts of a Teams message until it fits.
pub fn teams(message: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    let mut size = serde_json::to_vec(message).map_or(0, |v| v.len());
    while size > TEAMS_BYTES_MAX {
        let mut texts = Vec::new();
        text_blocks(message, &mut texts);
        let Some(text) = texts.into_iter().max_by_key(|t| t.len()) else {
            break;
        };
        let len = text.chars().count();
        if len <= 100 {
            break;
        }
        // Characters may be several bytes: cutting by the excess in bytes always suffices.
        let keep = len.saturating_sub(size - TEAMS_BYTES_MAX + 1).max(100);
        *text = truncate_chars(text, keep);
        notes.push(format!(
            "teams text block cut from {len} to {keep} characters"
        ));
        size = serde_json::to_vec(message).map_or(0, |v| v.len());
    }
    notes
}

/// Every `text` of a `TextBlock`, anywhere in the card.
fn text_blocks<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::Object(map) => {
            let is_text_block = map.get("type").and_then(Value::as_str) == Some("TextBlock");
            for (k, v) in map.iter_mut() {
                if is_text_block && k == "text" {
                    if let Value::String(s) = v {
                        out.push(s);
                    }
                } else {
                    text_blocks(v, out);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| text_blocks(v, out)),
        _ => {}
    }
}

fn cut(text: &mut String, max: usize, what: &str, notes: &mut Vec<String>) {
    let len = text.chars().count();
    if len > max {
        *text = truncate_chars(text, max);
        notes.push(format!("{what} cut from {len} to {max} characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slack_texts_and_blocks_are_cut_to_the_limits() {
        let long = "x".repeat(5000);
        let blocks: Vec<Value> = (0..60)
            .map(|_| json!({"type": "section", "text": {"type": "mrkdwn", "text": long}}))
            .collect();
        let mut m = json!({"text": long, "blocks": blocks});
        let notes = slack(&mut m);
        assert_eq!(m["text"].as_str().unwrap().chars().count(), SLACK_TEXT_MAX);
        assert!(m["text"].as_str().unwrap().ends_with('…'));
        assert_eq!(m["blocks"].as_array().unwrap().len(), SLACK_BLOCKS_MAX);
        assert_eq!(
            m["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            SLACK_TEXT_MAX
        );
        assert!(!notes.is_empty());
    }

    #[test]
    fn a_teams_message_is_cut_to_fit() {
        let mut m = json!({"type": "message", "attachments": [{"content": {"body": [
            {"type": "TextBlock", "text": "é".repeat(20_000), "wrap": true},
            {"type": "TextBlock", "text": "short", "wrap": true}]}}]});
        let notes = teams(&mut m);
        assert!(serde_json::to_vec(&m).unwrap().len() <= TEAMS_BYTES_MAX);
        assert_eq!(m["attachments"][0]["content"]["body"][1]["text"], "short");
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}
