//! Decoding a channel definition from the positioned YAML tree, every problem reported.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::endpoint::endpoint;
use super::recipient::{self, AllowedDomains};
use super::smtp::{self, mailbox};
use super::{ChannelSpec, EmailSpec, Kind, KindSpec, WebhookSpec};
use crate::config::decode::{Decoder, Entries, get};
use crate::config::diag::did_you_mean;
use crate::config::noise;
use crate::config::retry::RetryPolicy;
use crate::config::yaml::Node;
use crate::secret::Secret;

const COMMON_KEYS: &[&str] = &[
    "type",
    "timeout",
    "failing_after",
    "pace",
    "retry",
    "digest",
    "throttle",
    "active_hours",
];
const HTTP_KEYS: &[&str] = &["url"];
const SLACK_KEYS: &[&str] = &["url", "token", "channel", "api_url"];
const WEBHOOK_KEYS: &[&str] = &["url", "method", "headers"];
const EMAIL_KEYS: &[&str] = &[
    "smtp",
    "from",
    "to",
    "cc",
    "reply_to",
    "subject",
    "allowed_domains",
];

/// The keys a channel of this kind may have: the common ones and its own.
pub fn keys(kind: Kind) -> Vec<&'static str> {
    let own = match kind {
        Kind::Slack => SLACK_KEYS,
        Kind::Teams => HTTP_KEYS,
        Kind::Webhook => WEBHOOK_KEYS,
        Kind::Email => EMAIL_KEYS,
    };
    COMMON_KEYS.iter().chain(own).copied().collect()
}

/// Decodes one channel; `None` when it has problems (all of them reported).
pub fn decode(d: &mut Decoder<'_>, name: &str, node: &Node) -> Option<ChannelSpec> {
    let what = format!("channel `{name}`");
    let entries = d.map(node, &what)?;
    let kind = kind(d, entries, node, &what)?;
    d.only_keys(entries, &keys(kind), &what);
    let before = d.sink.items.len();
    let timeout = match get(entries, "timeout") {
        Some(n) => d.duration(n, &format!("{what}: timeout")),
        None => Some(Duration::from_secs(10)),
    };
    let failing_after = match get(entries, "failing_after") {
        Some(n) => d.duration(n, &format!("{what}: failing_after")),
        None => Some(Duration::from_secs(600)),
    };
    // The platforms' own limits: Slack about 1 a second per webhook, Teams about 4.
    let default_pace = match kind {
        Kind::Slack => Pace::PerSecond(1.0),
        Kind::Teams => Pace::PerSecond(4.0),
        Kind::Email | Kind::Webhook => Pace::Off,
    };
    let pace = match get(entries, "pace") {
        Some(n) => pace(d, n, &what),
        None => Some(default_pace),
    };
    let retry = match get(entries, "retry") {
        Some(n) => retry(d, n, &what),
        None => Some(RetryPolicy::default()),
    };
    let noise = noise::decode(d, entries, &what);
    let spec = kind_spec(d, kind, entries, node, &what);
    if d.sink.items.len() != before {
        return None;
    }
    Some(ChannelSpec {
        name: name.to_string(),
        timeout: timeout?,
        failing_after: failing_after?,
        pace: pace?.rate(),
        retry: retry?,
        noise: noise?,
        kind: spec?,
    })
}

/// The channel's `type:`.
fn kind(d: &mut Decoder<'_>, entries: &Entries, node: &Node, what: &str) -> Option<Kind> {
    let Some(type_node) = get(entries, "type") else {
        d.sink.error(
            node.pos,
            format!("{what} needs a `type`: one of slack, teams, email, webhook"),
        );
        return None;
    };
    let type_name = d.text(type_node, &format!("{what}: type"))?;
    let kind = Kind::parse(&type_name);
    if kind.is_none() {
        d.sink.error(
            type_node.pos,
            format!(
                "{what}: unknown type `{type_name}`{}; expected one of: slack, teams, email, webhook",
                did_you_mean(&type_name, Kind::NAMES)
            ),
        );
    }
    kind
}

fn kind_spec(
    d: &mut Decoder<'_>,
    kind: Kind,
    entries: &Entries,
    node: &Node,
    what: &str,
) -> Option<KindSpec> {
    match kind {
        Kind::Slack => super::slack::decode(d, entries, node, what).map(KindSpec::Slack),
        Kind::Teams => endpoint(d, entries, node, what).map(KindSpec::Teams),
        Kind::Webhook => webhook(d, entries, node, what).map(KindSpec::Webhook),
        Kind::Email => email(d, entries, node, what).map(KindSpec::Email),
    }
}

/// A channel's `pace:`: at most so many messages a second, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pace {
    Off,
    PerSecond(f64),
}

impl Pace {
    fn rate(self) -> Option<f64> {
        match self {
            Pace::Off => None,
            Pace::PerSecond(r) => Some(r),
        }
    }
}

/// `off`, `N/s` or `N/m`.
fn pace(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Pace> {
    let text = d.text(node, &format!("{what}: pace"))?;
    if text.trim() == "off" {
        return Some(Pace::Off);
    }
    let parsed = text.split_once('/').and_then(|(n, unit)| {
        let n: f64 = n.trim().parse().ok().filter(|n: &f64| n.is_finite())?;
        let rate = match unit.trim() {
            "s" => n,
            "m" => n / 60.0,
            "h" => n / 3600.0,
            _ => return None,
        };
        // Between one an hour and ten thousand a second: anything else is a typo.
        (1.0 / 3600.0..=10_000.0).contains(&rate).then_some(rate)
    });
    if parsed.is_none() {
        d.sink.error(
            node.pos,
            format!("{what}: pace must be like 1/s, 30/m or off (between 1/h and 10000/s), found {text:?}"),
        );
    }
    parsed.map(Pace::PerSecond)
}

/// `retry: { delays: [10s, 30s, 2m], then: 1h, give_up_after: 24h, max_retry_after: 1h }`;
/// each key optional.
fn retry(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<RetryPolicy> {
    let what = format!("{what}: retry");
    let entries = d.map(node, &what)?;
    d.only_keys(
        entries,
        &["delays", "then", "give_up_after", "max_retry_after"],
        &what,
    );
    let mut policy = RetryPolicy::default();
    let before = d.sink.items.len();
    if let Some(n) = get(entries, "delays")
        && let Some(items) = d.list(n, &format!("{what}: delays"))
    {
        policy.delays = items
            .iter()
            .filter_map(|i| d.duration(i, &format!("{what}: delays")))
            .collect();
    }
    if let Some(n) = get(entries, "then") {
        policy.then = d
            .duration(n, &format!("{what}: then"))
            .unwrap_or(policy.then);
    }
    if let Some(n) = get(entries, "give_up_after") {
        policy.give_up_after = d
            .duration(n, &format!("{what}: give_up_after"))
            .unwrap_or(policy.give_up_after);
    }
    if let Some(n) = get(entries, "max_retry_after") {
        policy.max_retry_after = d
            .duration(n, &format!("{what}: max_retry_after"))
            .unwrap_or(policy.max_retry_after);
    }
    (d.sink.items.len() == before).then_some(policy)
}

fn webhook(d: &mut Decoder<'_>, entries: &Entries, node: &Node, what: &str) -> Option<WebhookSpec> {
    let endpoint = endpoint(d, entries, node, what);
    let method = match get(entries, "method") {
        Some(n) => method(d, n, what),
        None => Some(reqwest::Method::POST),
    };
    let headers = match get(entries, "headers") {
        Some(n) => headers(d, n, what),
        None => Some(Vec::new()),
    };
    Some(WebhookSpec {
        endpoint: endpoint?,
        method: method?,
        headers: headers?,
    })
}

fn method(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<reqwest::Method> {
    let m = d.text(node, &format!("{what}: method"))?;
    match m.to_ascii_uppercase().as_str() {
        "POST" => Some(reqwest::Method::POST),
        "PUT" => Some(reqwest::Method::PUT),
        "PATCH" => Some(reqwest::Method::PATCH),
        _ => {
            d.sink.error(
                node.pos,
                format!("{what}: method must be POST, PUT or PATCH, found {m:?}"),
            );
            None
        }
    }
}

/// Header names and values; values may hold tokens, so they are secrets.
fn headers(
    d: &mut Decoder<'_>,
    node: &Node,
    what: &str,
) -> Option<Vec<(HeaderName, Secret<HeaderValue>)>> {
    let entries = d.map(node, &format!("{what}: headers"))?;
    let before = d.sink.items.len();
    let mut out = Vec::new();
    for (key, value) in entries {
        let Ok(name) = HeaderName::from_bytes(key.name.as_bytes()) else {
            d.sink.error(
                key.pos,
                format!("{what}: `{}` is not a valid header name", key.name),
            );
            continue;
        };
        let Some(text) = d.text(value, &format!("{what}: header {}", key.name)) else {
            continue;
        };
        match HeaderValue::from_str(&text) {
            Ok(mut v) => {
                v.set_sensitive(true);
                out.push((name, Secret::new(v)));
            }
            Err(_) => d.sink.error(
                value.pos,
                format!(
                    "{what}: header {} has characters a header cannot carry",
                    key.name
                ),
            ),
        }
    }
    (d.sink.items.len() == before).then_some(out)
}

fn email(d: &mut Decoder<'_>, entries: &Entries, node: &Node, what: &str) -> Option<EmailSpec> {
    let transport = match get(entries, "smtp") {
        Some(n) => smtp::transport(d, n, what),
        None => {
            d.sink.error(
                node.pos,
                format!("{what} needs `smtp`: smtps://user:pass@host:465, smtp://user:pass@host:587, or file://DIR"),
            );
            None
        }
    };
    let from = match get(entries, "from") {
        Some(n) => mailbox(d, n, &format!("{what}: from")),
        None => {
            d.sink
                .error(node.pos, format!("{what} needs `from`: the sender address"));
            None
        }
    };
    let list = |d: &mut Decoder<'_>, key: &str| match get(entries, key) {
        Some(n) => recipient::recipients(d, n, &format!("{what}: {key}")),
        None => Some(Vec::new()),
    };
    let (to, cc) = (list(d, "to"), list(d, "cc"));
    let allowed_domains = match get(entries, "allowed_domains") {
        Some(n) => recipient::allowed_domains(d, n, &format!("{what}: allowed_domains")),
        None => Some(AllowedDomains::default()),
    };
    if let (Some(to), Some(cc), Some(allowed)) = (&to, &cc, &allowed_domains) {
        let lists: Vec<(&str, &Node, &[recipient::Recipient])> = [("to", to), ("cc", cc)]
            .into_iter()
            .filter_map(|(k, l)| Some((k, get(entries, k)?, l.as_slice())))
            .collect();
        recipient::check_fixed(d, &lists, allowed, what);
    }
    let reply_to = match get(entries, "reply_to") {
        Some(n) => Some(mailbox(d, n, &format!("{what}: reply_to"))?),
        None => None,
    };
    let subject = match get(entries, "subject") {
        Some(n) => Some(d.text(n, &format!("{what}: subject"))?),
        None => None,
    };
    Some(EmailSpec {
        transport: transport?,
        from: from?,
        to: to?,
        cc: cc?,
        allowed_domains: allowed_domains?,
        reply_to,
        subject,
    })
}
