//! HTTP in: `POST /webhook`. Verify the signature over the raw bytes, parse, match, then
//! record the event and one delivery per matched action in one durable commit, and only
//! then answer 200. A store that cannot commit gets 503, so SuperOffice tries again: herald
//! never answers 200 for what it has not stored. Sending happens after the answer.
//!
//! Every error becomes a response in one place ([`IngressError`]'s `IntoResponse`). None is
//! ever `410 Gone`: that status disables the webhook at SuperOffice.

pub mod signature;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use tracing::{info, warn};

use crate::delivery::Dispatcher;
use crate::event::{Event, EventError};
use crate::ops::metrics::{Metrics, RuleLabels};
use crate::ops::reload::Reloader;
use crate::ops::{Net, same_secret};
use crate::rules::{Config, Rule};
use crate::store::writer::Writer;
use crate::store::{Claimed, NewDelivery, NewEvent, Store, StoreError, WriteOp, WriteResult};
use signature::{SignatureError, Verifier};

/// What the routes need.
pub struct AppState {
    pub verifier: Verifier,
    pub writer: Writer,
    pub dispatcher: Arc<Dispatcher>,
    /// A repeat of an EventId seen within this window is delivered once.
    pub dedup_window: std::time::Duration,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub reloader: Arc<Reloader>,
    pub admin: Admin,
    /// The largest webhook body taken; larger ones get 413.
    pub max_body: usize,
}

/// Who may call the admin routes (`/-/reload`): peers in `allow` (loopback by default), or
/// anyone with the bearer token.
pub struct Admin {
    pub token: Option<crate::secret::Secret<String>>,
    pub allow: Vec<Net>,
}

impl Admin {
    fn permits(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let (Some(token), Some(given)) = (&self.token, bearer) {
            if same_secret(token.expose().as_bytes(), given.trim().as_bytes()) {
                return true;
            }
        }
        self.allow.iter().any(|net| net.contains(peer.ip()))
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/-/reload", post(reload))
        // The webhook reads its body itself, with its own limit (see `read_body`).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Reads a body of at most `max` bytes. A larger one is read on, and thrown away, up to four
/// times the limit, so the client is still reading when the 413 comes: a server that closes
/// on unread data makes the client's kernel drop the answer with the connection.
async fn read_body(body: Body, max: usize) -> Result<Bytes, IngressError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    let drain = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            seen += chunk.len();
            if seen <= max {
                buf.extend_from_slice(&chunk);
            } else if seen > max.saturating_mul(4) {
                break;
            }
        }
    });
    let _ = drain.await;
    if seen > max {
        return Err(IngressError::TooLarge(max));
    }
    Ok(Bytes::from(buf))
}

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Event(#[from] EventError),
    /// The client sees only that the store is unavailable; the log has the cause.
    #[error("cannot store the event right now; try again")]
    Store(#[from] StoreError),
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let status = match &self {
            IngressError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngressError::Signature(_) => StatusCode::UNAUTHORIZED,
            IngressError::Event(_) => StatusCode::BAD_REQUEST,
            IngressError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("{self}\n")).into_response()
    }
}

async fn webhook(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngressError> {
    let body = read_body(body, app.max_body).await.inspect_err(|e| {
        app.metrics.event("unknown", "invalid");
        warn!(peer = %peer, reason = %e, outcome = "invalid", "rejected webhook: too large");
    })?;
    let received_at = Timestamp::now();
    // `HeaderMap` lookups are case-insensitive, as SuperOffice's spelling varies.
    let signature = headers.get("x-superoffice-signature").map(|v| v.as_bytes());
    let verified = app.verifier.verify(signature, body).inspect_err(|e| {
        app.metrics.event("unknown", "unsigned");
        warn!(peer = %peer, reason = %e, outcome = "unsigned", "rejected webhook: bad signature");
    })?;
    let event = Event::parse(verified.bytes()).inspect_err(|e| {
        app.metrics.event("unknown", "invalid");
        warn!(peer = %peer, reason = %e, outcome = "invalid", "rejected webhook: invalid body");
    })?;
    let event_id = event.id().to_string();
    let outcome = |o: &'static str| app.metrics.event(event.name(), o);
    if event.is_test() {
        outcome("test");
        info!(
            event_id,
            event = event.name(),
            outcome = "test",
            "received the registration test event"
        );
        return Ok((StatusCode::OK, "test event received\n").into_response());
    }
    let config = app.dispatcher.config();
    let matched = config.matching(&event);
    let received_ms = received_at.as_millisecond();
    let (deliveries, room) = plan(&app, &config, &matched, received_ms);
    let count = deliveries.len();
    let body = String::from_utf8_lossy(verified.bytes()).into_owned();
    let record = NewEvent {
        event_id: event_id.clone(),
        event_type: event.name().to_string(),
        received_at: received_ms,
        body: body.clone(),
        matched_rules: matched.iter().map(|r| r.name.clone()).collect(),
        deliveries: deliveries.clone(),
        dedup_window_ms: app.dedup_window.as_millis() as i64,
    };
    match app.writer.submit(WriteOp::Accept(record)).await {
        Ok(WriteResult::Duplicate) => {
            outcome("duplicate");
            info!(
                event_id,
                event = event.name(),
                outcome = "duplicate",
                "event already received"
            );
            Ok((StatusCode::OK, "duplicate event ignored\n").into_response())
        }
        Ok(_) if count == 0 => {
            outcome("unmatched");
            info!(
                event_id,
                event = event.name(),
                outcome = "unmatched",
                "no rule matched"
            );
            Ok((StatusCode::OK, "no rule matched\n").into_response())
        }
        Ok(WriteResult::Accepted(ids)) => {
            if let Some(room) = room {
                let leased = leased(ids, deliveries, &event, &body, received_ms);
                app.dispatcher.hand_over(leased, room);
            }
            app.dispatcher.wake();
            outcome("accepted");
            for rule in &matched {
                app.metrics
                    .rule_matches
                    .get_or_create(&RuleLabels {
                        rule: rule.name.clone(),
                    })
                    .inc();
            }
            info!(
                event_id,
                event = event.name(),
                outcome = "accepted",
                deliveries = count,
                "event accepted"
            );
            Ok((StatusCode::OK, format!("accepted: {count} deliveries\n")).into_response())
        }
        Ok(other) => {
            unreachable!("accepting an event answers Accepted or Duplicate, not {other:?}")
        }
        Err(e) => {
            outcome("rejected_by_store");
            warn!(event_id, event = event.name(), outcome = "rejected_by_store", error = %e, "cannot store the event; answering 503 so SuperOffice retries");
            Err(e.into())
        }
    }
}

/// One delivery per action of each matched rule. Deliveries to unpaced channels go straight
/// to the senders when there is room (they are leased in the same commit that stores them),
/// unless they need SuperOffice data: those are claimed after the answer, so no API call ever
/// starts before SuperOffice has its 200.
fn plan(
    app: &AppState,
    config: &Config,
    matched: &[&Rule],
    received_ms: i64,
) -> (Vec<NewDelivery>, Option<tokio::sync::OwnedSemaphorePermit>) {
    let mut deliveries: Vec<(NewDelivery, bool)> = matched
        .iter()
        .flat_map(|rule| {
            rule.notify.iter().enumerate().map(|(i, action)| {
                let needs_api = config.superoffice.is_some() && !action.needs.is_empty();
                let fast = app.dispatcher.is_fast(&action.channel) && !needs_api;
                let delivery = NewDelivery {
                    rule: rule.name.clone(),
                    action_index: i as u32,
                    channel: action.channel.clone(),
                    lease_until: None,
                };
                (delivery, fast)
            })
        })
        .collect();
    let fast = deliveries.iter().filter(|(_, f)| *f).count();
    let room = if fast > 0 {
        app.dispatcher.reserve(fast)
    } else {
        None
    };
    if room.is_some() {
        let lease_until = app.dispatcher.lease_until(received_ms);
        for (d, _) in deliveries.iter_mut().filter(|(_, f)| *f) {
            d.lease_until = Some(lease_until);
        }
    }
    (deliveries.into_iter().map(|(d, _)| d).collect(), room)
}

/// The stored deliveries that were leased for the fast path, ready for the senders.
fn leased(
    ids: Vec<i64>,
    deliveries: Vec<NewDelivery>,
    event: &Event,
    body: &str,
    received_ms: i64,
) -> Vec<Claimed> {
    ids.into_iter()
        .zip(deliveries)
        .filter(|(_, d)| d.lease_until.is_some())
        .map(|(delivery_id, d)| Claimed {
            delivery_id,
            event_id: event.id().to_string(),
            event_type: event.name().to_string(),
            rule: d.rule,
            action_index: d.action_index,
            channel: d.channel,
            attempts: 0,
            round_started_at: received_ms,
            received_at: received_ms,
            body: body.to_string(),
        })
        .collect()
}

/// Ready when the configuration is loaded (it is, once serving) and the store can commit.
async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(3),
        app.writer.submit(WriteOp::Heartbeat),
    )
    .await;
    match check {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            warn!(error = %e, "not ready: the store cannot commit");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the store cannot commit\n",
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the store did not answer within 3s\n",
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let counts = tokio::time::timeout(Duration::from_secs(2), app.store.counts())
        .await
        .ok()
        .and_then(Result::ok);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(counts.as_ref()),
    )
        .into_response()
}

/// Reloads the configuration; only from an allowed address, or with the admin token.
async fn reload(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !app.admin.permits(peer, &headers) {
        warn!(peer = %peer, "refused /-/reload: not from an allowed address and no valid admin token");
        return (
            StatusCode::FORBIDDEN,
            "reload is allowed from loopback, or with the admin token (HERALD_ADMIN_TOKEN)\n",
        )
            .into_response();
    }
    let report = app.reloader.reload("api").await;
    let status = if report.status == "reloaded" {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, axum::Json(report)).into_response()
}
