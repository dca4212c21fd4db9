//! `superoffice: alerts:`: where the watchdog says that SuperOffice stopped sending to herald.
//! The entries are notify entries (a channel, and a template or `text:`; the template
//! `superoffice-alert` when they name neither), loaded as a rule of their own that no
//! SuperOffice event can match: the watchdog's alert events go through the same durable
//! delivery as everything else.

use super::document::{Channels, Loader};
use crate::config::decode::get;
use crate::config::yaml::{Key, Kind, Node};
use crate::rules::{ALERT_EVENT, ALERT_RULE, Rule};

/// The template an alert entry uses when it names none.
const DEFAULT_TEMPLATE: &str = "superoffice-alert";

impl Loader {
    /// The alerts rule, if `superoffice:` has `alerts:`.
    pub(super) fn alerts(&mut self, superoffice: &Node, channels: &Channels) -> Option<Rule> {
        let Kind::Map(entries) = &superoffice.kind else {
            return None;
        };
        let node = get(entries, "alerts")?;
        let node = with_default_template(node);
        let label = "superoffice: alerts";
        // The alert is one of herald's own events: its templates may use their names.
        self.herald_events = true;
        let notify = self.actions(&node, label, channels);
        self.herald_events = false;
        let notify = notify?;
        Some(Rule {
            name: ALERT_RULE.to_string(),
            pos: node.pos,
            events: vec![ALERT_EVENT.to_string()],
            when: Vec::new(),
            notify,
            stop: false,
        })
    }
}

/// Entries written as a channel's name alone, or without `template:` / `text:`, get the
/// default template.
fn with_default_template(node: &Node) -> Node {
    let Kind::Seq(items) = &node.kind else {
        return node.clone();
    };
    let items = items.iter().map(|item| {
        let entries = match &item.kind {
            Kind::Str(channel) => vec![(
                key("channel", item),
                Node {
                    pos: item.pos,
                    kind: Kind::Str(channel.clone()),
                },
            )],
            Kind::Map(entries) => entries.clone(),
            _ => return item.clone(),
        };
        let named = entries
            .iter()
            .any(|(k, _)| k.name == "template" || k.name == "text");
        let mut entries = entries;
        if !named {
            let value = Node {
                pos: item.pos,
                kind: Kind::Str(DEFAULT_TEMPLATE.into()),
            };
            entries.push((key("template", item), value));
        }
        Node {
            pos: item.pos,
            kind: Kind::Map(entries),
        }
    });
    Node {
        pos: node.pos,
        kind: Kind::Seq(items.collect()),
    }
}

fn key(name: &str, at: &Node) -> Key {
    Key {
        pos: at.pos,
        name: name.to_string(),
    }
}
