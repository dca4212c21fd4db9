//! `herald simulate`: the real matcher and the delivery's own prepare step (enrich, deferred
//! conditions, render) on a saved event; nothing is sent.

mod report;
mod show;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;

use crate::config::superoffice::OnError;
use crate::delivery::noise;
use crate::delivery::prepare::{self, Job, Prepared};
use crate::enrich::Enricher;
use crate::enrich::api::Api;
use crate::event::Event;
use crate::rules::{Rule, RuleSet, Verdict};
use report::{Addresses, MessageReport, Report, RuleOutcome, RuleReport, Shown};

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
    let config = match args.rules.source().load() {
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
        let api = match &args.api_responses {
            Some(dir) => Api::from_files(so, dir.clone()),
            None => Api::new(so, crate::http::client()),
        };
        Enricher::new(api, config.redactor.clone())
    });
    let report = simulate(&config, &event, enricher.as_ref()).await;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        show::human(&report)
    };
    write!(out, "{}", config.redactor.redact(&text))?;
    Ok(ExitCode::SUCCESS)
}

/// What every rule would do with the event.
pub async fn simulate(config: &RuleSet, event: &Event, enricher: Option<&Enricher>) -> Report {
    let received_at = Timestamp::now();
    let mut rules = Vec::new();
    for verdict in config.evaluate(event) {
        let (rule, outcome) = match verdict {
            Verdict::Match(rule) if event.is_test() => (
                rule,
                RuleOutcome::NoMatch {
                    reason: "the registration test event is answered 200 and never delivered"
                        .into(),
                },
            ),
            Verdict::NoMatch { rule, reason } => (rule, RuleOutcome::NoMatch { reason }),
            Verdict::Stopped { rule, by } => (
                rule,
                RuleOutcome::NotEvaluated {
                    reason: format!("rule `{by}` matched first and has stop: true"),
                },
            ),
            Verdict::Match(rule) => (
                rule,
                matched(config, event, rule, enricher, received_at).await,
            ),
        };
        rules.push(RuleReport {
            rule: rule.name.clone(),
            outcome,
        });
    }
    Report::new(event, rules)
}

/// A matching rule: each action prepared exactly as delivery would, with API answers that
/// cannot be had now treated as "send without" (there is nobody to retry for).
async fn matched(
    config: &RuleSet,
    event: &Event,
    rule: &Rule,
    enricher: Option<&Enricher>,
    received_at: Timestamp,
) -> RuleOutcome {
    let mut messages = Vec::new();
    for action in &rule.notify {
        let job = Job {
            event,
            rule,
            action,
            received_at,
            elapsed: Duration::ZERO,
            on_error: Some(OnError::SendWithout),
        };
        let kind = config.channels[&action.channel].kind().as_str();
        let (prepared, when) = match shaped(config, enricher, &job, received_at).await {
            Ok(shaped) => shaped,
            Err(stop) => (stop, None),
        };
        let (shown, truncated, error) = match prepared {
            Prepared::Ready(ready) => {
                let addresses = Addresses::of(config, action);
                let shown = Shown {
                    message: ready.outgoing.message,
                    addresses,
                };
                (Some(shown), ready.truncated, None)
            }
            Prepared::Dead(reason) => (None, Vec::new(), Some(reason)),
            Prepared::Skip(reason) => {
                return RuleOutcome::NoMatch {
                    reason: format!("{reason} (after enrichment)"),
                };
            }
            Prepared::Refused(reason) | Prepared::Retry(reason) => {
                return RuleOutcome::Error { reason };
            }
        };
        messages.push(MessageReport {
            channel: action.channel.clone(),
            kind,
            message: shown,
            truncated,
            error,
            when,
        });
    }
    RuleOutcome::Match { messages }
}

/// The message as delivery would make it now, and what noise control would do with it (in a
/// sentence; `None` for an action without `digest:`, `throttle:` or `active_hours:`).
async fn shaped(
    config: &RuleSet,
    enricher: Option<&Enricher>,
    job: &Job<'_>,
    now: Timestamp,
) -> Result<(Prepared, Option<String>), Prepared> {
    let ctx = prepare::context(enricher, job).await?;
    let action = job.action;
    if action.noise.is_quiet() {
        return Ok((prepare::render(config, job, &ctx), None));
    }
    let plan = noise::plan(config, action, &ctx, now).map_err(Prepared::Dead)?;
    let (key, end) = match &plan {
        noise::Plan::Digest { key, due, .. } => (key.as_str(), *due),
        _ => ("", now),
    };
    let ctx = noise::single(action, ctx, key, now, end);
    Ok((
        prepare::render(config, job, &ctx),
        Some(noise::describe(&plan)),
    ))
}
