//! The one way a message is made from an event and an action: enrich (if the action reads
//! SuperOffice data), check the rule's conditions on enriched fields, render with the
//! configuration in force. Delivery and `herald simulate` both use it, so what simulate shows is
//! what would be sent.

use jiff::Timestamp;

use crate::channels::Outgoing;
use crate::config::superoffice::OnError;
use crate::enrich::{self, Enricher, Fill};
use crate::event::Event;
use crate::render::context::TemplateContext;
use crate::rules::{Action, Rule, RuleSet};

/// One action of one rule, for one event.
pub struct Job<'a> {
    pub event: &'a Event,
    pub rule: &'a Rule,
    pub action: &'a Action,
    pub received_at: Timestamp,
    /// How long this delivery has been trying, for the enrichment's `retry_for` bound.
    pub elapsed: std::time::Duration,
    /// What an API that cannot answer now means: retry (delivery) or send without (simulate).
    pub on_error: Option<OnError>,
}

/// What preparing a message came to.
#[derive(Debug)]
pub enum Prepared {
    Ready(Ready),
    /// The rule's conditions on enriched fields did not hold: nothing to send.
    Skip(String),
    /// The SuperOffice API could not answer now; try again later.
    Retry(String),
    /// The message cannot be made (a template failed on this event's data).
    Dead(String),
    /// The SuperOffice API refused (401, 403): an operator must fix the credentials.
    Refused(String),
}

/// A message ready for its destination, and what was cut to fit the platform's limits.
#[derive(Debug)]
pub struct Ready {
    pub outgoing: Outgoing,
    pub truncated: Vec<String>,
}

pub async fn prepare(config: &RuleSet, enricher: Option<&Enricher>, job: Job<'_>) -> Prepared {
    let Job {
        event,
        rule,
        action,
        received_at,
        elapsed,
        on_error,
    } = job;
    let mut ctx = TemplateContext::new(event, &rule.name, received_at);
    match enrich::fill(enricher, on_error, event, &action.needs, &mut ctx, elapsed).await {
        Fill::Done => {}
        Fill::Retry(reason) => return Prepared::Retry(reason),
        Fill::Dead(reason) => return Prepared::Refused(reason),
    }
    if rule.is_deferred()
        && let Err(reason) = rule.check_deferred(&ctx.value())
    {
        return Prepared::Skip(reason);
    }
    let rendered = match action.template.render(&config.renderer, &ctx) {
        Ok(r) => r,
        Err(e) => return Prepared::Dead(format!("cannot render the message: {e}")),
    };
    Prepared::Ready(Ready {
        outgoing: Outgoing {
            message: rendered.message,
            event_id: event.id().to_string(),
            rule: rule.name.clone(),
            to: action.to.clone(),
        },
        truncated: rendered.truncated,
    })
}
