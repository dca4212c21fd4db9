//! `/ui/try`: paste an event's JSON (or start from a stored event) and see what `simulate`
//! shows: each rule's verdict and reason, each message rendered for its destination, what
//! noise control and conversations would do. Nothing is sent and nothing is stored; the
//! SuperOffice API is read as `simulate` reads it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::checked::Checked;
use super::{csrf_token, view};
use crate::channels::sent::Sent;
use crate::event::Event;
use crate::ingress::AppState;
use crate::render::message::Message;
use crate::simulate::report::{MessageReport, Report, RuleOutcome};
use crate::simulate::{Ctx, simulate};

type Fields = BTreeMap<String, String>;

/// The form, empty or with a stored event (`?from=EVENT_ID`) to start from.
pub(super) async fn form(State(app): State<Arc<AppState>>, Query(q): Query<Fields>) -> Response {
    let text = match q.get("from") {
        Some(id) => match app.store.event(id.clone()).await {
            Ok(Some(detail)) => crate::text::json::pretty(&detail.body),
            Ok(None) => return view::refused(StatusCode::NOT_FOUND, "No such event in the store."),
            Err(e) => {
                let said = format!("The store cannot answer: {e}");
                return view::refused(StatusCode::SERVICE_UNAVAILABLE, &said);
            }
        },
        None => {
            serde_json::to_string_pretty(crate::event::sample::event("quote.ordered").as_value())
                .unwrap_or_default()
        }
    };
    page(&app, &text, None, None)
}

/// The rules' verdicts and messages for the pasted event.
pub(super) async fn run(State(app): State<Arc<AppState>>, Checked(form): Checked) -> Response {
    let text = form.get("event").cloned().unwrap_or_default();
    let event = match Event::parse(text.as_bytes()) {
        Ok(event) => event,
        Err(e) => {
            let problem = format!("This is not an event herald can read: {e}");
            return page(&app, &text, Some(problem), None);
        }
    };
    let runtime = app.live.get();
    let ctx = Ctx {
        enricher: runtime.enricher.as_deref(),
        store: Some(app.store.as_ref()),
        now: jiff::Timestamp::now(),
    };
    let report = simulate(&runtime.config, &event, ctx).await;
    page(&app, &text, None, Some(&report))
}

fn page(app: &AppState, text: &str, problem: Option<String>, report: Option<&Report>) -> Response {
    let data = json!({
        "title": "Try an event",
        "text": text,
        "problem": problem,
        "csrf": csrf_token(app),
        "report": report.map(shown_report),
    });
    view::page("try", &data)
}

fn shown_report(report: &Report) -> Value {
    let rules: Vec<Value> = report
        .rules
        .iter()
        .map(|r| match &r.outcome {
            RuleOutcome::Match { messages } => json!({
                "rule": r.rule, "matched": true, "verdict": "matched",
                "messages": messages.iter().map(message).collect::<Vec<_>>(),
            }),
            RuleOutcome::NoMatch { reason } => {
                json!({"rule": r.rule, "verdict": format!("no match: {reason}")})
            }
            RuleOutcome::NotEvaluated { reason } => {
                json!({"rule": r.rule, "verdict": format!("not evaluated: {reason}")})
            }
            RuleOutcome::Error { reason } => {
                json!({"rule": r.rule, "failed": true, "verdict": format!("error: {reason}")})
            }
        })
        .collect();
    json!({"event": report.event.name, "event_id": report.event.id, "rules": rules})
}

/// One message as it would be sent, shown as the event page shows what was sent.
fn message(m: &MessageReport) -> Value {
    let sent = m.message.as_ref().map(|shown| {
        let mut sent = match &shown.message {
            Message::Slack { body } | Message::Teams { body } | Message::Webhook { body } => {
                Sent::new(m.kind, String::new(), body.to_string())
            }
            Message::Email(mail) => {
                let mut sent = Sent::new(m.kind, String::new(), mail.text.clone());
                sent.header("Subject", &mail.subject);
                sent.html = Some(mail.html.clone());
                sent
            }
        };
        if let Some(a) = &shown.addresses {
            sent.header("From", &a.from);
            sent.header("To", &a.to.join(", "));
            if !a.cc.is_empty() {
                sent.header("Cc", &a.cc.join(", "));
            }
        }
        super::sent::shown(&sent, 0)
    });
    json!({
        "channel": m.channel,
        "kind": m.kind,
        "template": m.template,
        "when": m.when,
        "decision": m.decision.map(|d| d.as_str()),
        "error": m.error,
        "truncated": m.truncated,
        "skipped": m.message.as_ref().and_then(|s| s.addresses.as_ref()).map(|a| &a.skipped),
        "sent": sent,
    })
}
