//! What `simulate` found, as a type: `--json` serialises it, the human form prints it.

use serde::Serialize;

use crate::channels::Outgoing;

use crate::event::Event;
use crate::render::message::Message;
use crate::rules::{Action, RuleSet};

#[derive(Debug, Serialize)]
pub struct Report {
    pub event: EventRef,
    pub rules: Vec<RuleReport>,
}

#[derive(Debug, Serialize)]
pub struct EventRef {
    pub id: String,
    pub name: String,
}

impl Report {
    pub fn new(event: &Event, rules: Vec<RuleReport>) -> Report {
        Report {
            event: EventRef {
                id: event.id().to_string(),
                name: event.name().to_string(),
            },
            rules,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RuleReport {
    pub rule: String,
    #[serde(flatten)]
    pub outcome: RuleOutcome,
}

#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RuleOutcome {
    Match {
        messages: Vec<MessageReport>,
    },
    NoMatch {
        reason: String,
    },
    /// An earlier matching rule had `stop: true`.
    NotEvaluated {
        reason: String,
    },
    /// The SuperOffice API refused.
    Error {
        reason: String,
    },
}

/// One action's message, or why it could not be made.
#[derive(Debug, Serialize)]
pub struct MessageReport {
    pub channel: String,
    pub kind: &'static str,
    /// The action's template folder; `None` for inline `text:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Shown>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What `digest:`, `throttle:`, `active_hours:` and `conversation:` would do with it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Noise control's decision, for an action with `digest:`, `throttle:` or `active_hours:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// What noise control does with a message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Sent at once.
    Now,
    /// Held until working hours open.
    Held,
    /// Collected into a digest (its first messages may still go at once).
    Digest,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Now => "now",
            Decision::Held => "held",
            Decision::Digest => "digest",
        }
    }
}

/// A message as the destination would get it; for email, with its addresses.
#[derive(Debug, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub message: Message,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Addresses>,
}

#[derive(Debug, Serialize)]
pub struct Addresses {
    pub from: String,
    pub to: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    /// Recipients that gave no address, or that `allowed_domains` refused, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl Addresses {
    /// The sender and recipients of an email message, as resolved for its event.
    pub fn of(config: &RuleSet, action: &Action, outgoing: &Outgoing) -> Option<Addresses> {
        let email = config.channels.get(&action.channel)?.email()?;
        let rcpt = outgoing.recipients.as_deref()?;
        let shown = |l: &[lettre::message::Mailbox]| l.iter().map(ToString::to_string).collect();
        Some(Addresses {
            from: email.from.to_string(),
            to: shown(&rcpt.to),
            cc: shown(&rcpt.cc),
            skipped: rcpt.notes_text(),
        })
    }
}
