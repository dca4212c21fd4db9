//! `herald simulate`: the real matcher and the delivery's own prepare step (enrich, deferred
//! conditions, render) on a saved event; nothing is sent.

mod report;
mod show;
mod talk;

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
use crate::store::{self, Store};
use report::{Addresses, MessageReport, Report, RuleOutcome, RuleReport, Shown};
use std::sync::Arc;

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
    /// The database to read conversations' earlier steps from (read only); by default
    /// herald.db here, if there is one.
    #[arg(long, env = "HERALD_DB", hide_env_values = true, value_name = "URL")]
    pub db: Option<String>,
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
    let store = open_store(args.db.as_deref()).await;
    let ctx = Ctx {
        enricher: enricher.as_ref(),
        store: store.as_deref(),
    };
    let report = simulate(&config, &event, ctx).await;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        show::human(&report)
    };
    write!(out, "{}", config.redactor.redact(&text))?;
    Ok(ExitCode::SUCCESS)
}

/// What simulate reads besides the rules: the SuperOffice API (or saved answers), and the
/// database, for conversations' earlier steps.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub enricher: Option<&'a Enricher>,
    pub store: Option<&'a dyn Store>,
}

/// The database to read conversations from: `--db`, or `herald.db` here if there is one.
async fn open_store(db: Option<&str>) -> Option<Arc<dyn Store>> {
    let url = match db {
        Some(url) => url.to_string(),
        None if std::path::Path::new("herald.db").exists() => "sqlite://herald.db".into(),
        None => return None,
    };
    store::open(&url, store::Mode::Inspect).await.ok()
}

/// What every rule would do with the event.
pub async fn simulate(config: &RuleSet, event: &Event, ctx: Ctx<'_>) -> Report {
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
            Verdict::Match(rule) => (rule, matched(config, event, rule, ctx, received_at).await),
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
    ctx: Ctx<'_>,
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
        let (prepared, when) = match shaped(config, ctx, &job, received_at).await {
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

/// The message as delivery would make it now, and what noise control and its conversation
/// would do with it (in a sentence; `None` for an action with neither).
async fn shaped(
    config: &RuleSet,
    ctx: Ctx<'_>,
    job: &Job<'_>,
    now: Timestamp,
) -> Result<(Prepared, Option<String>), Prepared> {
    let mut context = prepare::context(ctx.enricher, job).await?;
    let talk = talk::converse(config, ctx.store, job.event, job, &mut context).await?;
    let action = job.action;
    if action.noise.is_quiet() {
        return Ok((prepare::render(config, job, &context), talk));
    }
    let plan = noise::plan(config, action, &context, now).map_err(Prepared::Dead)?;
    let (key, end) = match &plan {
        noise::Plan::Digest { key, due, .. } => (key.as_str(), *due),
        _ => ("", now),
    };
    let context = noise::single(action, context, key, now, end);
    let when = [Some(noise::describe(&plan)), talk];
    let when: Vec<String> = when.into_iter().flatten().collect();
    Ok((
        prepare::render(config, job, &context),
        Some(when.join("; then ")),
    ))
}
