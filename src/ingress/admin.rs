//! The routes for operators: readiness, metrics, reload; and the guard that turns a panic in
//! any handler into a 500 for that request alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::warn;

use super::AppState;
use crate::ops::reload::Status;

/// Ready when the configuration is loaded (it is, once serving), the store can commit, and
/// the dispatcher is making progress.
pub(super) async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let check = tokio::time::timeout(Duration::from_secs(3), app.dispatcher.heartbeat()).await;
    let problem = match check {
        Ok(Ok(_)) => match app.dispatcher.progress().await {
            Ok(()) => return (StatusCode::OK, "ready\n").into_response(),
            Err(stalled) => crate::text::causes(&stalled),
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
pub(super) async fn contain_panics(
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

pub(super) async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let counts = tokio::time::timeout(Duration::from_secs(2), app.store.counts())
        .await
        .ok()
        .and_then(Result::ok);
    let cached = app
        .live
        .get()
        .enricher
        .as_ref()
        .map_or(0, |e| e.cached_answers());
    app.metrics.enrichment_cache_entries.set(cached as i64);
    let config = app.live.config();
    let channels: Vec<&str> = config.channels.keys().map(String::as_str).collect();
    let rules: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
    app.metrics.known(&channels, &rules);
    let now = crate::store::now_ms();
    let oldest = tokio::time::timeout(Duration::from_secs(2), app.store.oldest_due(now)).await;
    if let Ok(Ok(oldest)) = oldest {
        app.metrics.backlog(&channels, &oldest, now);
    }
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
pub(super) async fn reload(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let refusal = if app.browsers.blocked(peer.ip()) {
        Some((
            StatusCode::TOO_MANY_REQUESTS,
            "too many refused requests from this address this minute\n",
        ))
    } else if app.browsers.foreign_host(&headers).is_some() {
        Some((
            StatusCode::MISDIRECTED_REQUEST,
            "this herald answers at localhost, at IP addresses, and at the names given by --public-url or --allowed-host\n",
        ))
    } else if super::browser::cross_site(&headers) {
        Some((
            StatusCode::FORBIDDEN,
            "refused: this request came from another site\n",
        ))
    } else if !app.admin.permits(peer, &headers) {
        Some((
            StatusCode::FORBIDDEN,
            "reload is allowed from loopback, or with the admin token (HERALD_ADMIN_TOKEN)\n",
        ))
    } else {
        None
    };
    if let Some((status, why)) = refusal {
        if let super::browser::Log::Now { held_back } = app.browsers.failed(peer.ip()) {
            warn!(peer = %peer, held_back, "refused /-/reload: {}", why.trim_end());
        }
        return (status, why).into_response();
    }
    let report = app.reloader.reload("api").await;
    let status = match report.status {
        Status::Reloaded => StatusCode::OK,
        Status::Failed => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, axum::Json(report)).into_response()
}
