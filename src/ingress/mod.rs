//! HTTP in: `POST /webhook`. Verify the signature over the raw bytes, parse, deduplicate,
//! match, queue, answer. Matching is cheap and happens before the answer, so that an event
//! that cannot be queued gets 503 (and SuperOffice tries again); sending happens after.
//!
//! Every error becomes a response in one place ([`IngressError`]'s `IntoResponse`). None is
//! ever `410 Gone`: that status disables the webhook at SuperOffice.

pub mod dedup;
pub mod signature;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use tracing::{info, warn};

use crate::delivery::{Job, Queue, QueueFull};
use crate::event::{Event, EventError};
use crate::rules::Config;
use dedup::Dedup;
use signature::{SignatureError, Verifier};

/// What the webhook route needs.
pub struct AppState {
    pub config: Arc<Config>,
    pub verifier: Verifier,
    pub dedup: Dedup,
    pub queue: Queue,
}

pub fn router(state: Arc<AppState>, max_body: usize) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Event(#[from] EventError),
    #[error("{0}")]
    QueueFull(#[from] QueueFull),
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let status = match &self {
            IngressError::Signature(_) => StatusCode::UNAUTHORIZED,
            IngressError::Event(_) => StatusCode::BAD_REQUEST,
            IngressError::QueueFull(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("{self}\n")).into_response()
    }
}

async fn webhook(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngressError> {
    let received_at = Timestamp::now();
    // `HeaderMap` lookups are case-insensitive, as SuperOffice's spelling varies.
    let signature = headers.get("x-superoffice-signature").map(|v| v.as_bytes());
    let verified = app.verifier.verify(signature, body).inspect_err(|e| {
        warn!(peer = %peer, reason = %e, "rejected webhook: bad signature");
    })?;
    let event = Event::parse(verified.bytes()).inspect_err(|e| {
        warn!(peer = %peer, reason = %e, "rejected webhook: invalid body");
    })?;
    let event_id = event.id().to_string();
    if event.is_test() {
        info!(
            event_id,
            event = event.name(),
            outcome = "test",
            "received the registration test event"
        );
        return Ok((StatusCode::OK, "test event received\n").into_response());
    }
    if !app.dedup.claim(&event_id) {
        info!(
            event_id,
            event = event.name(),
            outcome = "duplicate",
            "event already received"
        );
        return Ok((StatusCode::OK, "duplicate event ignored\n").into_response());
    }
    let event = Arc::new(event);
    let jobs: Vec<Job> = app
        .config
        .matching(&event)
        .into_iter()
        .flat_map(|rule| {
            rule.notify.iter().map(|action| Job {
                event: event.clone(),
                rule: rule.name.clone(),
                action: action.clone(),
                received_at,
            })
        })
        .collect();
    if jobs.is_empty() {
        info!(
            event_id,
            event = event.name(),
            outcome = "unmatched",
            "no rule matched"
        );
        return Ok((StatusCode::OK, "no rule matched\n").into_response());
    }
    let count = jobs.len();
    if let Err(full) = app.queue.enqueue(jobs) {
        app.dedup.release(&event_id);
        warn!(
            event_id,
            event = event.name(),
            outcome = "queue_full",
            "{full}"
        );
        return Err(full.into());
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
