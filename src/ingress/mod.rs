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

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use tracing::{info, warn};

use crate::delivery::Dispatcher;
use crate::event::{Event, EventError};
use crate::rules::Config;
use crate::store::writer::Writer;
use crate::store::{Claimed, NewDelivery, NewEvent, StoreError, WriteOp, WriteResult};
use signature::{SignatureError, Verifier};

/// What the webhook route needs.
pub struct AppState {
    pub config: Arc<Config>,
    pub verifier: Verifier,
    pub writer: Writer,
    pub dispatcher: Arc<Dispatcher>,
    /// A repeat of an EventId seen within this window is delivered once.
    pub dedup_window: std::time::Duration,
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
    /// The client sees only that the store is unavailable; the log has the cause.
    #[error("cannot store the event right now; try again")]
    Store(#[from] StoreError),
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let status = match &self {
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
    let matched = app.config.matching(&event);
    let received_ms = received_at.as_millisecond();
    let mut deliveries: Vec<NewDelivery> = matched
        .iter()
        .flat_map(|rule| {
            rule.notify
                .iter()
                .enumerate()
                .map(|(i, action)| NewDelivery {
                    rule: rule.name.clone(),
                    action_index: i as u32,
                    channel: action.channel.clone(),
                    lease_until: None,
                })
        })
        .collect();
    let count = deliveries.len();
    // Deliveries to unpaced channels go straight to the senders when there is room.
    let fast = deliveries
        .iter()
        .filter(|d| app.dispatcher.is_fast(&d.channel))
        .count();
    let room = if fast > 0 {
        app.dispatcher.reserve(fast)
    } else {
        None
    };
    if room.is_some() {
        for d in deliveries
            .iter_mut()
            .filter(|d| app.dispatcher.is_fast(&d.channel))
        {
            d.lease_until = Some(app.dispatcher.lease_until(received_ms));
        }
    }
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
            info!(
                event_id,
                event = event.name(),
                outcome = "duplicate",
                "event already received"
            );
            Ok((StatusCode::OK, "duplicate event ignored\n").into_response())
        }
        Ok(_) if count == 0 => {
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
                let leased = ids
                    .into_iter()
                    .zip(deliveries)
                    .filter(|(_, d)| d.lease_until.is_some())
                    .map(|(delivery_id, d)| Claimed {
                        delivery_id,
                        event_id: event_id.clone(),
                        rule: d.rule,
                        action_index: d.action_index,
                        channel: d.channel,
                        attempts: 0,
                        round_started_at: received_ms,
                        received_at: received_ms,
                        body: body.clone(),
                    })
                    .collect();
                app.dispatcher.hand_over(leased, room);
            }
            app.dispatcher.wake();
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
            warn!(event_id, event = event.name(), outcome = "rejected_by_store", error = %e, "cannot store the event; answering 503 so SuperOffice retries");
            Err(e.into())
        }
    }
}
