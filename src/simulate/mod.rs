//! What the rules would do with an event, sending nothing: the real matcher and delivery's own
//! prepare step (enrich, deferred conditions, render), then what noise control and a
//! conversation would do. `herald simulate` prints it; `herald test` compares it with what a
//! test case expects.

pub mod report;
mod talk;

use std::time::Duration;

use jiff::Timestamp;

use crate::config::superoffice::OnError;
use crate::delivery::noise;
use crate::delivery::prepare::{self, Job, NotReady, Prepared};
use crate::enrich::Enricher;
use crate::event::Event;
use crate::rules::{Rule, RuleSet, Verdict};
use crate::store::Store;
use report::{Addresses, Decision, MessageReport, Report, RuleOutcome, RuleReport, Shown};

/// What simulate reads besides the rules: the SuperOffice API (or saved answers), and the
/// database, for conversations' earlier steps.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub enricher: Option<&'a Enricher>,
    pub store: Option<&'a dyn Store>,
    /// The time the messages are made at: now, or a test case's `at:`.
    pub now: Timestamp,
}

/// What every rule would do with the event.
pub async fn simulate(config: &RuleSet, event: &Event, ctx: Ctx<'_>) -> Report {
    let received_at = ctx.now;
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
        let shaped = match shaped(config, ctx, &job, received_at).await {
            Ok(shaped) => shaped,
            Err(stop) => Shaped {
                prepared: Err(stop),
                when: None,
                decision: None,
            },
        };
        let (shown, truncated, error) = match shaped.prepared {
            Ok(ready) => {
                let addresses = Addresses::of(config, action, &ready.outgoing);
                let shown = Shown {
                    message: ready.outgoing.message,
                    addresses,
                };
                (Some(shown), ready.truncated, None)
            }
            Err(NotReady::Dead(reason)) => (None, Vec::new(), Some(reason)),
            Err(NotReady::Skip(reason)) => {
                return RuleOutcome::NoMatch {
                    reason: format!("{reason} (after enrichment)"),
                };
            }
            Err(NotReady::Refused(reason) | NotReady::Retry(reason)) => {
                return RuleOutcome::Error { reason };
            }
        };
        messages.push(MessageReport {
            channel: action.channel.clone(),
            kind,
            template: action.template_name.clone(),
            message: shown,
            truncated,
            error,
            when: shaped.when,
            decision: shaped.decision,
        });
    }
    RuleOutcome::Match { messages }
}

/// A message as delivery would make it now, and what noise control and its conversation
/// would do with it.
struct Shaped {
    prepared: Prepared,
    /// In a sentence; `None` for an action with neither noise control nor a conversation.
    when: Option<String>,
    decision: Option<Decision>,
}

async fn shaped(
    config: &RuleSet,
    ctx: Ctx<'_>,
    job: &Job<'_>,
    now: Timestamp,
) -> Result<Shaped, NotReady> {
    let mut context = prepare::context(ctx.enricher, job).await?;
    let millis = now.as_millisecond();
    let talk = talk::converse(config, ctx.store, millis, job.event, job, &mut context).await?;
    let action = job.action;
    if action.noise.is_quiet() {
        let prepared = prepare::render(config, job, &context);
        return Ok(Shaped {
            prepared,
            when: talk,
            decision: None,
        });
    }
    let plan = noise::plan(config, action, &context, now)
        .map_err(|e| NotReady::Dead(crate::text::causes(&e)))?;
    let (key, end, decision) = match &plan {
        noise::Plan::Digest { key, due, .. } => (key.as_str(), *due, Decision::Digest),
        noise::Plan::Hold { .. } => ("", now, Decision::Held),
        noise::Plan::Now => ("", now, Decision::Now),
    };
    let context = noise::single(action, context, key, now, end);
    let when = [Some(noise::describe(&plan)), talk];
    let when: Vec<String> = when.into_iter().flatten().collect();
    Ok(Shaped {
        prepared: prepare::render(config, job, &context),
        when: Some(when.join("; then ")),
        decision: Some(decision),
    })
}
