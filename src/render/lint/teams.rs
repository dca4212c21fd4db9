//! What Teams renders of an Adaptive Card, from Microsoft's documentation:
//! - element and action types, and their required properties: the Adaptive Cards schema 1.5,
//!   <https://adaptivecards.io/explorer/>;
//! - the highest version Teams renders, 1.5: <https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference>;
//! - 28 KB a message: <https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using>.

use serde_json::Value;

use super::Finding;
use crate::config::diag::did_you_mean;

const EXPLORER: &str = "adaptivecards.io/explorer";
const MAX_VERSION: (u32, u32) = (1, 5);
const MAX_BYTES: usize = 28 * 1024;

/// Elements and the properties each requires.
const ELEMENTS: &[(&str, &[&str])] = &[
    ("TextBlock", &["text"]),
    ("Image", &["url"]),
    ("Media", &["sources"]),
    ("RichTextBlock", &["inlines"]),
    ("Container", &["items"]),
    ("ColumnSet", &[]),
    ("FactSet", &["facts"]),
    ("ImageSet", &["images"]),
    ("ActionSet", &["actions"]),
    ("Table", &[]),
    ("Input.Text", &["id"]),
    ("Input.Number", &["id"]),
    ("Input.Date", &["id"]),
    ("Input.Time", &["id"]),
    ("Input.Toggle", &["id", "title"]),
    ("Input.ChoiceSet", &["id"]),
];

const ACTIONS: &[(&str, &[&str])] = &[
    ("Action.OpenUrl", &["url"]),
    ("Action.Submit", &[]),
    ("Action.ShowCard", &["card"]),
    ("Action.ToggleVisibility", &["targetElements"]),
    ("Action.Execute", &[]),
];

pub fn check(message: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let size = serde_json::to_vec(message).map_or(0, |v| v.len());
    if size > MAX_BYTES {
        out.push(Finding::error(format!(
            "the Teams message is {size} bytes; Teams refuses messages over 28 KB (learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using)"
        )));
    }
    let cards = message.get("attachments").and_then(Value::as_array);
    for (i, attachment) in cards.into_iter().flatten().enumerate() {
        card(&format!("card {i}"), &attachment["content"], &mut out);
    }
    out
}

fn card(at: &str, card: &Value, out: &mut Vec<Finding>) {
    version(at, card, out);
    for (i, element) in list(card, "body").iter().enumerate() {
        self::element(&format!("{at} body {i}"), element, out);
    }
    for (i, action) in list(card, "actions").iter().enumerate() {
        self::action(&format!("{at} action {i}"), action, out);
    }
}

fn version(at: &str, card: &Value, out: &mut Vec<Finding>) {
    let text = card.get("version").and_then(Value::as_str).unwrap_or("");
    let parsed = text
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if v <= MAX_VERSION => {}
        Some(_) => out.push(Finding::error(format!(
            "{at}: version {text}; Teams renders Adaptive Cards up to version 1.5 and shows nothing of a later one (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference)"
        ))),
        None => out.push(Finding::error(format!(
            "{at}: `version` must be text like \"1.4\", found {:?}",
            card.get("version").unwrap_or(&Value::Null)
        ))),
    }
}

fn element(at: &str, element: &Value, out: &mut Vec<Finding>) {
    let Some(kind) = known(at, element, ELEMENTS, "element", out) else {
        return;
    };
    let children: &[(&str, bool)] = match kind {
        "Container" => &[("items", false)],
        "ColumnSet" => &[("columns", true)],
        "ActionSet" => &[("actions", false)],
        _ => &[],
    };
    for (key, columns) in children {
        for (i, child) in list(element, key).iter().enumerate() {
            let at = format!("{at} {key} {i}");
            match (kind, *columns) {
                ("ActionSet", _) => action(&at, child, out),
                (_, true) => column(&at, child, out),
                _ => self::element(&at, child, out),
            }
        }
    }
    if kind == "FactSet" {
        for (i, fact) in list(element, "facts").iter().enumerate() {
            if fact.get("title").is_none() || fact.get("value").is_none() {
                out.push(Finding::error(format!(
                    "{at} fact {i} needs `title` and `value` ({EXPLORER}/FactSet)"
                )));
            }
        }
    }
}

/// A column of a ColumnSet (its `type` may be left out) and its items.
fn column(at: &str, column: &Value, out: &mut Vec<Finding>) {
    if let Some(kind) = column.get("type").and_then(Value::as_str)
        && kind != "Column"
    {
        out.push(Finding::error(format!(
            "{at}: a ColumnSet's columns are of type Column, found `{kind}` ({EXPLORER}/ColumnSet)"
        )));
    }
    for (i, child) in list(column, "items").iter().enumerate() {
        element(&format!("{at} items {i}"), child, out);
    }
}

fn action(at: &str, action: &Value, out: &mut Vec<Finding>) {
    if known(at, action, ACTIONS, "action", out) == Some("Action.ShowCard") {
        card(&format!("{at} card"), &action["card"], out);
    }
}

/// The element's or action's type when it is one Teams knows, with its required properties
/// present; every problem reported.
fn known<'a>(
    at: &str,
    value: &Value,
    table: &'a [(&'a str, &'a [&'a str])],
    what: &str,
    out: &mut Vec<Finding>,
) -> Option<&'a str> {
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        out.push(Finding::error(format!(
            "{at}: an {what} needs `type` ({EXPLORER})"
        )));
        return None;
    };
    let Some((name, required)) = table.iter().find(|(name, _)| *name == kind) else {
        out.push(Finding::error(format!(
            "{at}: `{kind}` is not an Adaptive Card {what} type{}; Teams cannot render the card ({EXPLORER})",
            did_you_mean(kind, table.iter().map(|(n, _)| *n))
        )));
        return None;
    };
    for key in required.iter().filter(|k| value.get(**k).is_none()) {
        out.push(Finding::error(format!(
            "{at} ({kind}) needs `{key}` ({EXPLORER}/{kind})"
        )));
    }
    Some(name)
}

fn list<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wrap(card: Value) -> Value {
        json!({"type": "message", "attachments": [{"content": card}]})
    }

    #[test]
    fn unknown_types_late_versions_and_missing_properties_are_reported() {
        let got: Vec<String> = check(&wrap(json!({"type": "AdaptiveCard", "version": "1.6",
            "body": [{"type": "TextBlok", "text": "x"}, {"type": "Image"},
                     {"type": "Container", "items": [{"type": "FactSet", "facts": [{"title": "a"}]}]}],
            "actions": [{"type": "Action.OpenUrl"}]})))
        .into_iter()
        .map(|f| f.message)
        .collect();
        assert!(got[0].contains("version 1.6"), "{got:?}");
        assert!(got[1].contains("did you mean `TextBlock`"), "{got:?}");
        assert!(got[2].contains("needs `url`"), "{got:?}");
        assert!(got[3].contains("fact 0 needs"), "{got:?}");
        assert!(got[4].contains("Action.OpenUrl) needs `url`"), "{got:?}");
    }

    #[test]
    fn a_good_card_passes() {
        let card = json!({"type": "AdaptiveCard", "version": "1.4", "body": [
            {"type": "TextBlock", "text": "x"},
            {"type": "ColumnSet", "columns": [{"items": [{"type": "TextBlock", "text": "y"}]}]},
            {"type": "FactSet", "facts": [{"title": "a", "value": "b"}]}],
            "actions": [{"type": "Action.OpenUrl", "url": "https://example.com"}]});
        assert!(check(&wrap(card)).is_empty());
    }
}
