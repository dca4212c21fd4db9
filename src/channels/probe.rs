//! A test message: fixed text through a channel's real destination, so that "does the Teams
//! channel work?" has an answer before a quote is ordered. `herald send-test` and the status
//! page's Test buttons both send it; it is never retried and never stored as a delivery.

use jiff::Timestamp;

use super::{Destination, Outgoing};
use crate::config::channel::ChannelSpec;
use crate::event::sample;
use crate::render::Renderer;
use crate::render::context::TemplateContext;
use crate::render::message::MessageTemplate;
use crate::render::recipients::Recipients;
use crate::secret::Redactor;

/// What the test message says; `{{rule.name}}` names the channel, `{{rule.by}}` who sent it.
const TEXT: &str = "Test message from herald: this channel ({{rule.name}}) works. Sent {{rule.by}} at {{received_at}}; no CRM event caused it.";
const SUBJECT: &str = "herald test message for {{rule.name}}";

/// What the destination said to a test message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub ok: bool,
    /// HTTP status or SMTP reply code, when there was one.
    pub status: Option<u16>,
    /// The answer, or the reason it failed, redacted.
    pub detail: String,
    /// Recipients the message went without (email).
    pub notes: Vec<String>,
}

impl Probe {
    /// The status as people read it: the number, or `-`.
    pub fn status_text(&self) -> String {
        self.status.map_or("-".to_string(), |s| s.to_string())
    }
}

/// Sends the test message for channel `name` through `destination`; `by` says who asked
/// ("by `herald send-test`", "from the status page").
pub async fn probe(
    name: &str,
    spec: &ChannelSpec,
    destination: &dyn Destination,
    redactor: &Redactor,
    by: &str,
) -> Probe {
    let outgoing = match message(name, spec, by) {
        Ok(out) => out,
        Err(reason) => {
            return Probe {
                ok: false,
                status: None,
                detail: reason,
                notes: Vec::new(),
            };
        }
    };
    let notes = outgoing
        .recipients
        .iter()
        .flat_map(|r| r.notes_text())
        .collect();
    let (ok, status, detail) = match destination.send(&outgoing).await {
        Ok(done) => (true, done.status, done.detail),
        Err(e) => (false, e.status(), e.to_string()),
    };
    Probe {
        ok,
        status,
        detail: redactor.redact(&detail),
        notes,
    }
}

/// The test message, made for the channel's kind the way an inline `text:` is, with the
/// channel's own recipients for email.
fn message(name: &str, spec: &ChannelSpec, by: &str) -> Result<Outgoing, String> {
    let mut renderer = Renderer::new();
    let any = |_: &str| true;
    let template =
        MessageTemplate::inline(&mut renderer, spec.kind(), TEXT, Some(SUBJECT), &any)
            .map_err(|p| format!("internal error: the test message does not compile: {p:?}"))?;
    let event = sample::event("test");
    let mut ctx = TemplateContext::new(&event, name, Timestamp::now());
    ctx.insert("rule", serde_json::json!({ "name": name, "by": by }));
    let rendered = template
        .render(&renderer, &ctx)
        .map_err(|e| format!("internal error: {e}"))?;
    let recipients = match spec.email() {
        Some(email) => {
            let r = Recipients::compile(
                &mut renderer,
                &email.to,
                &email.cc,
                email.allowed_domains.clone(),
                &any,
            )
            .map_err(|p| format!("the channel's recipients do not compile: {p:?}"))?;
            Some(Box::new(r.resolve(&renderer, &ctx)))
        }
        None => None,
    };
    Ok(Outgoing {
        message: rendered.message,
        event_id: format!("send-test-{}", Timestamp::now().as_millisecond()),
        rule: "send-test".to_string(),
        recipients,
        conversation: None,
    })
}
