//! `herald simulate`: the real matcher and renderer on a saved event; nothing is sent.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use jiff::Timestamp;
use serde_json::{Value, json};

use std::time::Duration;

use crate::config::names::Needs;
use crate::config::superoffice::OnError;
use crate::enrich::api::Api;
use crate::enrich::{self, Enricher, Fill};
use crate::event::Event;
use crate::render::context::TemplateContext;
use crate::render::message::Message;
use crate::rules::{self, RuleSet, Verdict};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A saved event (JSON), as SuperOffice sends it.
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    #[command(flatten)]
    pub rules: super::RulesArg,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Read SuperOffice API answers from this folder instead of the network
    /// (DIR/Agents/Quote/GetQuoteEntity/ID.json, DIR/Sale/ID.json...): try rules offline.
    #[arg(long, value_name = "DIR")]
    pub api_responses: Option<PathBuf>,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = match rules::load(&args.rules.rules) {
        Ok(c) => c,
        Err(problems) => {
            writeln!(out, "{problems}")?;
            writeln!(
                out,
                "{}: fix these first (herald check)",
                args.rules.rules.display()
            )?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let bytes = std::fs::read(&args.event)
        .with_context(|| format!("cannot read {}", args.event.display()))?;
    let event = Event::parse(&bytes)
        .with_context(|| format!("{} is not a webhook event", args.event.display()))?;
    let enricher = config.superoffice.clone().map(|so| {
        Enricher::new(
            match &args.api_responses {
                Some(dir) => Api::from_files(so, dir.clone()),
                None => Api::new(so, crate::http::client()),
            },
            config.redactor.clone(),
        )
    });
    let report = simulate(&config, &event, enricher.as_ref()).await;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        human(&report)
    };
    write!(out, "{}", config.redactor.redact(&text))?;
    Ok(ExitCode::SUCCESS)
}

/// The whole simulation as JSON: the event, then each rule's verdict and messages.
pub async fn simulate(config: &RuleSet, event: &Event, enricher: Option<&Enricher>) -> Value {
    let received_at = Timestamp::now();
    let mut rules = Vec::new();
    for verdict in config.evaluate(event) {
        // One context per rule, enriched with everything its conditions and actions read.
        let mut enriched = None;
        if let (Verdict::Match(rule), false) = (&verdict, event.is_test()) {
            let mut ctx = TemplateContext::new(event, &rule.name, received_at);
            let needs = rule
                .notify
                .iter()
                .fold(Needs::default(), |n, a| n.union(&a.needs));
            let fill = enrich::fill(
                enricher,
                Some(OnError::SendWithout),
                event,
                &needs,
                &mut ctx,
                Duration::ZERO,
            )
            .await;
            if let Fill::Dead(reason) = fill {
                rules.push(json!({"rule": rule.name, "outcome": "error", "reason": reason}));
                continue;
            }
            if let Err(reason) = rule.check_deferred(&ctx.value()) {
                rules.push(json!({"rule": rule.name, "outcome": "no_match", "reason": format!("{reason} (after enrichment)")}));
                continue;
            }
            enriched = Some(ctx);
        }
        rules.push(match verdict {
            _ if event.is_test() => json!({
                "rule": verdict_rule(&verdict), "outcome": "no_match",
                "reason": "the registration test event is answered 200 and never delivered",
            }),
            Verdict::Match(rule) => {
                let ctx = enriched.take().expect("enriched above");
                let messages: Vec<Value> = rule
                    .notify
                    .iter()
                    .map(|action| {
                        let spec = &config.channels[&action.channel];
                        let mut entry =
                            json!({"channel": action.channel, "kind": spec.kind().as_str()});
                        match action.template.render(&config.renderer, &ctx) {
                            Ok(rendered) => {
                                let mut message = serde_json::to_value(&rendered.message)
                                    .expect("messages serialize");
                                if let (Message::Email(_), Some(email)) =
                                    (&rendered.message, spec.email())
                                {
                                    let to = action.to.as_ref().unwrap_or(&email.to);
                                    message["from"] = json!(email.from.to_string());
                                    message["to"] =
                                        json!(to.iter().map(|m| m.to_string()).collect::<Vec<_>>());
                                    if !email.cc.is_empty() {
                                        message["cc"] = json!(
                                            email
                                                .cc
                                                .iter()
                                                .map(|m| m.to_string())
                                                .collect::<Vec<_>>()
                                        );
                                    }
                                }
                                entry["message"] = message;
                                if !rendered.truncated.is_empty() {
                                    entry["truncated"] = json!(rendered.truncated);
                                }
                            }
                            Err(e) => entry["error"] = json!(e.to_string()),
                        }
                        entry
                    })
                    .collect();
                json!({"rule": rule.name, "outcome": "match", "messages": messages})
            }
            Verdict::NoMatch { rule, reason } => {
                json!({"rule": rule.name, "outcome": "no_match", "reason": reason})
            }
            Verdict::Stopped { rule, by } => json!({
                "rule": rule.name, "outcome": "not_evaluated",
                "reason": format!("rule `{by}` matched first and has stop: true"),
            }),
        });
    }
    json!({"event": {"id": event.id(), "name": event.name()}, "rules": rules})
}

fn verdict_rule<'a>(v: &Verdict<'a>) -> &'a str {
    match v {
        Verdict::Match(rule) | Verdict::NoMatch { rule, .. } | Verdict::Stopped { rule, .. } => {
            &rule.name
        }
    }
}

fn human(report: &Value) -> String {
    let mut s = format!(
        "event {} ({})\n",
        report["event"]["name"].as_str().unwrap_or(""),
        report["event"]["id"].as_str().unwrap_or("")
    );
    for rule in report["rules"].as_array().into_iter().flatten() {
        let name = rule["rule"].as_str().unwrap_or("");
        match rule["outcome"].as_str() {
            Some("match") => {
                s += &format!("\nMATCH     {name}\n");
                for m in rule["messages"].as_array().into_iter().flatten() {
                    s += &format!(
                        "  -> {} ({})\n",
                        m["channel"].as_str().unwrap_or(""),
                        m["kind"].as_str().unwrap_or("")
                    );
                    if let Some(err) = m["error"].as_str() {
                        s += &format!("     RENDER ERROR: {err}\n");
                        continue;
                    }
                    for note in m["truncated"].as_array().into_iter().flatten() {
                        s += &format!("     note: {}\n", note.as_str().unwrap_or(""));
                    }
                    s += &indent(&message_text(&m["message"]), 5);
                }
            }
            Some("error") => {
                s += &format!(
                    "\nERROR     {name}: {}\n",
                    rule["reason"].as_str().unwrap_or("")
                )
            }
            Some("no_match") => {
                s += &format!(
                    "\nNO MATCH  {name}: {}\n",
                    rule["reason"].as_str().unwrap_or("")
                )
            }
            _ => {
                s += &format!(
                    "\nSKIPPED   {name}: {}\n",
                    rule["reason"].as_str().unwrap_or("")
                )
            }
        }
    }
    s
}

fn message_text(m: &Value) -> String {
    if m["kind"] == "email" {
        let list = |v: &Value| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let mut s = format!(
            "From: {}\nTo: {}\n",
            m["from"].as_str().unwrap_or(""),
            list(&m["to"])
        );
        if m.get("cc").is_some() {
            s += &format!("Cc: {}\n", list(&m["cc"]));
        }
        s += &format!(
            "Subject: {}\n--- text/plain ---\n{}\n--- text/html ---\n{}\n",
            m["subject"].as_str().unwrap_or(""),
            m["text"].as_str().unwrap_or(""),
            m["html"].as_str().unwrap_or("")
        );
        s
    } else {
        serde_json::to_string_pretty(&m["body"]).unwrap_or_default() + "\n"
    }
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}
