//! The `superoffice:` section: where the SuperOffice REST API is and how to sign in ([`auth`],
//! with the application's [`key`]), for enriching events that carry only ids and managing
//! herald's webhook.

pub mod auth;
pub mod key;

use std::time::Duration;

use url::Url;

use super::decode::{Decoder, Entries, get};
use super::yaml::Node;
pub use auth::Auth;

#[derive(Debug, Clone)]
pub struct SuperOfficeSpec {
    pub root: ApiRoot,
    pub auth: Auth,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    /// How many answers are kept at most (`cache_size:`, 10,000 by default).
    pub cache_size: usize,
    pub on_error: OnError,
    /// The web client's address, for links back to the CRM: `web_url:`, or the API root
    /// without its `/api`.
    pub web_url: Option<Url>,
    /// The tenant (ContextIdentifier) whose webhooks herald manages, with `tenant_lookup:`.
    pub tenant: Option<String>,
    pub watch: WatchSpec,
}

/// What the watchdog in `serve` does about herald's webhook in SuperOffice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    /// The webhook's name in SuperOffice (`webhook_name:`, `herald` by default).
    pub name: String,
    /// How often to look (`watch_every:`, 5 minutes by default).
    pub every: Duration,
    /// Set a stopped webhook back to `Active` (at most once per look).
    pub reactivate: bool,
    /// Keep the webhook's event list in step with the rules.
    pub sync_events: bool,
}

#[derive(Debug, Clone)]
pub enum ApiRoot {
    /// `https://sod2.superoffice.com/Cust12345/api`
    Fixed(Url),
    /// `https://online.superoffice.com`: each ContextIdentifier's root comes from
    /// `/api/state/{ContextIdentifier}`.
    Lookup(Url),
    /// With `auth: system_user` and no `api:`: the `webapi_url` of the ticket herald gets.
    FromTicket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Send at once without the enriched data.
    SendWithout,
    /// Retry for this long, then send without.
    Retry(Duration),
}

const KEYS: &[&str] = &[
    "api",
    "web_url",
    "tenant",
    "webhook_name",
    "watch_every",
    "reactivate",
    "sync_events",
    "alerts",
    "tenant_lookup",
    "auth",
    "timeout",
    "cache_ttl",
    "cache_size",
    "on_enrichment_error",
    "retry_for",
];

pub fn decode(d: &mut Decoder<'_>, node: &Node) -> Option<SuperOfficeSpec> {
    let entries = d.map(node, WHAT)?;
    d.only_keys(entries, KEYS, WHAT);
    let before = d.sink.items.len();
    let given = root(d, entries, node);
    let api = match &given {
        Some(Some(ApiRoot::Fixed(u) | ApiRoot::Lookup(u))) => Some(u),
        _ => None,
    };
    let auth = match get(entries, "auth") {
        Some(n) => auth::decode(d, n, api),
        None => {
            d.sink.error(
                node.pos,
                "superoffice needs `auth:` with `system_user:`, `oauth:`, `bearer:`, or `ticket:` and `app_token:`",
            );
            None
        }
    };
    let root = given.map(|r| resolve_root(d, node, r, auth.as_ref()));
    let timeout = duration(d, entries, "timeout", 5);
    let cache_ttl = duration(d, entries, "cache_ttl", 300);
    let cache_size = count(d, entries, "cache_size", 10_000);
    let on_error = on_error(d, entries);
    let web_url = match get(entries, "web_url") {
        Some(n) => url(d, n, "web_url").map(Some),
        None => Some(None),
    };
    let tenant = get(entries, "tenant").map(|n| d.text(n, &format!("{WHAT}: tenant")));
    if matches!(auth, Some(Auth::SystemUser(_))) && tenant.is_none() {
        d.sink.error(
            node.pos,
            "superoffice: auth: system_user needs `tenant:` (your ContextIdentifier, like Cust12345): SuperOffice issues a system user's ticket for one tenant",
        );
    }
    let watch = watch(d, entries);
    if d.sink.items.len() != before {
        return None;
    }
    let root = root.flatten()?;
    let web_url = web_url?.or_else(|| derived_web_url(&root));
    Some(SuperOfficeSpec {
        root,
        auth: auth?,
        timeout: timeout?,
        cache_ttl: cache_ttl?,
        cache_size: cache_size?,
        on_error: on_error?,
        web_url,
        tenant: tenant.flatten(),
        watch: watch?,
    })
}

const WHAT: &str = "superoffice";

/// `api:` or `tenant_lookup:`, at most one: `Some(None)` when neither is given, `None` when
/// what is given is wrong (reported).
fn root(d: &mut Decoder<'_>, entries: &Entries, node: &Node) -> Option<Option<ApiRoot>> {
    match (get(entries, "api"), get(entries, "tenant_lookup")) {
        (Some(n), None) => url(d, n, "api").map(|u| Some(ApiRoot::Fixed(u))),
        (None, Some(n)) => url(d, n, "tenant_lookup").map(|u| Some(ApiRoot::Lookup(u))),
        (Some(_), Some(_)) => {
            d.sink.error(
                node.pos,
                "superoffice: give `api` or `tenant_lookup`, not both",
            );
            None
        }
        (None, None) => Some(None),
    }
}

/// The root given, or with a system user the ticket's; without either, an error.
fn resolve_root(
    d: &mut Decoder<'_>,
    node: &Node,
    given: Option<ApiRoot>,
    auth: Option<&Auth>,
) -> Option<ApiRoot> {
    match (given, auth) {
        (Some(root), _) => Some(root),
        (None, Some(Auth::SystemUser(_))) => Some(ApiRoot::FromTicket),
        (None, Some(_)) => {
            d.sink.error(
                node.pos,
                "superoffice needs `api:` (the tenant's API root) or `tenant_lookup:`; only `auth: system_user` can do without, taking the ticket's API address",
            );
            None
        }
        (None, None) => None,
    }
}

fn url(d: &mut Decoder<'_>, n: &Node, key: &str) -> Option<Url> {
    let text = d.text(n, &format!("{WHAT}: {key}"))?;
    match Url::parse(text.trim_end_matches('/')) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
        _ => {
            d.sink
                .error(n.pos, format!("{WHAT}: {key} must be an http(s) URL"));
            None
        }
    }
}

/// `https://sod2.superoffice.com/Cust12345/api` is the API of the web client at
/// `https://sod2.superoffice.com/Cust12345`.
fn derived_web_url(root: &ApiRoot) -> Option<Url> {
    let ApiRoot::Fixed(api) = root else {
        return None;
    };
    let text = api.as_str().trim_end_matches('/');
    let web = text.strip_suffix("/api").unwrap_or(text);
    Url::parse(web).ok()
}

/// `webhook_name`, `watch_every`, `reactivate`, `sync_events`.
fn watch(d: &mut Decoder<'_>, entries: &Entries) -> Option<WatchSpec> {
    let name = match get(entries, "webhook_name") {
        Some(n) => d.text(n, &format!("{WHAT}: webhook_name")),
        None => Some("herald".to_string()),
    };
    let every = duration(d, entries, "watch_every", 300);
    let flag = |d: &mut Decoder<'_>, key: &str| match get(entries, key) {
        Some(n) => d.boolean(n, &format!("{WHAT}: {key}")),
        None => Some(false),
    };
    let reactivate = flag(d, "reactivate");
    let sync_events = flag(d, "sync_events");
    Some(WatchSpec {
        name: name?,
        every: every?,
        reactivate: reactivate?,
        sync_events: sync_events?,
    })
}

fn duration(d: &mut Decoder<'_>, entries: &Entries, key: &str, default: u64) -> Option<Duration> {
    match get(entries, key) {
        Some(n) => d.duration(n, &format!("{WHAT}: {key}")),
        None => Some(Duration::from_secs(default)),
    }
}

/// A whole number of at least 1, `default` when absent.
fn count(d: &mut Decoder<'_>, entries: &Entries, key: &str, default: usize) -> Option<usize> {
    let Some(n) = get(entries, key) else {
        return Some(default);
    };
    let text = d.text(n, &format!("{WHAT}: {key}"))?;
    match text.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Some(v),
        _ => {
            d.sink.error(
                n.pos,
                format!("{WHAT}: {key} must be a whole number of at least 1, found {text:?}"),
            );
            None
        }
    }
}

/// `on_enrichment_error: retry` (for `retry_for`, 15 minutes by default) or `send_without`.
fn on_error(d: &mut Decoder<'_>, entries: &Entries) -> Option<OnError> {
    let retry_for = duration(d, entries, "retry_for", 900);
    let Some(n) = get(entries, "on_enrichment_error") else {
        return retry_for.map(OnError::Retry);
    };
    match d
        .text(n, &format!("{WHAT}: on_enrichment_error"))
        .as_deref()
    {
        Some("retry") => retry_for.map(OnError::Retry),
        Some("send_without") => Some(OnError::SendWithout),
        Some(other) => {
            d.sink.error(
                n.pos,
                format!(
                    "{WHAT}: on_enrichment_error must be retry or send_without, found {other:?}"
                ),
            );
            None
        }
        None => None,
    }
}
