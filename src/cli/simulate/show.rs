//! `simulate`'s human form: MATCH / NO MATCH / SKIPPED per rule, and each message as the
//! destination would receive it.

use crate::render::message::Message;
use crate::simulate::report::{MessageReport, Report, RuleOutcome, Shown};

pub fn human(report: &Report) -> String {
    let mut s = format!("event {} ({})\n", report.event.name, report.event.id);
    for rule in &report.rules {
        let name = &rule.rule;
        match &rule.outcome {
            RuleOutcome::Match { messages } => {
                s += &format!("\nMATCH     {name}\n");
                for m in messages {
                    s += &message(m);
                }
            }
            RuleOutcome::Error { reason } => s += &format!("\nERROR     {name}: {reason}\n"),
            RuleOutcome::NoMatch { reason } => s += &format!("\nNO MATCH  {name}: {reason}\n"),
            RuleOutcome::NotEvaluated { reason } => s += &format!("\nSKIPPED   {name}: {reason}\n"),
        }
    }
    s
}

fn message(m: &MessageReport) -> String {
    let mut s = format!("  -> {} ({})\n", m.channel, m.kind);
    if let Some(when) = &m.when {
        s += &format!("     {when}\n");
    }
    if let Some(err) = &m.error {
        s += &format!("     RENDER ERROR: {err}\n");
        return s;
    }
    for note in &m.truncated {
        s += &format!("     note: {note}\n");
    }
    if let Some(shown) = &m.message {
        s += &indent(&body(shown), 5);
    }
    s
}

fn body(shown: &Shown) -> String {
    match &shown.message {
        Message::Email(e) => {
            let mut s = String::new();
            if let Some(a) = &shown.addresses {
                s += &format!("From: {}\nTo: {}\n", a.from, a.to.join(", "));
                if !a.cc.is_empty() {
                    s += &format!("Cc: {}\n", a.cc.join(", "));
                }
                for note in &a.skipped {
                    s += &format!("({note})\n");
                }
            }
            s + &format!(
                "Subject: {}\n--- text/plain ---\n{}\n--- text/html ---\n{}\n",
                e.subject, e.text, e.html
            )
        }
        Message::Slack { body } | Message::Teams { body } | Message::Webhook { body } => {
            serde_json::to_string_pretty(body).unwrap_or_default() + "\n"
        }
    }
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}
