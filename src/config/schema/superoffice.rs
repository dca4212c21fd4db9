//! The rules schema's `superoffice:` section: the API, how herald signs in, the watchdog.

use serde_json::{Value, json};

use super::parts::{count, duration};
use super::words::SUPEROFFICE;
use super::{object, or_var, text, words};

/// `superoffice:`: where enrichment reads from, how herald signs in, and the webhook watchdog.
pub(super) fn superoffice() -> Value {
    let mut so = object(superoffice_keys(), &[]);
    so["description"] = json!(
        "where enrichment reads SuperOffice data from, and the webhook herald watches (README, \"Enrichment\")"
    );
    so
}

fn superoffice_keys() -> Vec<(&'static str, Value)> {
    let w = |k| words(SUPEROFFICE, k);
    let flag = |d: &str| or_var(json!({ "type": "boolean" }), d.to_string());
    let alert = json!({ "anyOf": [{ "type": "string" }, { "$ref": "#/$defs/action" }] });
    let alerts = "who hears that SuperOffice stopped sending: channels, or notify entries";
    vec![
        ("api", text(w("api"))),
        ("tenant_lookup", text(w("tenant_lookup"))),
        ("tenant", text(w("tenant"))),
        ("auth", auth()),
        ("timeout", duration(w("timeout"))),
        ("cache_ttl", duration(w("cache_ttl"))),
        ("cache_size", count(&w("cache_size"))),
        ("web_url", text(w("web_url"))),
        (
            "on_enrichment_error",
            or_var(
                json!({ "enum": ["retry", "send_without"] }),
                w("on_enrichment_error"),
            ),
        ),
        (
            "retry_for",
            duration(
                "with on_enrichment_error: retry, how long before sending without the data (15m)",
            ),
        ),
        (
            "webhook_name",
            text("the webhook in SuperOffice herald watches (default herald)"),
        ),
        (
            "watch_every",
            duration("how often serve looks at the webhook (5m)"),
        ),
        (
            "reactivate",
            flag("set the webhook back to Active when SuperOffice stops it"),
        ),
        (
            "sync_events",
            flag("keep the webhook's events in step with the rules"),
        ),
        (
            "alerts",
            json!({ "type": "array", "items": alert, "description": alerts }),
        ),
    ]
}

/// `auth:`: one way of signing in.
fn auth() -> Value {
    let w = |k| words(SUPEROFFICE, k);
    let system_user = object(
        vec![
            (
                "token",
                text("the system user token (AppName-…), from the tenant's approval"),
            ),
            (
                "private_key",
                text(
                    "the application's RSA private key: a file beside the rules file, PEM or RSA XML",
                ),
            ),
            ("client_secret", text("the application's client secret")),
            (
                "login",
                text("SuperOffice's login service (default: the API's environment's)"),
            ),
        ],
        &["token", "private_key", "client_secret"],
    );
    let oauth = object(
        vec![
            ("client_id", text("the application's client id")),
            ("client_secret", text("the application's client secret")),
            (
                "refresh_token",
                text("the refresh token of the person who signed in"),
            ),
            ("login", text("SuperOffice's login service")),
        ],
        &["client_id", "client_secret", "refresh_token"],
    );
    object(
        vec![
            (
                "system_user",
                json!({ "description": w("auth.system_user"), "allOf": [system_user] }),
            ),
            (
                "oauth",
                json!({ "description": w("auth.oauth"), "allOf": [oauth] }),
            ),
            ("bearer", text(w("auth.bearer"))),
            ("ticket", text(w("auth.ticket"))),
            ("app_token", text(w("auth.app_token"))),
        ],
        &[],
    )
}
