//! The status page under `/ui/`: what arrived, what went where, what failed and why, with
//! replay. Server-rendered HTML (handlebars, which escapes every value), no JavaScript, nothing
//! loaded from elsewhere.
//!
//! Access is `/-/reload`'s: an address in `--admin-allow`, or the admin token (as a bearer
//! token, or as a cookie set by the login form). Every POST also carries a CSRF token and is
//! refused when the browser says it comes from another site.

mod actions;
mod overview;
mod pages;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::warn;

use super::AppState;

/// The cookie the login form sets: the admin token itself, HttpOnly and SameSite=Strict.
const COOKIE: &str = "herald_admin";

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/events", get(pages::events))
        .route("/ui/events/{id}", get(pages::event))
        .route("/ui/deliveries", get(pages::deliveries))
        .route("/ui/rules", get(pages::rules))
        .route(
            "/ui/deliveries/{id}/replay",
            axum::routing::post(actions::replay_one),
        )
        .route(
            "/ui/channels/{channel}/replay",
            get(actions::confirm_dead).post(actions::replay_dead),
        )
        .layer(axum::middleware::from_fn_with_state(state, guard))
        .route("/ui/login", get(actions::login_form).post(actions::login))
}

/// Only people allowed to reload may look; a POST must also be same-site with the page's
/// CSRF token (checked by the action itself, which reads the form).
async fn guard(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !allowed(&app, peer, headers) {
        warn!(peer = %peer, path = %request.uri().path(), "refused the status page: not from an allowed address and no valid admin token");
        return view::refused(
            StatusCode::FORBIDDEN,
            "The status page is for herald's operators: open it from an address in --admin-allow, or sign in with the admin token.",
        );
    }
    if request.method() == Method::POST && cross_site(headers) {
        warn!(peer = %peer, path = %request.uri().path(), "refused a cross-site POST to the status page");
        return view::refused(
            StatusCode::FORBIDDEN,
            "Refused: this request came from another site.",
        );
    }
    next.run(request).await
}

fn allowed(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    if app.admin.permits(peer, headers) {
        return true;
    }
    let (Some(token), Some(given)) = (&app.admin.token, cookie(headers, COOKIE)) else {
        return false;
    };
    crate::ops::same_secret(token.expose().as_bytes(), given.as_bytes())
}

/// The browser says the request was made by another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is not this host.
fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site == Some("cross-site") {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            origin_host != host
        }
        _ => false,
    }
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The CSRF token every form carries: keyed by the admin token when there is one (so that it
/// holds across replicas), else by this process's own random key.
pub(super) fn csrf_token(app: &AppState) -> String {
    use std::sync::OnceLock;
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key: Vec<u8> = match &app.admin.token {
        Some(t) => t.expose().as_bytes().to_vec(),
        None => KEY
            .get_or_init(|| {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).expect("the system's random source");
                key
            })
            .to_vec(),
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(b"herald status page");
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when a form's token is the page's.
pub(super) fn csrf_ok(app: &AppState, given: &str) -> bool {
    crate::ops::same_secret(csrf_token(app).as_bytes(), given.as_bytes())
}

/// A 303 to `to`.
pub(super) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}
