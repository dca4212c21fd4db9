//! The document as a whole: the top-level keys, the channels, and each rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::folders::Folders;
use super::{Reads, Shape, declared_kind, known_root};
use crate::config::channel::{self, ChannelSpec, Kind};
use crate::config::decode::{Decoder, Entries, get};
use crate::config::diag::{Sink, did_you_mean};
use crate::config::names::Needs;
use crate::config::superoffice::{self, SuperOfficeSpec};
use crate::config::yaml::Node;
use crate::event::catalog;
use crate::render::Renderer;
use crate::rules::{Action, Condition, Rule};

const TOP_KEYS: &[&str] = &["superoffice", "channels", "rules", "templates"];
const RULE_KEYS: &[&str] = &["name", "description", "events", "when", "notify", "stop"];

/// A rule's events, conditions, actions and `stop`.
/// A rule's parts, each checked on its own.
struct RuleParts {
    events: Vec<String>,
    when: Vec<Condition>,
    notify: Vec<Action>,
    stop: bool,
}

pub(super) struct Loader {
    pub(super) sink: Sink,
    pub(super) renderer: Renderer,
    /// The template folders, each compiled once per shape.
    pub(super) templates: Folders,
    pub(super) superoffice: Option<SuperOfficeSpec>,
    /// `superoffice: alerts:`, as a rule.
    pub(super) alerts: Option<Rule>,
    /// What is left of the budget for compiled `matches:` patterns ([`super::pattern`]).
    pub(super) regex_left: usize,
    /// The rule being read takes herald's own events: their fields are names it may use.
    pub(super) herald_events: bool,
}

/// The channels as written: every name with its kind (even of a broken definition, so rules
/// that use it are not also reported as naming a missing channel), and the ones that decoded.
#[derive(Default)]
pub(super) struct Channels {
    pub(super) kinds: BTreeMap<String, Option<Kind>>,
    pub(super) specs: BTreeMap<String, Arc<ChannelSpec>>,
}

impl Loader {
    pub(super) fn known(&self, name: &str) -> bool {
        known_root(self.superoffice.is_some(), false, self.herald_events, name)
    }

    /// What a template of this shape (or, `None`, a key or recipient) may read.
    pub(super) fn reads(&self, shape: Option<Shape>) -> Reads {
        Reads::new(shape, self.superoffice.is_some(), self.herald_events)
    }

    pub(super) fn d(&mut self) -> Decoder<'_> {
        Decoder {
            sink: &mut self.sink,
        }
    }

    pub(super) fn document(
        &mut self,
        root: &Node,
    ) -> (BTreeMap<String, Arc<ChannelSpec>>, Vec<Rule>) {
        let Some(entries) = self.d().map(root, "the rules file") else {
            return (BTreeMap::new(), Vec::new());
        };
        self.d().only_keys(entries, TOP_KEYS, "the rules file");
        if let Some(n) = get(entries, "superoffice") {
            self.superoffice = superoffice::decode(&mut self.d(), n);
        }
        let channels = match get(entries, "channels") {
            Some(n) => self.channels(n),
            None => {
                let message = "the rules file needs `channels:`, where messages go";
                self.sink.error(root.pos, message);
                Channels::default()
            }
        };
        if let Some(n) = get(entries, "superoffice").filter(|_| self.superoffice.is_some()) {
            self.alerts = self.alerts(n, &channels);
        }
        let rules = match get(entries, "rules") {
            Some(n) => self.rules(n, &channels),
            None => {
                let message = "the rules file needs `rules:`, what to send when";
                self.sink.error(root.pos, message);
                Vec::new()
            }
        };
        (channels.specs, rules)
    }

    fn channels(&mut self, node: &Node) -> Channels {
        let mut out = Channels::default();
        let Some(defs) = self.d().map(node, "channels") else {
            return out;
        };
        for (key, def) in defs {
            let spec = channel::decode(&mut self.d(), &key.name, def);
            let kind = spec
                .as_ref()
                .map(|s| s.kind())
                .or_else(|| declared_kind(def));
            out.kinds.insert(key.name.clone(), kind);
            if let Some(spec) = spec {
                out.specs.insert(key.name.clone(), Arc::new(spec));
            }
        }
        out
    }

    fn rules(&mut self, node: &Node, channels: &Channels) -> Vec<Rule> {
        let Some(items) = self.d().list(node, "rules") else {
            return Vec::new();
        };
        let mut rules = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        let parsed: Vec<Rule> = items
            .iter()
            .filter_map(|item| self.rule(item, channels))
            .collect();
        for rule in parsed {
            if rule.name == crate::rules::ALERT_RULE {
                let message = format!(
                    "rule `{}`: the name is herald's own, for `superoffice: alerts`; choose another",
                    rule.name
                );
                self.sink.error(rule.pos, message);
            } else if let Some(line) = seen.get(&rule.name) {
                self.sink.error(
                    rule.pos,
                    format!(
                        "rule `{}`: duplicate rule name (first used on line {line})",
                        rule.name
                    ),
                );
            } else {
                seen.insert(rule.name.clone(), rule.pos.line);
            }
            rules.push(rule);
        }
        rules
    }

    /// One rule. A broken rule comes back with its name only, for the duplicate check.
    fn rule(&mut self, node: &Node, channels: &Channels) -> Option<Rule> {
        let entries = self.d().map(node, "a rule")?;
        let name = match get(entries, "name") {
            Some(n) => self.d().text(n, "rule name"),
            None => {
                self.sink.error(node.pos, "a rule needs a `name`");
                None
            }
        };
        let label = format!("rule `{}`", name.as_deref().unwrap_or("(unnamed)"));
        self.d().only_keys(entries, RULE_KEYS, &label);
        let before = self.sink.items.len();
        let parts = self.rule_parts(entries, node, &label, channels);
        if self.sink.items.len() != before {
            return name.map(|name| Rule::named(name, node.pos));
        }
        let RuleParts {
            events,
            when,
            notify,
            stop,
        } = parts?;
        let rule = Rule {
            name: name?,
            pos: node.pos,
            events,
            notify: with_condition_needs(notify, &when),
            when,
            stop,
        };
        if rule.stop && rule.is_deferred() {
            let at = get(entries, "stop").map_or(node.pos, |n| n.pos);
            self.sink.error(
                at,
                format!("{label}: `stop: true` cannot be used on a rule whose conditions read enriched fields (they are decided after the answer to SuperOffice)"),
            );
            return None;
        }
        if let Some(notify) = get(entries, "notify") {
            self.lint(&rule, notify);
        }
        Some(rule)
    }

    /// A rule's events, conditions, actions and `stop`, each reported on its own.
    fn rule_parts(
        &mut self,
        entries: &Entries,
        node: &Node,
        label: &str,
        channels: &Channels,
    ) -> Option<RuleParts> {
        let events = self.events(entries, node, label);
        self.herald_events = events
            .iter()
            .flatten()
            .any(|p| crate::event::catalog::is_herald_event(p));
        let when = match get(entries, "when") {
            Some(n) => self.conditions(n, label),
            None => Some(Vec::new()),
        };
        let notify = match get(entries, "notify") {
            Some(n) => self.actions(n, label, channels),
            None => {
                let message = format!("{label} needs `notify:`, a list of channels to tell");
                self.sink.error(node.pos, message);
                None
            }
        };
        let stop = match get(entries, "stop") {
            Some(n) => self.d().boolean(n, &format!("{label}: stop")),
            None => Some(false),
        };
        if let Some(n) = get(entries, "description") {
            self.d().text(n, &format!("{label}: description"));
        }
        Some(RuleParts {
            events: events?,
            when: when?,
            notify: notify?,
            stop: stop?,
        })
    }

    fn events(&mut self, entries: &Entries, node: &Node, label: &str) -> Option<Vec<String>> {
        let Some(n) = get(entries, "events") else {
            self.sink.error(
                node.pos,
                format!("{label} needs `events:`, an event name like quote.ordered, a glob like quote.*, or a list"),
            );
            return None;
        };
        let patterns = self.d().texts(n, &format!("{label}: events"))?;
        let mut ok = !patterns.is_empty();
        if patterns.is_empty() {
            self.sink.error(n.pos, format!("{label}: events is empty"));
        }
        for (item, pattern) in patterns
            .iter()
            .filter(|(_, p)| !catalog::is_known_pattern(p))
        {
            ok = false;
            self.sink.error(
                item.pos,
                format!(
                    "{label}: `{pattern}` matches no SuperOffice event{}",
                    did_you_mean(
                        pattern,
                        catalog::EVENTS
                            .iter()
                            .chain(catalog::HERALD_EVENTS)
                            .copied()
                    )
                ),
            );
        }
        ok.then(|| patterns.into_iter().map(|(_, p)| p).collect())
    }
}

/// Each action reads what its template reads and what the rule's conditions read: computed
/// once here, not per event.
fn with_condition_needs(mut notify: Vec<Action>, when: &[Condition]) -> Vec<Action> {
    let mut needs = Needs::default();
    for f in when.iter().flat_map(Condition::fields) {
        needs.add(f.as_str());
    }
    for action in &mut notify {
        action.needs = action.needs.union(&needs);
    }
    notify
}
