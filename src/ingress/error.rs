//! Every way a webhook is refused, and the one place each becomes a response. None is ever
//! `410 Gone`: that status disables the webhook at SuperOffice.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use super::AppState;
use super::signature::SignatureError;
use crate::event::EventError;
use crate::store::StoreError;

/// How long SuperOffice is asked to wait when herald is behind (`Retry-After`, seconds).
const BEHIND_RETRY_AFTER_S: u64 = 60;

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
    /// More deliveries wait than `serve --max-backlog` allows: SuperOffice is to retry later.
    #[error(
        "herald is behind: {waiting} deliveries are waiting, more than its limit of {max}; try again later"
    )]
    Behind { waiting: u64, max: u64 },
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Event(#[from] EventError),
    /// The client sees only that the store is unavailable; the log has the cause.
    #[error("cannot store the event right now; try again")]
    Store(#[from] StoreError),
}

impl IngressError {
    /// The outcome label in metrics and logs.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            IngressError::Signature(_) => "unsigned",
            IngressError::Busy => "busy",
            IngressError::Behind { .. } => "over_backlog",
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
            IngressError::Busy | IngressError::Store(_) | IngressError::Behind { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let mut response = (status, format!("{self}\n")).into_response();
        if let IngressError::Behind { .. } = self {
            let wait = axum::http::HeaderValue::from(BEHIND_RETRY_AFTER_S);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, wait);
        }
        response
    }
}

/// Counts a refused request and logs it, at most one line per window per kind (anyone can
/// send these).
pub(super) fn refused(app: &AppState, peer: SocketAddr, e: &IngressError) {
    let outcome = e.outcome();
    app.metrics.event("unknown", outcome);
    if let Some(suppressed) = app.rejected_log.allow() {
        warn!(peer = %peer, reason = %e, outcome, suppressed, "rejected webhook");
    }
}
