//! The status page under `/ui/`: what arrived, what went where, what failed and why, with
//! replay. Server-rendered HTML (handlebars, which escapes every value), no JavaScript, nothing
//! loaded from elsewhere.
//!
//! Access is `/-/reload`'s: an address in `--admin-allow`, or the admin token (as a bearer
//! token, or through the login form, which sets a session cookie). Every POST also carries a
//! CSRF token and is refused when the browser says it comes from another site. Every page is
//! refused to a `Host` herald is not known by and to frames ([`super::browser`]).

mod actions;
mod checked;
mod overview;
mod pages;
mod probes;
pub use probes::Probes;
mod sent;
mod try_event;
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

/// The cookie the login form sets: a session id, HttpOnly and SameSite=Strict (and Secure
/// behind https).
const COOKIE: &str = "herald_session";

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/events", get(pages::events))
        .route("/ui/events/{id}", get(pages::event))
        .route("/ui/deliveries", get(pages::deliveries))
        .route("/ui/rules", get(pages::rules))
        .route("/ui/try", get(try_event::form).post(try_event::run))
        .route(
            "/ui/deliveries/{id}/replay",
            axum::routing::post(actions::replay_one),
        )
        .route(
            "/ui/channels/{channel}/test",
            axum::routing::post(probes::test_channel),
        )
        .route(
            "/ui/channels/{channel}/replay",
            get(actions::confirm_dead).post(actions::replay_dead),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .route("/ui/login", get(actions::login_form).post(actions::login))
        .layer(axum::middleware::from_fn_with_state(state, for_browsers))
}

/// Every `/ui/` answer: refused (421) to a `Host` herald is not known by, and never shown in a
/// frame (clickjacking a replay button).
async fn for_browsers(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(host) = app.browsers.foreign_host(request.headers()) {
        let host = crate::text::escape_controls(host).into_owned();
        refused_log(
            &app,
            peer,
            &format!("refused the status page for Host {host:?}: not a name herald is known by"),
        );
        let mut response = view::refused(
            StatusCode::MISDIRECTED_REQUEST,
            "This herald's status page answers at localhost, at IP addresses, and at the names given by --public-url or --allowed-host.",
        );
        no_frames(response.headers_mut());
        return response;
    }
    let mut response = next.run(request).await;
    no_frames(response.headers_mut());
    response
}

/// Headers that keep a page out of every frame.
pub(super) fn no_frames(headers: &mut HeaderMap) {
    headers.insert("x-frame-options", header::HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("frame-ancestors 'none'"),
    );
}

/// A refusal, logged at most once a minute per peer with how many were held back.
pub(super) fn refused_log(app: &AppState, peer: SocketAddr, what: &str) {
    if let super::browser::Log::Now { held_back } = app.browsers.failed(peer.ip()) {
        warn!(peer = %peer, held_back, "{what}");
    }
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
        refused_log(
            &app,
            peer,
            "refused the status page: not from an allowed address and no valid admin token or session",
        );
        return view::refused(
            StatusCode::FORBIDDEN,
            "The status page is for herald's operators: open it from an address in --admin-allow, or sign in with the admin token.",
        );
    }
    if request.method() == Method::POST && super::browser::cross_site(headers) {
        refused_log(&app, peer, "refused a cross-site POST to the status page");
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
    cookie(headers, COOKIE).is_some_and(|id| app.browsers.session(id))
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
