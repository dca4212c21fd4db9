//! Comparing what the rules made of an event with what a case expects.

use serde_json::Value;

use super::{DeliveryExpect, Expect, Failure};
use crate::render::message::Message;
use crate::simulate::report::{Decision, MessageReport, Report, RuleOutcome};

/// Everything that differs; empty when the case passes.
pub fn compare(report: &Report, expect: &Expect) -> Vec<Failure> {
    let mut failures = errors(report);
    if let Some(matched) = &expect.matched {
        let want: Vec<&str> = matched.iter().map(|n| n.name.as_str()).collect();
        let got = matched_rules(report);
        if want != got {
            failures.push(plain("matched", list(&want), list(&got)));
        }
    }
    let messages = messages(report);
    for wanted in &expect.deliveries {
        failures.extend(delivery(&messages, wanted));
    }
    for channel in &expect.not_delivered {
        if let Some((rule, _)) = messages.iter().find(|(_, m)| m.channel == channel.name) {
            let got = format!("a message from rule `{rule}`");
            failures.push(plain(
                &format!("not_delivered: {}", channel.name),
                "nothing".into(),
                got,
            ));
        }
    }
    failures
}

/// A rule that could not be evaluated (the SuperOffice API refused) always fails the case.
fn errors(report: &Report) -> Vec<Failure> {
    report
        .rules
        .iter()
        .filter_map(|r| match &r.outcome {
            RuleOutcome::Error { reason } => Some(plain(
                &format!("rule {}", r.rule),
                "evaluated".into(),
                format!("error: {reason}"),
            )),
            _ => None,
        })
        .collect()
}

fn matched_rules(report: &Report) -> Vec<&str> {
    report
        .rules
        .iter()
        .filter(|r| matches!(r.outcome, RuleOutcome::Match { .. }))
        .map(|r| r.rule.as_str())
        .collect()
}

/// Every message the matching rules made, with its rule's name.
fn messages(report: &Report) -> Vec<(&str, &MessageReport)> {
    let mut out = Vec::new();
    for rule in &report.rules {
        if let RuleOutcome::Match { messages } = &rule.outcome {
            out.extend(messages.iter().map(|m| (rule.rule.as_str(), m)));
        }
    }
    out
}

/// The expected message: passes when one message to the channel (of the template, if named)
/// meets every check; otherwise the first one's differences.
fn delivery(messages: &[(&str, &MessageReport)], wanted: &DeliveryExpect) -> Vec<Failure> {
    let name = &wanted.channel.name;
    let candidates: Vec<&MessageReport> = messages
        .iter()
        .map(|(_, m)| *m)
        .filter(|m| &m.channel == name)
        .filter(|m| wanted.template.is_none() || m.template == wanted.template)
        .collect();
    if candidates.is_empty() {
        let went: Vec<String> = messages
            .iter()
            .map(|(_, m)| match &m.template {
                Some(t) => format!("{} (template {t})", m.channel),
                None => format!("{} (inline text)", m.channel),
            })
            .collect();
        let template = match &wanted.template {
            Some(t) => format!(" (template {t})"),
            None => String::new(),
        };
        let got = match went.is_empty() {
            true => "no message to any channel".to_string(),
            false => format!("messages to {} only", went.join(", ")),
        };
        return vec![plain(name, format!("a message{template}"), got)];
    }
    let mut first = None;
    for m in candidates {
        let failures = checks(m, wanted);
        if failures.is_empty() {
            return Vec::new();
        }
        first.get_or_insert(failures);
    }
    first.unwrap_or_default()
}

fn checks(m: &MessageReport, wanted: &DeliveryExpect) -> Vec<Failure> {
    let name = &wanted.channel.name;
    let mut failures = Vec::new();
    let decision = m.decision.unwrap_or(Decision::Now);
    if let Some(want) = wanted.decision
        && want != decision
    {
        let got = m.when.clone().unwrap_or_else(|| decision.as_str().into());
        failures.push(plain(
            &format!("{name}: decision"),
            want.as_str().into(),
            got,
        ));
    }
    let Some(shown) = &m.message else {
        let got = m.error.clone().unwrap_or_else(|| "no message".into());
        failures.push(plain(name, "a message".into(), got));
        return failures;
    };
    let message = &shown.message;
    let text = leaves(message);
    for s in &wanted.contains {
        if !text.contains(s.as_str()) {
            failures.push(plain(&format!("{name}: contains"), quoted(s), text.clone()));
        }
    }
    for s in &wanted.not_contains {
        if text.contains(s.as_str()) {
            failures.push(plain(
                &format!("{name}: not_contains"),
                quoted(s),
                text.clone(),
            ));
        }
    }
    for (pointer, want) in &wanted.json {
        failures.extend(pointed(name, message, pointer, want));
    }
    if let Some(want) = &wanted.subject {
        failures.extend(subject(name, message, want));
    }
    failures
}

fn pointed(name: &str, message: &Message, pointer: &str, want: &Value) -> Option<Failure> {
    let what = format!("{name}: json {pointer}");
    let body = match message {
        Message::Slack { body } | Message::Teams { body } | Message::Webhook { body } => body,
        Message::Email(_) => {
            return Some(plain(&what, "a JSON body".into(), "an email".into()));
        }
    };
    match body.pointer(pointer) {
        Some(got) if got == want => None,
        Some(got) => Some(values(&what, want, got)),
        None => Some(plain(&what, json(want), "nothing at that pointer".into())),
    }
}

fn subject(name: &str, message: &Message, want: &str) -> Option<Failure> {
    let what = format!("{name}: subject");
    match message {
        Message::Email(email) if email.subject == want => None,
        Message::Email(email) => Some(texts(&what, want, &email.subject)),
        _ => Some(plain(&what, quoted(want), "not an email".into())),
    }
}

/// What a reader of the message sees: every string in a JSON body, or an email's subject,
/// text and HTML, one per line.
pub fn leaves(message: &Message) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    match message {
        Message::Slack { body } | Message::Teams { body } | Message::Webhook { body } => {
            let mut out = Vec::new();
            walk(body, &mut out);
            out.join("\n")
        }
        Message::Email(e) => [e.subject.as_str(), &e.text, &e.html].join("\n"),
    }
}

fn values(what: &str, want: &Value, got: &Value) -> Failure {
    match (want, got) {
        (Value::String(w), Value::String(g)) => texts(what, w, g),
        _ => plain(what, json(want), json(got)),
    }
}

/// Two texts, with a unified diff.
fn texts(what: &str, want: &str, got: &str) -> Failure {
    let diff = similar::TextDiff::from_lines(want, got)
        .unified_diff()
        .missing_newline_hint(false)
        .header("expected", "got")
        .to_string();
    Failure {
        what: what.into(),
        expected: quoted(want),
        got: quoted(got),
        diff: Some(diff),
    }
}

fn plain(what: &str, expected: String, got: String) -> Failure {
    Failure {
        what: what.into(),
        expected,
        got,
        diff: None,
    }
}

fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn list(names: &[&str]) -> String {
    format!("[{}]", names.join(", "))
}
