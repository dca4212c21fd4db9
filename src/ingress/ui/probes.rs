//! The overview's Test buttons: a fixed test message through one channel's real destination,
//! sent once per click (a POST with the page's CSRF token, answered with a redirect so that a
//! reload sends nothing), never retried, never stored as a delivery. The answer is kept in
//! memory for the overview and logged with who asked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::checked::Checked;
use super::{see_other, view};
use crate::channels::probe::{Probe, probe};
use crate::ingress::AppState;
use crate::store::{Millis, now_ms};

/// The last test message's answer, per channel, since start.
#[derive(Default)]
pub struct Probes(Mutex<BTreeMap<String, (Millis, Probe)>>);

impl Probes {
    fn keep(&self, channel: &str, answer: Probe) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(channel.to_string(), (now_ms(), answer));
    }

    /// A channel's last answer, for the overview.
    pub(super) fn shown(&self, channel: &str) -> Value {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(channel) {
            Some((at, p)) => json!({
                "at": view::time(*at),
                "ok": p.ok,
                "status": p.status_text(),
                "detail": crate::text::truncate_chars(&p.detail, 300),
                "notes": p.notes,
            }),
            None => Value::Null,
        }
    }
}

pub(super) async fn test_channel(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(channel): Path<String>,
    Checked(_): Checked,
) -> Response {
    let runtime = app.live.get();
    let (Some(spec), Some(destination)) = (
        runtime.config.channels.get(&channel),
        runtime.destinations.get(&channel),
    ) else {
        return view::refused(
            StatusCode::NOT_FOUND,
            "No such channel in the rules in force.",
        );
    };
    let by = "from the status page";
    let redactor = &runtime.config.redactor;
    let answer = probe(&channel, spec, destination.as_ref(), redactor, by).await;
    if answer.ok {
        info!(peer = %peer, channel = %channel, status = answer.status, detail = %answer.detail, "test message sent from the status page");
    } else {
        warn!(peer = %peer, channel = %channel, status = answer.status, reason = %answer.detail, "test message from the status page failed");
    }
    app.probes.keep(&channel, answer);
    see_other(&format!("/ui/#channel-{}", view::url_encoded(&channel)))
}
