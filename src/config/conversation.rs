//! `conversation:` on an action: one conversation per key (a quote), so a deal's story is in one
//! place. On a Slack app channel the first message is posted and later ones edit it (`update`),
//! reply in its thread (`thread`), or both (`update_and_thread`); by email later messages reply
//! in the first one's thread.
//!
//! ```yaml
//! conversation: { key: "quote-{{PrimaryKey}}", mode: update_and_thread, keep: 90d }
//! ```

use std::time::Duration;

use super::decode::{Decoder, get};
use super::noise::KeyTemplate;
use super::yaml::Node;

#[derive(Debug, Clone)]
pub struct Conversation {
    /// A template: one conversation per value.
    pub key: KeyTemplate,
    pub mode: Mode,
    /// `thread` replies are also shown in the channel (`reply_broadcast`).
    pub broadcast: bool,
    /// How long a conversation is remembered after its last message.
    pub keep: Duration,
}

/// What later messages of a conversation do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Edit the first message: the channel shows one up-to-date message per key.
    Update,
    /// Reply in the first message's thread.
    Thread,
    /// Edit the first message to the latest state, and reply in its thread with each step.
    UpdateAndThread,
}

impl Mode {
    pub const NAMES: [&'static str; 3] = ["update", "thread", "update_and_thread"];

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "update" => Some(Mode::Update),
            "thread" => Some(Mode::Thread),
            "update_and_thread" => Some(Mode::UpdateAndThread),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Mode::NAMES[self as usize]
    }

    /// True if later messages edit the first.
    pub fn updates(self) -> bool {
        matches!(self, Mode::Update | Mode::UpdateAndThread)
    }

    /// True if later messages reply in the first's thread.
    pub fn replies(self) -> bool {
        matches!(self, Mode::Thread | Mode::UpdateAndThread)
    }
}

/// How long a conversation is remembered by default: a quote's life, comfortably.
pub const KEEP: Duration = Duration::from_secs(90 * 86_400);

/// Reads `conversation:`; `None` if it is wrong (reported).
pub fn decode(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Conversation> {
    let what = format!("{what}: conversation");
    let entries = d.map(node, &what)?;
    d.only_keys(entries, &["key", "mode", "broadcast", "keep"], &what);
    let key = match get(entries, "key") {
        Some(n) => d
            .text(n, &format!("{what}: key"))
            .map(|source| KeyTemplate { source, pos: n.pos }),
        None => {
            let message = format!(
                "{what} needs `key:`, a template naming the conversation, like \"quote-{{{{PrimaryKey}}}}\""
            );
            d.sink.error(node.pos, message);
            None
        }
    };
    let mode = match get(entries, "mode") {
        Some(n) => mode(d, n, &what),
        None => Some(Mode::Update),
    };
    let broadcast = match get(entries, "broadcast") {
        Some(n) => d.boolean(n, &format!("{what}: broadcast")),
        None => Some(false),
    };
    let keep = match get(entries, "keep") {
        Some(n) => d.duration(n, &format!("{what}: keep")),
        None => Some(KEEP),
    };
    Some(Conversation {
        key: key?,
        mode: mode?,
        broadcast: broadcast?,
        keep: keep?,
    })
}

fn mode(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Mode> {
    let text = d.text(node, &format!("{what}: mode"))?;
    let mode = Mode::parse(&text);
    if mode.is_none() {
        let message = format!(
            "{what}: mode must be one of update, thread, update_and_thread{}, found {text:?}",
            super::diag::did_you_mean(&text, Mode::NAMES)
        );
        d.sink.error(node.pos, message);
    }
    mode
}
