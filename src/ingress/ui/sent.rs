//! What was sent, as people read it: a Slack message or Teams card as its text, fields and
//! buttons (with their URLs), an email as its subject, recipients and text; the request's
//! destination, headers and raw body one click away. Nothing of the body is rendered as HTML.

use serde_json::{Map, Value, json};

use crate::channels::sent::Sent;

/// One line of a preview.
#[derive(Debug, PartialEq)]
enum Line {
    Text(String),
    Field { title: String, value: String },
    Button { label: String, url: String },
}

/// The template data for one kept request.
pub(super) fn shown(sent: &Sent, attempt: usize) -> Value {
    let header = |name: &str| {
        sent.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let email = sent.kind == "email";
    let lines = if email {
        Vec::new()
    } else {
        preview(&sent.body)
    };
    json!({
        "attempt": attempt,
        "kind": sent.kind,
        "to": sent.to,
        "email": email,
        "subject": header("Subject"),
        "recipients": header("To"),
        "cc": header("Cc"),
        "text": email.then_some(&sent.body),
        "lines": lines.iter().map(line).collect::<Vec<_>>(),
        "headers": sent.headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "raw": sent.pretty_body(),
        "html": sent.html,
        "cut": sent.cut,
    })
}

fn line(l: &Line) -> Value {
    match l {
        Line::Text(text) => json!({"text": text}),
        Line::Field { title, value } => json!({"field": true, "title": title, "value": value}),
        // Only a web address becomes a link: a `javascript:` one in CRM data stays text.
        Line::Button { label, url } => {
            let link = url.starts_with("https://") || url.starts_with("http://");
            // Not `url`: that is a helper's name, and handlebars asks helpers first.
            json!({"button": true, "label": label, "address": url, "link": link})
        }
    }
}

/// The readable parts of a JSON message, in order; none for a body that is not JSON.
fn preview(body: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        walk(&v, &mut lines);
    }
    lines
}

/// Text, fields and buttons, wherever Slack's blocks and attachments or an Adaptive Card put
/// them; any other JSON gives whatever `text` it has.
fn walk(v: &Value, out: &mut Vec<Line>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(m) => walk_object(m, out),
        _ => {}
    }
}

fn walk_object(m: &Map<String, Value>, out: &mut Vec<Line>) {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    if matches!(kind, "button" | "Action.OpenUrl") {
        let label = text_of(m.get("text").or(m.get("title")));
        let url = m.get("url").and_then(Value::as_str).unwrap_or_default();
        out.push(Line::Button {
            label,
            url: url.to_string(),
        });
        return;
    }
    for (key, child) in m {
        match (key.as_str(), child) {
            ("text", Value::String(s)) if !s.is_empty() => out.push(Line::Text(s.clone())),
            ("facts" | "fields", Value::Array(items)) => items.iter().for_each(|i| field(i, out)),
            ("fallback" | "channel" | "ts" | "thread_ts", _) => {}
            _ => walk(child, out),
        }
    }
}

/// A Teams fact (`title`, `value`), a Slack attachment field (`title`, `value`) or a Slack
/// section field (a text object).
fn field(v: &Value, out: &mut Vec<Line>) {
    let title = v.get("title").and_then(Value::as_str);
    match (title, v.get("value")) {
        (Some(title), Some(value)) => out.push(Line::Field {
            title: title.to_string(),
            value: text_of(Some(value)),
        }),
        _ => out.push(Line::Field {
            title: String::new(),
            value: text_of(Some(v)),
        }),
    }
}

/// A string, or the `text` of a text object.
fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => text_of(o.get("text")),
        Some(other @ (Value::Number(_) | Value::Bool(_))) => other.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_message_shows_its_text_fields_and_buttons() {
        let body = json!({"text": "Quote ordered", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*ACME* ordered"},
             "fields": [{"type": "mrkdwn", "text": "*Amount* 1200"}]},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://crm.example/q/1"}]}
        ]});
        let lines = preview(&body.to_string());
        assert!(lines.contains(&Line::Text("*ACME* ordered".into())));
        assert!(lines.contains(&Line::Field {
            title: String::new(),
            value: "*Amount* 1200".into()
        }));
        assert!(lines.contains(&Line::Button {
            label: "Open".into(),
            url: "https://crm.example/q/1".into()
        }));
    }

    #[test]
    fn a_teams_card_shows_its_facts_and_actions() {
        let body = json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Quote 7 ordered"},
              {"type": "FactSet", "facts": [{"title": "Customer", "value": "ACME"}]}],
            "actions": [{"type": "Action.OpenUrl", "title": "Open quote", "url": "https://crm.example/q/7"}]}}]});
        let lines = preview(&body.to_string());
        assert_eq!(
            lines,
            vec![
                Line::Text("Quote 7 ordered".into()),
                Line::Field {
                    title: "Customer".into(),
                    value: "ACME".into()
                },
                Line::Button {
                    label: "Open quote".into(),
                    url: "https://crm.example/q/7".into()
                },
            ]
        );
    }

    #[test]
    fn the_page_shows_a_buttons_address_and_links_only_a_web_one() {
        let body = json!({"blocks": [{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://crm.example/q/1"},
            {"type": "button", "text": {"type": "plain_text", "text": "Run"}, "url": "javascript:alert(1)"}
        ]}]});
        let sent = Sent::new(
            "slack",
            "POST https://hooks.slack.com/…".into(),
            body.to_string(),
        );
        let html = super::super::view::render("sent", &shown(&sent, 1)).unwrap();
        assert!(html.contains(r#"href="https://crm.example/q/1""#), "{html}");
        assert!(html.contains("javascript:alert(1)</span>"), "{html}");
        assert!(!html.contains(r#"href="javascript"#), "{html}");
    }

    #[test]
    fn a_body_that_is_not_json_has_no_preview() {
        assert!(preview("plain words").is_empty());
    }
}
