//! `/ui/`: events in the last hour and day, each channel's deliveries, last success, last
//! failure and pause, the configuration's last reload, the store, the version and uptime.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::view::{self, span, time};
use crate::ingress::AppState;
use crate::store::{ChannelStats, DeliveryStatus, Overview, now_ms};
use crate::subscription::State as HookState;

pub(super) async fn page(State(app): State<Arc<AppState>>) -> Response {
    let now = now_ms();
    let (overview, store_ok, store_state) = match app.store.overview(now).await {
        Ok(o) => (o, true, "committing".to_string()),
        Err(e) => (Overview::default(), false, format!("not answering: {e}")),
    };
    let config = app.live.config();
    let mut channels: Vec<Value> = config
        .channels
        .keys()
        .map(|name| {
            let stats = overview.channels.iter().find(|c| &c.channel == name);
            let mut line = channel(name, stats);
            line["test"] = app.probes.shown(name);
            line["testable"] = json!(true);
            line
        })
        .collect();
    // Channels no longer configured but with deliveries in the store.
    for c in overview
        .channels
        .iter()
        .filter(|c| !config.channels.contains_key(&c.channel))
    {
        channels.push(channel(&c.channel, Some(c)));
    }
    let uptime = now / 1000 - app.started.as_second();
    let data = json!({
        "store": overview,
        "outcomes": app.metrics.outcomes(),
        "channels": channels,
        "rules": config.rules.len(),
        "channel_count": config.channels.len(),
        "file": config.file.display().to_string(),
        "reload": reload(&app),
        "version": env!("CARGO_PKG_VERSION"),
        "started": time(app.started.as_millisecond()),
        "uptime": span(uptime),
        "store_ok": store_ok,
        "store_state": store_state,
        "csrf": super::csrf_token(&app),
        "superoffice": superoffice(&app),
    });
    view::page("overview", &data)
}

fn channel(name: &str, stats: Option<&ChannelStats>) -> Value {
    let count = |s: DeliveryStatus| stats.map_or(0, |c| c.counts.get(s));
    let failure = stats.and_then(|c| c.last_failure.clone());
    json!({
        "name": name,
        "pending": count(DeliveryStatus::Pending),
        "retrying": count(DeliveryStatus::Retrying),
        "held": count(DeliveryStatus::Held),
        "sent": count(DeliveryStatus::Sent),
        "dead": count(DeliveryStatus::Dead),
        "skipped": count(DeliveryStatus::Skipped),
        "last_sent": stats.and_then(|c| c.last_sent).map(time),
        "last_failure": failure.as_ref().map(|(at, _)| time(*at)),
        "last_reason": failure.map(|(_, why)| why),
        "paused_until": stats.and_then(|c| c.paused_until).map(time),
    })
}

/// herald's webhook as the watchdog last saw it, and the credential enrichment signs in with;
/// `null` without a `superoffice:` section.
fn superoffice(app: &AppState) -> Value {
    let runtime = app.live.get();
    if runtime.config.superoffice.is_none() {
        return Value::Null;
    }
    let webhook = app.watchdog.get().map(|look| {
        json!({
            "at": time(look.at.as_millisecond()),
            "name": look.webhook,
            "id": look.id,
            "state": look.state.as_ref().map(HookState::as_str),
            "active": look.state == Some(HookState::Active),
            "problem": look.problem,
            "missing": look.missing.join(", "),
        })
    });
    let credential = runtime.enricher.as_ref().map(|e| {
        let s = e.signin_status();
        json!({
            "kind": s.kind,
            "signed_in": s.signed_in,
            "expires": s.expires.map(|t| time(t.as_millisecond())),
            "last_error": s.last_error,
        })
    });
    json!({"webhook": webhook, "credential": credential})
}

fn reload(app: &AppState) -> Value {
    let Some((at, report)) = app.reloader.last() else {
        return Value::Null;
    };
    let ok = report.status == crate::ops::reload::Status::Reloaded;
    json!({
        "at": time(at.as_millisecond()),
        "trigger": report.trigger,
        "ok": ok,
        "status": if ok { "reloaded" } else { "failed: the previous configuration kept serving" },
        "problems": report.problems,
    })
}
