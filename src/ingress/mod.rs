//! HTTP in: `POST /webhook`. Verify the signature over the raw bytes, parse, match, then
//! record the event and one delivery per matched action in one durable commit, and only
//! then answer 200. A store that cannot commit gets 503, so SuperOffice tries again: herald
//! never answers 200 for what it has not stored. Sending happens after the answer.
//!
//! Every error becomes a response in one place ([`IngressError`]'s `IntoResponse`).

mod admin;
mod body;
pub mod browser;
mod error;
pub mod server;
pub mod signature;
mod ui;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};

use crate::delivery::Dispatcher;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::ops::reload::Reloader;
use crate::ops::{Net, same_secret};
use crate::store::Store;
use signature::Verifier;

pub use body::BodyBudget;
pub use error::IngressError;

/// What the routes need.
pub struct AppState {
    pub verifier: Verifier,
    pub live: Arc<Live>,
    pub dispatcher: Arc<Dispatcher>,
    /// A repeat of an EventId seen within this window is delivered once.
    pub dedup_window: Duration,
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
    pub rejected_log: crate::ops::LogThrottle,
    /// Tells the SuperOffice watchdog to look now (a `webhook….stopped` event arrived).
    pub superoffice_look: Arc<tokio::sync::Notify>,
    /// When this process started serving, for the status page.
    pub started: jiff::Timestamp,
    /// Host names, sessions and failing peers of the status page and the admin API.
    pub browsers: browser::Browsers,
    /// The status page's test messages: each channel's last answer.
    pub probes: ui::Probes,
    /// herald's webhook in SuperOffice, as the watchdog last saw it.
    pub watchdog: Arc<crate::subscription::watchdog::LastLook>,
}

/// Who may call the admin routes (`/-/reload`): peers in `allow` (loopback by default), or
/// anyone with the bearer token.
pub struct Admin {
    pub token: Option<crate::secret::Secret<String>>,
    pub allow: Vec<Net>,
}

impl Admin {
    pub(crate) fn permits(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
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
        .route("/webhook", post(webhook::webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(admin::metrics))
        .route("/-/reload", post(admin::reload))
        .merge(ui::routes(state.clone()))
        // The webhook reads its body itself, with its own limit (see `body::read_body`).
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::contain_panics,
        ))
        .with_state(state)
}
