//! `conversation:` on an action: decoded, its key compiled, and refused where the destination
//! cannot keep a conversation (a Slack incoming webhook, Teams, a plain webhook) or where it
//! would fight a digest.

use super::document::{Channels, Loader};
use crate::config::channel::Kind;
use crate::config::conversation;
use crate::config::decode::{Entries, get};
use crate::config::names::Needs;
use crate::config::noise::Noise;
use crate::config::yaml::Pos;
use crate::render::Escape;
use crate::rules::Talk;

impl Loader {
    /// The action's conversation, if it has one; `None` if it is wrong (reported).
    pub(super) fn conversation(
        &mut self,
        entries: &Entries,
        channel: &str,
        channels: &Channels,
        noise: &Noise,
        label: &str,
    ) -> Option<(Option<Talk>, Needs)> {
        let Some(node) = get(entries, "conversation") else {
            return Some((None, Needs::default()));
        };
        let spec = conversation::decode(&mut self.d(), node, label)?;
        if let Some(why) = refusal(channel, channels, noise) {
            self.sink
                .error(node.pos, format!("{label}: conversation: {why}"));
            return None;
        }
        let reads = self.reads(None);
        match self
            .renderer
            .compile(&spec.key.source, Escape::None, &|r| reads.known(r))
        {
            Ok(key) => Some((Some(Talk { spec, key }), reads.needs())),
            Err(problems) => {
                for p in problems {
                    let pos = Pos {
                        line: spec.key.pos.line + p.pos.line - 1,
                        column: spec.key.pos.column + p.pos.column - 1,
                    };
                    let message = format!("{label}: conversation: key: {}", p.message);
                    self.sink.error(pos, message);
                }
                None
            }
        }
    }
}

/// Why this channel cannot keep a conversation for this action, if it cannot.
fn refusal(channel: &str, channels: &Channels, noise: &Noise) -> Option<String> {
    if noise.digests() {
        return Some("cannot be combined with `digest:` or `throttle:` (a digest is one message for many events; a conversation is many messages for one)".into());
    }
    let spec = channels.specs.get(channel)?;
    match spec.kind() {
        Kind::Slack if spec.slack_app().is_some() => None,
        Kind::Email => None,
        Kind::Slack => Some(format!(
            "channel `{channel}` is a Slack incoming webhook, which returns no message id and so can neither edit its message nor reply in its thread; give the channel a Slack app's `token:` and `channel:` (README, \"Conversations\")"
        )),
        Kind::Teams => Some(format!(
            "channel `{channel}` is a Teams Workflows webhook, which cannot edit a message or reply in its thread; conversations are for Slack apps and email"
        )),
        Kind::Webhook => Some(format!(
            "channel `{channel}` is a webhook; conversations are for Slack apps and email (a webhook's receiver can thread by the key itself)"
        )),
    }
}
