//! What each platform refuses, checked on a message before it is ever sent: `check` renders
//! every template against sample events and holds the result against these rules. Errors are
//! what the platform documents it refuses (or what herald would have to cut); warnings are
//! what it accepts but shows badly.

mod email;
mod slack;
mod teams;

use super::message::Message;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The platform refuses the message, or herald would cut it to fit.
    Error,
    /// Accepted, but likely not what was meant.
    Warning,
}

/// One thing wrong with a message, and the documented limit it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    fn error(message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            message: message.into(),
        }
    }

    fn warning(message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

/// Everything the message's platform would refuse or show badly. Webhook bodies are built as
/// JSON structures, so they are always valid JSON: nothing to check.
pub fn check(message: &Message) -> Vec<Finding> {
    match message {
        Message::Slack { body } => slack::check(body),
        Message::Teams { body } => teams::check(body),
        Message::Email(email) => email::check(email),
        Message::Webhook { .. } => Vec::new(),
    }
}

/// The number of characters, as the platforms count them.
fn chars(s: &str) -> usize {
    s.chars().count()
}
