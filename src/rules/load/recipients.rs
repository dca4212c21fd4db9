//! An email action's recipients: its own `to:` / `cc:` (each replaces the channel's list of
//! the same name) or its channel's, templates compiled, addresses held against the channel's
//! `allowed_domains`, and at least one recipient in all.

use super::document::{Channels, Loader};
use crate::config::channel::{self, AllowedDomains, Kind, Recipient};
use crate::config::decode::{Entries, get};
use crate::config::names::Needs;
use crate::config::yaml::Node;
use crate::render::recipients::Recipients;

impl Loader {
    /// The recipients of an email action (`None` inside `Some` for other kinds), and what
    /// their templates read.
    pub(super) fn recipients(
        &mut self,
        entries: &Entries,
        node: &Node,
        (channel, kind): (&str, Kind),
        channels: &Channels,
        label: &str,
    ) -> Option<(Option<Recipients>, Needs)> {
        let own_to = self.own_list(entries, "to", (channel, kind), label)?;
        let own_cc = self.own_list(entries, "cc", (channel, kind), label)?;
        let Some(email) = channels.specs.get(channel).and_then(|s| s.email()) else {
            return Some((None, Needs::default()));
        };
        let allowed = email.allowed_domains.clone();
        self.check_allowed(entries, [&own_to, &own_cc], &allowed, label);
        let to = own_to.unwrap_or_else(|| email.to.clone());
        let cc = own_cc.unwrap_or_else(|| email.cc.clone());
        if to.is_empty() && cc.is_empty() {
            let message =
                format!("{label}: no recipient: give `to:` here or on channel `{channel}`");
            self.sink.error(node.pos, message);
            return None;
        }
        let reads = self.reads(None);
        let known = |r: &str| reads.known(r);
        match Recipients::compile(&mut self.renderer, &to, &cc, allowed, &known) {
            Ok(r) => Some((Some(r), reads.needs())),
            Err(problems) => {
                for p in problems {
                    self.sink
                        .error(p.pos, format!("{label}: recipient {}", p.message));
                }
                None
            }
        }
    }

    /// The action's own `to:` or `cc:`: `Some(None)` when it has none.
    fn own_list(
        &mut self,
        entries: &Entries,
        key: &str,
        (channel, kind): (&str, Kind),
        label: &str,
    ) -> Option<Option<Vec<Recipient>>> {
        match self.email_only(entries, key, kind, channel, label)? {
            Some(n) => Some(Some(channel::recipients(
                &mut self.d(),
                n,
                &format!("{label}: {key}"),
            )?)),
            None => Some(None),
        }
    }

    /// Addresses an action writes that its channel's `allowed_domains` would refuse.
    fn check_allowed(
        &mut self,
        entries: &Entries,
        lists: [&Option<Vec<Recipient>>; 2],
        allowed: &AllowedDomains,
        label: &str,
    ) {
        for (key, list) in ["to", "cc"].into_iter().zip(lists) {
            let (Some(list), Some(node)) = (list, get(entries, key)) else {
                continue;
            };
            channel::check_fixed(&mut self.d(), &[(key, node, list)], allowed, label);
        }
    }
}
