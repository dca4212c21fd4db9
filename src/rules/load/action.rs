//! `notify:`: each action names a channel and a message, from a template folder or inline
//! `text:`, with email's own `to:` and `subject:`.

use std::sync::Arc;

use super::Shape;
use super::document::{Channels, Loader};
use crate::config::channel::Kind;
use crate::config::decode::{Entries, get};
use crate::config::diag::did_you_mean;
use crate::config::names::Needs;
use crate::config::noise::{self, Noise};
use crate::config::yaml::Node;
use crate::render::message::MessageTemplate;
use crate::render::{Escape, Text};
use crate::rules::Action;

const ACTION_KEYS: &[&str] = &[
    "channel",
    "template",
    "text",
    "subject",
    "to",
    "cc",
    "conversation",
];

impl Loader {
    pub(super) fn actions(
        &mut self,
        node: &Node,
        label: &str,
        channels: &Channels,
    ) -> Option<Vec<Action>> {
        let items = self.d().list(node, &format!("{label}: notify"))?;
        if items.is_empty() {
            self.sink
                .error(node.pos, format!("{label}: notify is empty"));
            return None;
        }
        let parsed: Vec<Option<Action>> = items
            .iter()
            .map(|item| self.action(item, label, channels))
            .collect();
        parsed.into_iter().collect()
    }

    fn action(&mut self, node: &Node, label: &str, channels: &Channels) -> Option<Action> {
        let entries = self.d().map(node, &format!("{label}: a notify entry"))?;
        let allowed: Vec<&str> = ACTION_KEYS.iter().chain(&noise::KEYS).copied().collect();
        self.d()
            .only_keys(entries, &allowed, &format!("{label}: notify entry"));
        let (channel, kind) = self.action_channel(entries, node, label, channels)?;
        let subject = match self.email_only(entries, "subject", kind, &channel, label)? {
            Some(n) => Some(self.d().text(n, &format!("{label}: subject"))?),
            None => None,
        };
        let (recipients, rcpt_needs) =
            self.recipients(entries, node, (&channel, kind), channels, label)?;
        let spec = channels.specs.get(&channel);
        let noise = noise::decode(&mut self.d(), entries, label)?;
        let noise = match spec {
            Some(spec) => noise.over(&spec.noise),
            None => noise,
        };
        let (key, key_needs) = self.noise_key(&noise, label)?;
        let (conversation, talk_needs) =
            self.conversation(entries, &channel, channels, &noise, label)?;
        let shape = Shape {
            kind,
            digest: noise.digests(),
            conversation: conversation.is_some(),
            herald: self.herald_events,
        };
        let channel_subject = spec.and_then(|c| c.email()?.subject.clone());
        let (template, template_name, needs) =
            self.message(entries, node, shape, subject.or(channel_subject), label)?;
        Some(Action {
            channel,
            template,
            template_name,
            recipients,
            needs: needs
                .union(&key_needs)
                .union(&talk_needs)
                .union(&rcpt_needs),
            noise,
            key,
            conversation,
        })
    }

    /// The message: a template folder, or inline `text:`.
    fn message(
        &mut self,
        entries: &Entries,
        node: &Node,
        shape: Shape,
        subject: Option<String>,
        label: &str,
    ) -> Option<(Arc<MessageTemplate>, Option<String>, Needs)> {
        match (get(entries, "template"), get(entries, "text")) {
            (Some(t), None) => {
                let name = self.d().text(t, &format!("{label}: template"))?;
                let (template, needs) = self.folder_template(&name, shape, t, label)?;
                Some((template, Some(name), needs))
            }
            (None, Some(t)) => {
                let (template, needs) = self.inline(t, shape, subject.as_deref(), label)?;
                Some((template, None, needs))
            }
            (Some(_), Some(t)) => {
                let message = format!("{label}: give `template:` or `text:`, not both");
                self.sink.error(t.pos, message);
                None
            }
            (None, None) => {
                self.sink.error(node.pos, format!("{label}: a notify entry needs `template:` (a folder in templates/) or `text:`"));
                None
            }
        }
    }

    /// The digest's or throttle's `key:`, compiled; it may read enriched names too.
    fn noise_key(&mut self, noise: &Noise, label: &str) -> Option<(Option<Text>, Needs)> {
        let source = match (&noise.digest, &noise.throttle) {
            (Some(d), _) => d.key.clone(),
            (None, Some(t)) => Some(t.key.clone()),
            (None, None) => None,
        };
        let Some(source) = source else {
            return Some((None, Needs::default()));
        };
        let reads = self.reads(None);
        match self
            .renderer
            .compile(&source.source, Escape::None, &|r| reads.known(r))
        {
            Ok(text) => Some((Some(text), reads.needs())),
            Err(problems) => {
                for p in problems {
                    let pos = crate::config::yaml::Pos {
                        line: source.pos.line + p.pos.line - 1,
                        column: source.pos.column + p.pos.column - 1,
                    };
                    self.sink.error(pos, format!("{label}: key: {}", p.message));
                }
                None
            }
        }
    }

    /// The channel an action names, and its kind. A channel whose definition is broken was
    /// reported where it is defined.
    fn action_channel(
        &mut self,
        entries: &Entries,
        node: &Node,
        label: &str,
        channels: &Channels,
    ) -> Option<(String, Kind)> {
        let Some(channel_node) = get(entries, "channel") else {
            self.sink.error(
                node.pos,
                format!("{label}: a notify entry needs `channel:`"),
            );
            return None;
        };
        let channel = self.d().text(channel_node, &format!("{label}: channel"))?;
        let Some(kind) = channels.kinds.get(&channel) else {
            self.sink.error(
                channel_node.pos,
                format!(
                    "{label}: channel `{channel}` does not exist{}",
                    did_you_mean(&channel, channels.kinds.keys().map(String::as_str))
                ),
            );
            return None;
        };
        Some((channel, (*kind)?))
    }

    /// A key only email actions take: `Some(None)` when absent, `None` (reported) when given
    /// to another kind.
    pub(super) fn email_only<'e>(
        &mut self,
        entries: &'e Entries,
        key: &str,
        kind: Kind,
        channel: &str,
        label: &str,
    ) -> Option<Option<&'e Node>> {
        match get(entries, key) {
            Some(n) if kind != Kind::Email => {
                let message = format!(
                    "{label}: `{key}` is for email channels; `{channel}` is {}",
                    kind.as_str()
                );
                self.sink.error(n.pos, message);
                None
            }
            found => Some(found),
        }
    }

    /// Inline `text:` (and `subject:`): the destination's default message around it.
    fn inline(
        &mut self,
        node: &Node,
        shape: Shape,
        subject: Option<&str>,
        label: &str,
    ) -> Option<(Arc<MessageTemplate>, Needs)> {
        let text = self.d().text(node, &format!("{label}: text"))?;
        let reads = self.reads(Some(shape));
        let known = |r: &str| reads.known(r);
        match MessageTemplate::inline(&mut self.renderer, shape.kind, &text, subject, &known) {
            Ok(template) => Some((Arc::new(template), reads.needs())),
            Err(problems) => {
                for p in problems {
                    self.sink
                        .error(node.pos, format!("{label}: text: {}", p.message));
                }
                None
            }
        }
    }
}
