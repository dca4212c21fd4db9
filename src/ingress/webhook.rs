//! `POST /webhook`: verify, parse, match, store, answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tracing::{info, warn};

use super::body::verified_body;
use super::error::refused;
use super::{AppState, IngressError};
use crate::event::Event;
use crate::metrics::RuleLabels;
use crate::rules::{Rule, RuleSet};
use crate::store::{Accepted, NewEvent, millis};

pub(super) async fn webhook(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngressError> {
    let verified = verified_body(&app, &headers, body)
        .await
        .inspect_err(|e| refused(&app, peer, e))?;
    let received_at = Timestamp::now();
    let event = Event::parse(verified.bytes())
        .map_err(IngressError::from)
        .inspect_err(|e| refused(&app, peer, e))?;
    if event.is_test() {
        app.metrics.event(event.name(), "test");
        info!(
            event_id = event.id(),
            event = event.name(),
            outcome = "test",
            "received the registration test event"
        );
        return Ok((StatusCode::OK, "test event received\n").into_response());
    }
    if crate::subscription::is_state_change(event.name()) {
        app.superoffice_look.notify_one();
    }
    not_behind(&app, &event)?;
    let config = app.live.config();
    let matched = rules_for(&config, &event);
    let body: Arc<str> = String::from_utf8_lossy(verified.bytes()).into();
    let record = record(&app, &event, &matched, body, received_at, &headers);
    let count = record.deliveries.len();
    let stored = app.dispatcher.accept(&config, record).await;
    answered(&app, &event, &matched, count, stored)
}

/// With `--max-backlog`, a 503 while more deliveries wait than it allows.
fn not_behind(app: &AppState, event: &Event) -> Result<(), IngressError> {
    let Some((waiting, max)) = app.dispatcher.behind() else {
        return Ok(());
    };
    let e = IngressError::Behind { waiting, max };
    let outcome = e.outcome();
    app.metrics.event(event.name(), outcome);
    if let Some(suppressed) = app.rejected_log.allow() {
        warn!(
            event_id = event.id(),
            event = event.name(),
            outcome,
            suppressed,
            "{e}; answering 503 so SuperOffice retries"
        );
    }
    Err(e)
}

/// The rules an event from outside matches; none for one named like herald's own events,
/// which only herald raises (it is kept, not sent).
fn rules_for<'c>(config: &'c RuleSet, event: &Event) -> Vec<&'c Rule> {
    if !crate::event::catalog::is_herald_event(event.name()) {
        return config.matching(event);
    }
    warn!(
        event_id = event.id(),
        event = event.name(),
        "an event named herald.* came to /webhook: herald's own events are raised only by herald; stored, not delivered"
    );
    Vec::new()
}

/// What storing the event came to, as the answer to SuperOffice.
fn answered(
    app: &AppState,
    event: &Event,
    matched: &[&Rule],
    count: usize,
    stored: crate::store::Result<Accepted>,
) -> Result<Response, IngressError> {
    match stored {
        Ok(Accepted::Duplicate) => Ok(answer(
            app,
            event,
            "duplicate",
            "event already received",
            "duplicate event ignored",
        )),
        Ok(Accepted::Stored(_)) if count == 0 => Ok(answer(
            app,
            event,
            "unmatched",
            "no rule matched",
            "no rule matched",
        )),
        Ok(Accepted::Stored(_)) => Ok(accepted(app, event, matched, count)),
        Err(e) => {
            app.metrics.event(event.name(), "rejected_by_store");
            let said = "cannot store the event; answering 503 so SuperOffice retries";
            // A database file gone from under herald needs a person; a busy one does not.
            if matches!(e, crate::store::StoreError::Replaced(_)) {
                tracing::error!(event_id = event.id(), event = event.name(), outcome = "rejected_by_store", error = %e, "{said}");
            } else {
                warn!(event_id = event.id(), event = event.name(), outcome = "rejected_by_store", error = %e, "{said}");
            }
            Err(e.into())
        }
    }
}

/// A 200 for an event stored with its deliveries, counted and logged.
fn accepted(app: &AppState, event: &Event, matched: &[&Rule], count: usize) -> Response {
    for rule in matched {
        let labels = RuleLabels {
            rule: rule.name.clone(),
        };
        app.metrics.rule_matches.get_or_create(&labels).inc();
    }
    app.metrics.event(event.name(), "accepted");
    info!(
        event_id = event.id(),
        event = event.name(),
        outcome = "accepted",
        deliveries = count,
        "event accepted"
    );
    let deliveries = crate::text::count(count, "delivery", "deliveries");
    (StatusCode::OK, format!("accepted: {deliveries}\n")).into_response()
}

/// A 200 that delivers nothing, counted and logged.
fn answer(app: &AppState, event: &Event, outcome: &'static str, log: &str, text: &str) -> Response {
    app.metrics.event(event.name(), outcome);
    info!(
        event_id = event.id(),
        event = event.name(),
        outcome,
        "{log}"
    );
    (StatusCode::OK, format!("{text}\n")).into_response()
}

/// The event to store, with one delivery per action of each matched rule.
fn record(
    app: &AppState,
    event: &Event,
    matched: &[&Rule],
    body: Arc<str>,
    received_at: Timestamp,
    headers: &HeaderMap,
) -> NewEvent {
    let window = millis(app.dedup_window);
    let kept = Some(kept_headers(headers));
    crate::delivery::planned_with_headers(event, matched, body, received_at, window, kept)
}

/// The headers the status page shows: what SuperOffice says of the event, and who sent it.
/// Custom headers configured on the webhook are left out: they may carry credentials.
fn kept_headers(headers: &HeaderMap) -> String {
    const KEPT: &[&str] = &[
        "x-superoffice-event",
        "x-superoffice-eventid",
        "x-superoffice-retry",
        "x-superoffice-signature",
        "x-hook-test",
        "user-agent",
        "content-type",
        "content-length",
    ];
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(name, _)| KEPT.contains(&name.as_str()))
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes());
            (
                name.to_string(),
                crate::text::truncate_chars(&text, 256).into(),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}
