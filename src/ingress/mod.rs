//! HTTP in: `POST /webhook`. Verify the signature over the raw bytes, parse, match, then
//! record the event and one delivery per matched action in one durable commit, and only
//! then answer 200. A store that cannot commit gets 503, so SuperOffice tries again: herald
//! never answers 200 for what it has not stored. Sending happens after the answer.
//!
//! Every error becomes a response in one place ([`IngressError`]'s `IntoResponse`). None is
//! ever `410 Gone`: that status disables the webhook at SuperOffice.

pub mod server;
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
use crate::metrics::{Metrics, RuleLabels};
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
    pub bodies: BodyBudget,
    /// How long a client may take to send its body; a slower one gets 408.
    pub body_timeout: Duration,
    /// One WARN line per window for requests anyone can send.
    pub rejected_log: crate::ops::Throttle,
}

/// The bytes of webhook bodies held at once, over all requests, at most: a body is read only
/// once its size (its `Content-Length`, or `max_body`) fits in the budget. Unsigned bodies
/// cannot be told from signed ones before they are read whole, so this is what keeps a flood
/// of them from taking herald's memory.
pub struct BodyBudget {
    kib: Arc<tokio::sync::Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        let kib = (bytes / 1024).clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        BodyBudget {
            kib: Arc::new(tokio::sync::Semaphore::new(kib)),
        }
    }

    /// Waits up to `within` for room for `bytes`.
    async fn reserve(
        &self,
        bytes: usize,
        within: Duration,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).ok()?;
        tokio::time::timeout(within, self.kib.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }
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
        if let (Some(token), Some(given)) = (&self.token, bearer)
            && same_secret(token.expose().as_bytes(), given.trim().as_bytes())
        {
            return true;
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            contain_panics,
        ))
        .with_state(state)
}

/// Reads a body of at most `max` bytes within `within`. A larger one is read on, and thrown
/// away, up to four times the limit, so the client is still reading when the 413 comes: a
/// server that closes on unread data makes the client's kernel drop the answer with the
/// connection. A body that ends before its `Content-Length` is refused, never processed.
async fn read_body(
    body: Body,
    expected: usize,
    max: usize,
    within: Duration,
) -> Result<Bytes, IngressError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    // Sized once: growing by doubling would hold up to twice the body during the last copy.
    let mut buf = Vec::with_capacity(expected.min(max));
    let mut seen = 0usize;
    let read = tokio::time::timeout(within, async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| IngressError::Incomplete(seen))?;
            seen = seen.saturating_add(chunk.len());
            if seen <= max {
                buf.extend_from_slice(&chunk);
            } else if seen > max.saturating_mul(4) {
                break;
            }
        }
        Ok(())
    });
    match read.await {
        Err(_) if seen > max => return Err(IngressError::TooLarge(max)),
        Err(_) => return Err(IngressError::SlowBody(within)),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    if seen > max {
        return Err(IngressError::TooLarge(max));
    }
    Ok(Bytes::from(buf))
}

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body was not received within {0:?}")]
    SlowBody(Duration),
    #[error("the body ended after {0} bytes, before its Content-Length")]
    Incomplete(usize),
    #[error("too many webhook bodies are being received at once; try again")]
    Busy,
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Event(#[from] EventError),
    /// The client sees only that the store is unavailable; the log has the cause.
    #[error("cannot store the event right now; try again")]
    Store(#[from] StoreError),
}

impl IngressError {
    /// The outcome label in metrics and logs.
    fn outcome(&self) -> &'static str {
        match self {
            IngressError::Signature(_) => "unsigned",
            IngressError::Busy => "busy",
            IngressError::Store(_) => "rejected_by_store",
            _ => "invalid",
        }
    }
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let status = match &self {
            IngressError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngressError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            IngressError::Incomplete(_) | IngressError::Event(_) => StatusCode::BAD_REQUEST,
            IngressError::Signature(_) => StatusCode::UNAUTHORIZED,
            IngressError::Busy | IngressError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// Counts a refused request and logs it, at most one line per window per kind (anyone can
/// send these).
fn refused(app: &AppState, peer: SocketAddr, e: &IngressError) {
    let outcome = e.outcome();
    app.metrics.event("unknown", outcome);
    if let Some(suppressed) = app.rejected_log.allow() {
        warn!(peer = %peer, reason = %e, outcome, suppressed, "rejected webhook");
    }
}

/// Reads and verifies a webhook body within the budget: what arrives here is signed.
async fn verified_body(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<signature::VerifiedBody, IngressError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let need = declared.unwrap_or(app.max_body).min(app.max_body);
    let _room = app
        .bodies
        .reserve(need, app.body_timeout)
        .await
        .ok_or(IngressError::Busy)?;
    let body = read_body(body, need, app.max_body, app.body_timeout).await?;
    // `HeaderMap` lookups are case-insensitive, as SuperOffice's spelling varies.
    let signature = headers.get("x-superoffice-signature").map(|v| v.as_bytes());
    Ok(app.verifier.verify(signature, body)?)
}

async fn webhook(
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

/// Ready when the configuration is loaded (it is, once serving), the store can commit, and
/// the dispatcher is making progress.
async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(3),
        app.writer.submit(WriteOp::Heartbeat),
    )
    .await;
    let problem = match check {
        Ok(Ok(_)) => match app.dispatcher.progress().await {
            Ok(()) => return (StatusCode::OK, "ready\n").into_response(),
            Err(reason) => reason,
        },
        Ok(Err(e)) => format!("the store cannot commit: {e}"),
        Err(_) => "the store did not answer within 3s".to_string(),
    };
    warn!(reason = %problem, "not ready");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {problem}\n"),
    )
        .into_response()
}

/// Turns a panic in a request's handler into a 500 for that request alone, logged and counted;
/// the server and every other request go on.
async fn contain_panics(
    State(app): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => {
            app.metrics.panic("request");
            tracing::error!("internal error while handling a request; answered 500");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
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
