//! Channel definitions in `rules.yaml`: where messages go, checked at load.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use super::decode::{Decoder, Entries, get};
use super::yaml::Node;
use crate::config::retry::RetryPolicy;
use crate::secret::Secret;

/// The kinds of destination herald can deliver to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Slack,
    Teams,
    Email,
    Webhook,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "slack" => Some(Kind::Slack),
            "teams" => Some(Kind::Teams),
            "email" => Some(Kind::Email),
            "webhook" => Some(Kind::Webhook),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::Email => "email",
            Kind::Webhook => "webhook",
        }
    }
}

/// A checked channel definition. Building the sender from it cannot fail on its content.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub name: String,
    pub kind: Kind,
    pub target: Target,
    pub timeout: Duration,
    /// Webhook only.
    pub method: reqwest::Method,
    /// Webhook only. Values may hold tokens, so they are secrets.
    pub headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    /// Email only.
    pub email: Option<EmailSpec>,
    /// Messages per second at most; `None` is unpaced.
    pub pace: Option<f64>,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone)]
pub enum Target {
    /// The whole URL is a secret: Slack's path and Teams' `sig=` are the credentials.
    Http(Secret<Url>),
    Smtp(SmtpSpec),
    /// `file://DIR`: the exact bytes herald would have sent, one file per message.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct EmailSpec {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte (port 465).
    Implicit,
    /// `smtp://` to anything but loopback: STARTTLS, required.
    StartTls,
    /// `smtp://` to a loopback address: no TLS.
    Plain,
}

#[derive(Debug, Clone)]
pub struct SmtpSpec {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<(String, Secret<String>)>,
}

const HTTP_KEYS: &[&str] = &["type", "timeout", "pace", "retry", "url"];
const WEBHOOK_KEYS: &[&str] = &[
    "type", "timeout", "pace", "retry", "url", "method", "headers",
];
const EMAIL_KEYS: &[&str] = &[
    "type", "timeout", "pace", "retry", "smtp", "from", "to", "cc", "reply_to", "subject",
];

/// Decodes one channel; `None` when it has problems (all of them reported).
pub fn decode(d: &mut Decoder<'_>, name: &str, node: &Node) -> Option<ChannelSpec> {
    let what = format!("channel `{name}`");
    let entries = d.map(node, &what)?;
    let Some(type_node) = get(entries, "type") else {
        d.sink.error(
            node.pos,
            format!("{what} needs a `type`: one of slack, teams, email, webhook"),
        );
        return None;
    };
    let type_name = d.text(type_node, &format!("{what}: type"))?;
    let Some(kind) = Kind::parse(&type_name) else {
        d.sink.error(
            type_node.pos,
            format!(
                "{what}: unknown type `{type_name}`{}; expected one of: slack, teams, email, webhook",
                super::diag::did_you_mean(&type_name, ["slack", "teams", "email", "webhook"])
            ),
        );
        return None;
    };
    let allowed = match kind {
        Kind::Slack | Kind::Teams => HTTP_KEYS,
        Kind::Webhook => WEBHOOK_KEYS,
        Kind::Email => EMAIL_KEYS,
    };
    d.only_keys(entries, allowed, &what);
    let before = d.sink.items.len();
    let timeout = match get(entries, "timeout") {
        Some(n) => d.duration(n, &format!("{what}: timeout")),
        None => Some(Duration::from_secs(10)),
    };
    let mut spec = ChannelSpec {
        name: name.to_string(),
        kind,
        target: Target::File(PathBuf::new()),
        timeout: timeout.unwrap_or_default(),
        method: reqwest::Method::POST,
        headers: Vec::new(),
        email: None,
        pace: match kind {
            // The platforms' own limits: Slack about 1 a second per webhook, Teams about 4.
            Kind::Slack => Some(1.0),
            Kind::Teams => Some(4.0),
            Kind::Email | Kind::Webhook => None,
        },
        retry: RetryPolicy::default(),
    };
    if let Some(n) = get(entries, "pace")
        && let Some(pace) = pace(d, n, &what)
    {
        spec.pace = pace;
    }
    if let Some(n) = get(entries, "retry")
        && let Some(policy) = retry(d, n, &what)
    {
        spec.retry = policy;
    }
    match kind {
        Kind::Slack | Kind::Teams | Kind::Webhook => {
            if let Some(target) = http_target(d, entries, node, &what) {
                spec.target = target;
            }
            if kind == Kind::Webhook {
                webhook_extras(d, entries, &what, &mut spec);
            }
        }
        Kind::Email => {
            match get(entries, "smtp") {
                Some(n) => {
                    if let Some(t) = smtp_target(d, n, &what) {
                        spec.target = t;
                    }
                }
                None => d.sink.error(
                    node.pos,
                    format!("{what} needs `smtp`: smtps://user:pass@host:465, smtp://user:pass@host:587, or file://DIR"),
                ),
            }
            spec.email = email_spec(d, entries, node, &what);
        }
    }
    (d.sink.items.len() == before).then_some(spec)
}

/// `off`, `N/s` or `N/m`.
fn pace(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Option<f64>> {
    let text = d.text(node, &format!("{what}: pace"))?;
    if text.trim() == "off" {
        return Some(None);
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
    parsed.map(Some)
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

fn http_target(d: &mut Decoder<'_>, entries: &Entries, node: &Node, what: &str) -> Option<Target> {
    let Some(url_node) = get(entries, "url") else {
        d.sink
            .error(node.pos, format!("{what} needs a `url` (or file://DIR)"));
        return None;
    };
    let raw = d.text(url_node, &format!("{what}: url"))?;
    if let Some(dir) = file_dir(&raw) {
        return Some(Target::File(dir));
    }
    match Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Some(Target::Http(Secret::new(url)))
        }
        // The URL itself may be a secret: name the problem, never the value.
        Ok(url) => {
            d.sink.error(
                url_node.pos,
                format!(
                    "{what}: url must be http(s)://… or file://DIR, not {}://",
                    url.scheme()
                ),
            );
            None
        }
        Err(e) => {
            d.sink
                .error(url_node.pos, format!("{what}: url does not parse: {e}"));
            None
        }
    }
}

/// `file://outbox` and `file:///var/spool/herald` name folders.
fn file_dir(raw: &str) -> Option<PathBuf> {
    raw.strip_prefix("file://")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

fn webhook_extras(d: &mut Decoder<'_>, entries: &Entries, what: &str, spec: &mut ChannelSpec) {
    if let Some(n) = get(entries, "method")
        && let Some(m) = d.text(n, &format!("{what}: method"))
    {
        match m.to_ascii_uppercase().as_str() {
            "POST" => spec.method = reqwest::Method::POST,
            "PUT" => spec.method = reqwest::Method::PUT,
            "PATCH" => spec.method = reqwest::Method::PATCH,
            _ => d.sink.error(
                n.pos,
                format!("{what}: method must be POST, PUT or PATCH, found {m:?}"),
            ),
        }
    }
    let Some(n) = get(entries, "headers") else {
        return;
    };
    let Some(headers) = d.map(n, &format!("{what}: headers")) else {
        return;
    };
    for (key, value) in headers {
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
                spec.headers.push((name, Secret::new(v)));
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
}

fn smtp_target(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Target> {
    let raw = d.text(node, &format!("{what}: smtp"))?;
    if let Some(dir) = file_dir(&raw) {
        return Some(Target::File(dir));
    }
    let url = match Url::parse(&raw) {
        Ok(u) => u,
        Err(e) => {
            d.sink.error(
                node.pos,
                format!("{what}: smtp does not parse as a URL: {e}"),
            );
            return None;
        }
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()).map(str::to_string) else {
        d.sink
            .error(node.pos, format!("{what}: smtp URL needs a host"));
        return None;
    };
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let (security, default_port) = match url.scheme() {
        "smtps" => (Security::Implicit, 465),
        "smtp" if loopback => (Security::Plain, 25),
        "smtp" => (Security::StartTls, 587),
        other => {
            d.sink.error(
                node.pos,
                format!("{what}: smtp URL must start smtps:// (TLS, port 465), smtp:// (STARTTLS, port 587; plain on loopback) or file://, not {other}://"),
            );
            return None;
        }
    };
    let credentials = if url.username().is_empty() {
        None
    } else {
        let user = percent_decode(url.username());
        let pass = percent_decode(url.password().unwrap_or(""));
        Some((user, Secret::new(pass)))
    };
    Some(Target::Smtp(SmtpSpec {
        host: host.trim_matches(['[', ']']).to_string(),
        port: url.port().unwrap_or(default_port),
        security,
        credentials,
    }))
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn mailbox(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Mailbox> {
    let text = d.text(node, what)?;
    match text.parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(e) => {
            d.sink.error(
                node.pos,
                format!("{what}: {text:?} is not an email address: {e}"),
            );
            None
        }
    }
}

pub fn mailboxes(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Vec<Mailbox>> {
    let items = d.texts(node, what)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (item, _) in items {
        match mailbox(d, item, what) {
            Some(m) => out.push(m),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn email_spec(
    d: &mut Decoder<'_>,
    entries: &Entries,
    node: &Node,
    what: &str,
) -> Option<EmailSpec> {
    let from = match get(entries, "from") {
        Some(n) => mailbox(d, n, &format!("{what}: from")),
        None => {
            d.sink
                .error(node.pos, format!("{what} needs `from`: the sender address"));
            None
        }
    };
    let to = match get(entries, "to") {
        Some(n) => mailboxes(d, n, &format!("{what}: to")),
        None => Some(Vec::new()),
    };
    let cc = match get(entries, "cc") {
        Some(n) => mailboxes(d, n, &format!("{what}: cc")),
        None => Some(Vec::new()),
    };
    let reply_to = match get(entries, "reply_to") {
        Some(n) => Some(mailbox(d, n, &format!("{what}: reply_to"))?),
        None => None,
    };
    let subject = match get(entries, "subject") {
        Some(n) => Some(d.text(n, &format!("{what}: subject"))?),
        None => None,
    };
    Some(EmailSpec {
        from: from?,
        to: to?,
        cc: cc?,
        reply_to,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_stray_percents() {
        assert_eq!(percent_decode("p%40ss%2Fw"), "p@ss/w");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
