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

/// What preparing a message comes to: a [`Ready`] message, or why there is none now.
pub type Prepared = Result<Ready, NotReady>;

/// Why no message can be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The rule's conditions on enriched fields did not hold, or nobody is left to send to:
    /// nothing to send.
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
    /// What the event is about, when enrichment said more than the event did.
    pub about: Option<String>,
}

/// The message's context: the event, enriched as the action needs, once its rule's conditions
/// on enriched fields hold.
pub async fn context(
    enricher: Option<&Enricher>,
    job: &Job<'_>,
) -> Result<TemplateContext, NotReady> {
    let ctx = enriched(enricher, job).await?;
    if job.rule.is_deferred()
        && let Err(reason) = job.rule.check_deferred(&ctx.value())
    {
        return Err(NotReady::Skip(reason.to_string()));
    }
    Ok(ctx)
}

/// The event, enriched as the action needs (a digest's events: their conditions held when
/// they joined).
pub async fn enriched(
    enricher: Option<&Enricher>,
    job: &Job<'_>,
) -> Result<TemplateContext, NotReady> {
    let (event, action) = (job.event, job.action);
    let mut ctx = TemplateContext::new(event, &job.rule.name, job.received_at);
    match enrich::fill(
        enricher,
        job.on_error,
        event,
        &action.needs,
        &mut ctx,
        job.elapsed,
    )
    .await
    {
        Fill::Done => Ok(ctx),
        Fill::Retry(reason) => Err(NotReady::Retry(reason)),
        Fill::Dead(reason) => Err(NotReady::Refused(reason)),
    }
}

/// Renders the action's template with a context (an event's, or a digest's).
pub fn render(config: &RuleSet, job: &Job<'_>, ctx: &TemplateContext) -> Prepared {
    let rendered = match job.action.template.render(&config.renderer, ctx) {
        Ok(r) => r,
        Err(e) => {
            let what = match &job.action.template_name {
                Some(name) => format!("template `{name}`"),
                None => "the message".to_string(),
            };
            return Err(NotReady::Dead(format!("cannot render {what}: {e}")));
        }
    };
    let recipients = match &job.action.recipients {
        Some(r) => {
            let addressed = r.resolve(&config.renderer, ctx);
            if addressed.is_empty() {
                let reason = format!("no recipient left: {}", addressed.notes_text().join("; "));
                return Err(NotReady::Skip(reason));
            }
            Some(Box::new(addressed))
        }
        None => None,
    };
    Ok(Ready {
        outgoing: Outgoing {
            message: rendered.message,
            event_id: job.event.id().to_string(),
            rule: job.rule.name.clone(),
            recipients,
            conversation: None,
        },
        truncated: rendered.truncated,
        about: None,
    })
}
