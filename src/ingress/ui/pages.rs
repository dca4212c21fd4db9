//! The pages that show what the store holds: events (filtered, a page at a time), one event
//! with the rules' verdicts and every attempt, deliveries by state and channel, and the rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::view::{self, time};
use crate::channels::sent::Sent;
use crate::event::Event;
use crate::ingress::AppState;
use crate::metrics::RuleLabels;
use crate::rules::Verdict;
use crate::store::{
    AttemptRow, DeliveryFilter, DeliveryRow, DeliveryStatus, EventFilter, EventRow,
};

/// Rows a page shows.
const PAGE: u32 = 50;

type Params = Query<BTreeMap<String, String>>;

fn param<'p>(p: &'p BTreeMap<String, String>, key: &str) -> Option<&'p str> {
    p.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

pub(super) async fn events(State(app): State<Arc<AppState>>, Query(p): Params) -> Response {
    let (filter, problem) = event_filter(&p);
    let rows = app.store.events(filter.clone()).await.unwrap_or_default();
    let next = (rows.len() == PAGE as usize)
        .then(|| rows.last())
        .flatten()
        .map(|last| next_link(&p, &format!("{}:{}", last.received_at, last.event_id)));
    let config = app.live.config();
    let mut types: Vec<&str> = config
        .rules
        .iter()
        .flat_map(|r| r.events.iter().map(String::as_str))
        .filter(|e| !e.contains('*'))
        .collect();
    types.sort();
    types.dedup();
    let selected =
        |name: &str, key: &str| json!({"name": name, "selected": param(&p, key) == Some(name)});
    let data = json!({
        "events": rows.iter().map(event_line).collect::<Vec<_>>(),
        "types": types.iter().map(|t| selected(t, "type")).collect::<Vec<_>>(),
        "states": DeliveryStatus::ALL.iter().map(|s| selected(s.as_str(), "state")).collect::<Vec<_>>(),
        "q": param(&p, "q"), "since": param(&p, "since"), "until": param(&p, "until"),
        "problem": problem,
        "next": next,
    });
    view::page("events", &data)
}

/// The filter the query asks for, and what in it could not be read.
fn event_filter(p: &BTreeMap<String, String>) -> (EventFilter, Option<String>) {
    let mut problem = None;
    let mut at = |key: &str| {
        let text = param(p, key)?;
        match crate::event::time::parse(text) {
            Some(t) => Some(t.as_millisecond()),
            None => {
                problem = Some(format!(
                    "`{text}` is not a time: write it like 2026-11-29T08:00:00Z"
                ));
                None
            }
        }
    };
    let since = at("since");
    let until = at("until");
    let before = param(p, "before")
        .and_then(|b| b.split_once(':'))
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_string())));
    let filter = EventFilter {
        limit: PAGE,
        event_type: param(p, "type").map(str::to_string),
        search: param(p, "q").map(str::to_string),
        state: param(p, "state").and_then(|s| s.parse().ok()),
        since,
        until,
        before,
    };
    (filter, problem)
}

/// The same query, older than `cursor`.
fn next_link(p: &BTreeMap<String, String>, cursor: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in p.iter().filter(|(k, _)| k.as_str() != "before") {
        q.append_pair(k, v);
    }
    q.append_pair("before", cursor);
    format!("?{}", q.finish())
}

fn event_line(e: &EventRow) -> Value {
    json!({
        "received": time(e.received_at),
        "event_type": e.event_type,
        "event_id": e.event_id,
        "about": e.about,
        "rules": e.matched_rules.join(", "),
        "deliveries": e.deliveries.iter().map(|d| json!({"channel": d.channel, "status": d.status.as_str()})).collect::<Vec<_>>(),
    })
}

pub(super) async fn event(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let detail = match app.store.event(id.clone()).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return view::refused(
                StatusCode::NOT_FOUND,
                "No such event in the store (it may have been purged).",
            );
        }
        Err(e) => {
            return view::refused(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("The store cannot answer: {e}"),
            );
        }
    };
    let row = &detail.row;
    let data = json!({
        "title": format!("{} {}", row.event_type, row.event_id),
        "about": row.about,
        "event_type": row.event_type,
        "event_id": row.event_id,
        "received": time(row.received_at),
        "verdicts": verdicts(&app, &detail.body),
        "deliveries": row.deliveries.iter().map(delivery_detail).collect::<Vec<_>>(),
        "headers": detail.headers.as_deref().map_or_else(|| "(not kept for this event)".to_string(), crate::text::json::pretty),
        "body": crate::text::json::pretty(&detail.body),
        "csrf": super::csrf_token(&app),
    });
    view::page("event", &data)
}

/// What each rule in force makes of the event, as `simulate` says it.
fn verdicts(app: &AppState, body: &str) -> Vec<Value> {
    let Ok(event) = Event::parse(body.as_bytes()) else {
        return Vec::new();
    };
    let config = app.live.config();
    config
        .evaluate(&event)
        .into_iter()
        .map(|v| match v {
            Verdict::Match(rule) => json!({"rule": rule.name, "matched": true, "verdict": "matched"}),
            Verdict::NoMatch { rule, reason } => json!({"rule": rule.name, "verdict": format!("no match: {reason}")}),
            Verdict::Stopped { rule, by } => json!({"rule": rule.name, "verdict": format!("not evaluated: rule `{by}` matched first and has stop: true")}),
        })
        .collect()
}

fn delivery_detail(d: &DeliveryRow) -> Value {
    let attempts: Vec<Value> = runs(&d.attempt_log)
        .into_iter()
        .map(|(a, last, more)| {
            json!({
                "at": time(a.started_at),
                "repeated": (more > 0).then_some(more),
                "last_at": time(last.started_at),
                "duration": format!("{} ms", a.duration_ms),
                "outcome": a.outcome.as_str(),
                "status": a.status_code,
                "detail": crate::text::truncate_chars(&a.detail, 300),
            })
        })
        .collect();
    let sent = d
        .attempt_log
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, a)| Some((i + 1, Sent::from_value(a.sent.as_ref()?)?)))
        .map(|(n, sent)| super::sent::shown(&sent, n));
    let finished = matches!(d.status, DeliveryStatus::Sent | DeliveryStatus::Skipped);
    json!({
        "id": d.id, "channel": d.channel, "rule": d.rule, "status": d.status.as_str(),
        // A sent delivery's earlier failures are in its attempts, not a failure of it.
        "last_error": d.last_error.as_ref().filter(|_| d.status != DeliveryStatus::Sent),
        "attempts": attempts, "sent": sent,
        "skipped": d.status == DeliveryStatus::Skipped,
        // A skipped delivery's conditions did not hold: sending it again would be wrong.
        "replayable": d.status != DeliveryStatus::Skipped,
        "next": (!finished).then(|| time(d.next_attempt_at)),
    })
}

/// Consecutive attempts that came to the same (same outcome, status and answer), as one:
/// the first, the last, and how many more there were.
fn runs(attempts: &[AttemptRow]) -> Vec<(&AttemptRow, &AttemptRow, usize)> {
    let same = |a: &AttemptRow, b: &AttemptRow| {
        a.outcome == b.outcome && a.status_code == b.status_code && a.detail == b.detail
    };
    attempts
        .chunk_by(same)
        .map(|run| (&run[0], &run[run.len() - 1], run.len() - 1))
        .collect()
}

pub(super) async fn deliveries(State(app): State<Arc<AppState>>, Query(p): Params) -> Response {
    let filter = DeliveryFilter {
        status: param(&p, "status").and_then(|s| s.parse().ok()),
        channel: param(&p, "channel").map(str::to_string),
        limit: PAGE,
        before: param(&p, "before").and_then(|b| b.parse().ok()),
        ..DeliveryFilter::default()
    };
    let rows = app
        .store
        .deliveries(filter.clone())
        .await
        .unwrap_or_default();
    let next = (rows.len() == PAGE as usize)
        .then(|| rows.last())
        .flatten()
        .map(|last| next_link(&p, &last.id.to_string()));
    let states: Vec<Value> = DeliveryStatus::ALL
        .iter()
        .map(|s| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("status", s.as_str());
            if let Some(c) = &filter.channel {
                q.append_pair("channel", c);
            }
            json!({"name": s.as_str(), "link": format!("/ui/deliveries?{}", q.finish())})
        })
        .collect();
    let data = json!({
        "channel": filter.channel,
        "states": states,
        "deliveries": rows.iter().map(|d| json!({
            "id": d.id, "event_id": d.event_id, "rule": d.rule, "channel": d.channel,
            "status": d.status.as_str(), "attempts": d.attempts, "updated": time(d.updated_at),
            "last_error": d.last_error, "skipped": d.status == DeliveryStatus::Skipped,
        })).collect::<Vec<_>>(),
        "next": next,
    });
    view::page("deliveries", &data)
}

pub(super) async fn rules(State(app): State<Arc<AppState>>) -> Response {
    let config = app.live.config();
    let text = match app.reloader.on_disk().await {
        Ok(Some(text)) => text,
        Ok(None) => {
            "(the file on disk does not load now, so it is not shown: `herald check` says why)"
                .to_string()
        }
        Err(e) => format!("(cannot read the file now: {e})"),
    };
    let rules: Vec<Value> = config
        .rules
        .iter()
        .map(|r| {
            let labels = RuleLabels {
                rule: r.name.clone(),
            };
            let channels: Vec<&str> = r.notify.iter().map(|a| a.channel.as_str()).collect();
            json!({
                "name": r.name,
                "events": r.events.join(", "),
                "channels": channels.join(", "),
                "matched": app.metrics.rule_matches.get_or_create(&labels).get(),
            })
        })
        .collect();
    let channels: Vec<Value> = config
        .channels
        .iter()
        .map(|(name, spec)| json!({"name": name, "kind": spec.kind().as_str()}))
        .collect();
    let data = json!({
        "rules": rules,
        "channels": channels,
        "file": config.file.display().to_string(),
        "text": text,
    });
    view::page("rules", &data)
}
