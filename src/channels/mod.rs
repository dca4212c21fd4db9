//! Destinations: one file per kind behind one small trait. Each destination sends a rendered
//! message and says whether a failure is worth retrying; the retry loop lives in `delivery`.

pub mod email;
pub mod file;
pub mod json;
pub mod probe;
pub mod sent;
pub mod slack;
mod slack_api;
mod slack_users;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::channel::{ChannelSpec, Kind, KindSpec, SlackSpec};
use crate::config::conversation::Mode;
use crate::render::message::Message;
use json::JsonPost;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One message on its way: what to send, and the ids that name it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message: Message,
    pub event_id: String,
    pub rule: String,
    /// Email only: the addresses this message goes to, resolved for its event.
    pub recipients: Option<Box<crate::render::recipients::Addressed>>,
    /// Part of a conversation: where it stands.
    pub conversation: Option<Box<Turn>>,
}

/// A message's place in its conversation.
#[derive(Debug, Clone)]
pub struct Turn {
    pub key: String,
    pub mode: Mode,
    pub broadcast: bool,
    /// The conversation's first message, once posted.
    pub thread: Option<Thread>,
    /// False if a later step was already shown: an edit would turn the clock back.
    pub newest: bool,
}

/// A conversation's first message, as its destination names it: a Slack message (`ts` in a
/// channel), or an email (`Message-ID`, and the subject replies keep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub id: String,
    pub place: String,
    pub subject: String,
}

/// What a destination said when it took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// HTTP status or SMTP reply code; none for files.
    pub status: Option<u16>,
    pub detail: String,
    /// A conversation's first message was posted (again): where it is now.
    pub thread: Option<Thread>,
}

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Timeouts, connection errors, 429, 5xx, SMTP 4xx.
    #[error("{reason}")]
    Retryable {
        reason: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// Other 4xx, SMTP 5xx, a bad address, a message the platform refuses.
    #[error("{reason}")]
    Permanent { reason: String, status: Option<u16> },
}

impl SendError {
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Retryable { status, .. } | SendError::Permanent { status, .. } => *status,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Retryable { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } => None,
        }
    }
}

/// The loader pairs each channel with templates of its kind; a mismatch is a bug.
pub(crate) fn wrong_message(kind: Kind) -> SendError {
    SendError::Permanent {
        reason: format!("internal error: a message not made for {}", kind.as_str()),
        status: None,
    }
}

/// A destination. Implementations classify their own failures.
pub trait Destination: Send + Sync {
    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>>;

    /// The request `send` makes for this message, to keep as what was sent (before cutting
    /// and redaction, which the caller does).
    fn sent(&self, out: &Outgoing) -> sent::Sent;

    /// The Slack user with this address, for `{{slack_mention}}`: only a Slack app (a bot
    /// token) can ask; every other destination knows nobody.
    fn slack_user<'a>(&'a self, _email: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("channel `{channel}`: cannot set up SMTP: {reason}")]
    Smtp { channel: String, reason: String },
    #[error("cannot send anything")]
    Http(#[from] crate::http::ClientError),
}

/// Builds the destination a channel definition describes; each sender gets its own settings.
pub fn build(
    spec: &ChannelSpec,
    client: &reqwest::Client,
) -> Result<Arc<dyn Destination>, BuildError> {
    let (name, timeout) = (spec.name.as_str(), spec.timeout);
    let destination: Arc<dyn Destination> = match &spec.kind {
        KindSpec::Slack(SlackSpec::Webhook(endpoint)) => Arc::new(JsonPost::platform(
            Kind::Slack,
            name,
            endpoint,
            timeout,
            client,
        )),
        KindSpec::Slack(SlackSpec::App(app)) => {
            Arc::new(slack::SlackApp::new(name, app, timeout, client))
        }
        KindSpec::Teams(endpoint) => Arc::new(JsonPost::platform(
            Kind::Teams,
            name,
            endpoint,
            timeout,
            client,
        )),
        KindSpec::Webhook(webhook) => Arc::new(JsonPost::webhook(name, webhook, timeout, client)),
        KindSpec::Email(email) => Arc::new(email::Email::new(name, timeout, email)?),
    };
    Ok(destination)
}
