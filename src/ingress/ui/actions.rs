//! What the status page changes: replaying one delivery, or every dead letter of a channel
//! (after a page that says how many), and signing in with the admin token. Each action is
//! logged with who asked, and a replay shows in the delivery's attempts as `replayed`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::info;

use super::checked::Checked;
use super::{COOKIE, csrf_token, see_other, view};
use crate::ingress::AppState;
use crate::store::{DeliveryFilter, DeliveryStatus, Replay, now_ms};

type Fields = Form<BTreeMap<String, String>>;

pub(super) async fn replay_one(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Checked(_): Checked,
) -> Response {
    let filter = DeliveryFilter {
        limit: 1,
        id: Some(id),
        ..DeliveryFilter::default()
    };
    let found = app
        .store
        .deliveries(filter)
        .await
        .ok()
        .and_then(|d| d.into_iter().find(|d| d.id == id));
    let Some(delivery) = found else {
        return view::refused(StatusCode::NOT_FOUND, "No such delivery.");
    };
    match app.store.replay(Replay::Ids(vec![id]), now_ms()).await {
        Ok(_) => {
            info!(peer = %peer, delivery = id, channel = %delivery.channel, "delivery replayed from the status page");
            app.dispatcher.wake();
            see_other(&format!(
                "/ui/events/{}#d{id}",
                super::view::url_encoded(&delivery.event_id)
            ))
        }
        Err(e) => view::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("The store cannot replay now: {e}"),
        ),
    }
}

/// How many dead letters a channel has, and a form to replay them.
pub(super) async fn confirm_dead(
    State(app): State<Arc<AppState>>,
    Path(channel): Path<String>,
) -> Response {
    let counts = app
        .store
        .overview(now_ms())
        .await
        .map(|o| o.channels)
        .unwrap_or_default();
    let count = counts
        .iter()
        .find(|c| c.channel == channel)
        .map_or(0, |c| c.counts.get(DeliveryStatus::Dead));
    let data = json!({"channel": channel, "count": count, "csrf": csrf_token(&app)});
    view::page("confirm", &data)
}

pub(super) async fn replay_dead(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(channel): Path<String>,
    Checked(_): Checked,
) -> Response {
    let which = Replay::Dead {
        channel: Some(channel.clone()),
    };
    match app.store.replay(which, now_ms()).await {
        Ok(n) => {
            info!(peer = %peer, channel = %channel, deliveries = n, "dead letters replayed from the status page");
            app.dispatcher.wake();
            see_other(&format!(
                "/ui/deliveries?channel={}",
                super::view::url_encoded(&channel)
            ))
        }
        Err(e) => view::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("The store cannot replay now: {e}"),
        ),
    }
}

pub(super) async fn login_form() -> Response {
    view::page("login", &json!({}))
}

/// The admin token in a form: right, and it is set as a cookie for `/ui/`.
pub(super) async fn login(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(form): Fields,
) -> Response {
    if app.browsers.blocked(peer.ip()) {
        super::refused_log(
            &app,
            peer,
            "refused a sign-in: too many failures from this address this minute",
        );
        return view::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong sign-ins from this address: wait a minute.",
        );
    }
    let given = form.get("token").map(|t| t.trim()).unwrap_or("");
    let right = app
        .admin
        .token
        .as_ref()
        .is_some_and(|t| crate::ops::same_secret(t.expose().as_bytes(), given.as_bytes()));
    if !right {
        super::refused_log(
            &app,
            peer,
            "a wrong admin token was given to the status page's sign-in",
        );
        let mut page = view::page("login", &json!({"wrong": true}));
        *page.status_mut() = StatusCode::FORBIDDEN;
        return page;
    }
    let secure = match app.browsers.over_https(peer.ip(), &headers) {
        true => "; Secure",
        false => "",
    };
    let max_age = super::super::browser::SESSION_LIFETIME.as_secs();
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        app.browsers.start_session()
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ui/".to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}
