//! Channel definitions in `rules.yaml`: where messages go, checked at load. Each kind of
//! destination has its own settings ([`KindSpec`]), so a sender receives exactly what it needs
//! and nothing the loader did not check.

mod decode;
mod endpoint;
mod recipient;
mod slack;
mod smtp;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use crate::config::noise::Noise;
use crate::config::retry::RetryPolicy;
use crate::secret::{Redactor, Secret};

pub use decode::{decode, keys};
pub use recipient::{AllowedDomains, Recipient, check_fixed, recipients};
pub use smtp::mailbox;

/// The kinds of destination herald can deliver to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Slack,
    Teams,
    Email,
    Webhook,
}

impl Kind {
    pub const NAMES: [&'static str; 4] = ["slack", "teams", "email", "webhook"];

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
    /// Per attempt.
    pub timeout: Duration,
    /// Every attempt failing for this long raises `herald.channel.failing`.
    pub failing_after: Duration,
    /// Messages per second at most; `None` is unpaced.
    pub pace: Option<f64>,
    pub retry: RetryPolicy,
    /// Digests, throttles and working hours for every action that uses the channel.
    pub noise: Noise,
    pub kind: KindSpec,
}

/// What each kind of destination needs.
#[derive(Debug, Clone)]
pub enum KindSpec {
    Slack(SlackSpec),
    Teams(Endpoint),
    Webhook(WebhookSpec),
    Email(EmailSpec),
}

impl ChannelSpec {
    pub fn kind(&self) -> Kind {
        match self.kind {
            KindSpec::Slack(_) => Kind::Slack,
            KindSpec::Teams(_) => Kind::Teams,
            KindSpec::Webhook(_) => Kind::Webhook,
            KindSpec::Email(_) => Kind::Email,
        }
    }

    /// What of a channel must never be printed: the whole URL of an HTTP destination and each
    /// part of it a destination might echo, SMTP passwords and what AUTH makes of them, header
    /// values and the tokens in them.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        let endpoint = match &self.kind {
            KindSpec::Slack(SlackSpec::Webhook(e)) | KindSpec::Teams(e) => Some(e),
            KindSpec::Slack(SlackSpec::App(_)) | KindSpec::Email(_) => None,
            KindSpec::Webhook(w) => Some(&w.endpoint),
        };
        if let KindSpec::Slack(SlackSpec::App(app)) = &self.kind {
            let token = app.token.expose();
            out.push(token.clone());
            out.extend(Redactor::header_parts(&format!("Bearer {token}")));
        }
        if let Some(Endpoint::Http(url)) = endpoint {
            let url = url.expose();
            out.push(url.to_string());
            if url.path().len() > 1 {
                out.push(url.path().to_string());
            }
            out.extend(url.query().map(str::to_string));
            out.extend(Redactor::url_parts(url));
        }
        if let KindSpec::Webhook(w) = &self.kind {
            for value in w
                .headers
                .iter()
                .filter_map(|(_, v)| v.expose().to_str().ok())
            {
                out.push(value.to_string());
                out.extend(Redactor::header_parts(value));
            }
        }
        if let Some(EmailSpec {
            transport: MailTransport::Smtp(smtp),
            ..
        }) = self.email()
            && let Some((user, pass)) = &smtp.credentials
        {
            out.push(pass.expose().clone());
            out.extend(Redactor::smtp_parts(user, pass.expose()));
        }
        out
    }

    /// The Slack app settings, for a Slack channel with a bot token.
    pub fn slack_app(&self) -> Option<&SlackApp> {
        match &self.kind {
            KindSpec::Slack(SlackSpec::App(app)) => Some(app),
            _ => None,
        }
    }

    /// The email settings, for an email channel.
    pub fn email(&self) -> Option<&EmailSpec> {
        match &self.kind {
            KindSpec::Email(e) => Some(e),
            _ => None,
        }
    }
}

/// Where an HTTP destination's messages go.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The whole URL is a secret: Slack's path and Teams' `sig=` are the credentials.
    Http(Secret<Url>),
    /// `file://DIR`: the exact bytes herald would have sent, one file per message.
    File(PathBuf),
}

/// A Slack channel: an incoming webhook (it can only post), or a Slack app's bot token (it can
/// also edit its messages and reply in their threads, which conversations need).
#[derive(Debug, Clone)]
pub enum SlackSpec {
    Webhook(Endpoint),
    App(SlackApp),
}

#[derive(Debug, Clone)]
pub struct SlackApp {
    /// The bot token (`xoxb-…`).
    pub token: Secret<String>,
    /// A channel ID (`C0123456789`), or `#name`, looked up once with `conversations.list`.
    pub channel: String,
    /// The Web API's base (`https://slack.com/api`), or `file://DIR` for the calls' bodies.
    pub api: Endpoint,
}

/// Slack's Web API.
pub const SLACK_API: &str = "https://slack.com/api";

#[derive(Debug, Clone)]
pub struct WebhookSpec {
    pub endpoint: Endpoint,
    pub method: reqwest::Method,
    /// Values may hold tokens, so they are secrets.
    pub headers: Vec<(HeaderName, Secret<HeaderValue>)>,
}

#[derive(Debug, Clone)]
pub struct EmailSpec {
    pub transport: MailTransport,
    pub from: Mailbox,
    /// Addresses, or templates that give one per event (`"{{owner.email}}"`).
    pub to: Vec<Recipient>,
    pub cc: Vec<Recipient>,
    /// The domains mail may go to (empty: any), enforced on every address when sent.
    pub allowed_domains: AllowedDomains,
    pub reply_to: Option<Mailbox>,
    /// The subject template for inline `text:` actions.
    pub subject: Option<String>,
}

#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(SmtpSpec),
    /// `file://DIR`: `.eml` files.
    File(PathBuf),
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
