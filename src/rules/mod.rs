//! The rules file: channels, rules, and the templates they use, loaded and checked as one.
//!
//! [`load`] is the only way to get a [`RuleSet`]; `serve`, `check` and `simulate` all use it,
//! so what `check` accepts is exactly what `serve` runs.

pub mod condition;
pub mod load;
mod source;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::config::names::Needs;
use crate::config::noise::Noise;
use crate::event::Event;
use crate::event::catalog::pattern_matches;
use crate::render::message::MessageTemplate;
use crate::render::{Renderer, Text};
use crate::secret::Redactor;

pub use crate::config::channel::ChannelSpec;
pub use crate::config::diag::{Diagnostic, Diagnostics};
use crate::config::yaml::Pos;
pub use condition::Condition;
pub use load::{load, load_with_env};
pub use source::{Source, read_env_file};

/// A loaded, checked configuration.
#[derive(Debug)]
pub struct RuleSet {
    pub file: PathBuf,
    /// Where the templates were read from (watched for changes).
    pub templates_dir: PathBuf,
    pub channels: BTreeMap<String, Arc<ChannelSpec>>,
    pub rules: Vec<Rule>,
    pub renderer: Arc<Renderer>,
    /// Knows every secret the file holds: values from the environment, URL paths, passwords.
    pub redactor: Redactor,
    /// Where to enrich events from, if anywhere.
    pub superoffice: Option<crate::config::superoffice::SuperOfficeSpec>,
    /// What loading found that works but is likely not what was meant (`warning: …`).
    pub warnings: Vec<Diagnostic>,
    /// `superoffice: alerts:`, as a rule of its own that only the watchdog's alert events match.
    pub alerts: Option<Rule>,
}

/// The name of the rule `superoffice: alerts:` becomes; no rule in the file may have it.
pub const ALERT_RULE: &str = "superoffice-alerts";

/// The event the watchdog raises when SuperOffice stopped sending; SuperOffice sends none by
/// this name (its own are `webhook.*`).
pub const ALERT_EVENT: &str = "herald.superoffice.stopped";

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub pos: Pos,
    pub events: Vec<String>,
    pub when: Vec<Condition>,
    pub notify: Vec<Action>,
    pub stop: bool,
}

/// One `notify:` entry: a channel and the message template for it.
#[derive(Debug, Clone)]
pub struct Action {
    pub channel: String,
    pub template: Arc<MessageTemplate>,
    /// The template folder's name, or `None` for inline `text:`.
    pub template_name: Option<String>,
    /// Email only: who the message goes to (the action's `to:`/`cc:`, or its channel's).
    pub recipients: Option<crate::render::recipients::Recipients>,
    /// The enriched names this delivery needs: its template's, its key's and its rule's
    /// conditions'.
    pub needs: Needs,
    /// Digests, throttle and working hours: the action's own, or its channel's.
    pub noise: Noise,
    /// The digest's or throttle's key, compiled.
    pub key: Option<Text>,
    /// One conversation per key: on a Slack app, later messages edit or reply to the first;
    /// by email, they reply in its thread.
    pub conversation: Option<Talk>,
}

/// An action's `conversation:`, its key compiled.
#[derive(Debug, Clone)]
pub struct Talk {
    pub spec: crate::config::conversation::Conversation,
    pub key: Text,
}

/// What one rule made of one event.
#[derive(Debug)]
pub enum Verdict<'a> {
    Match(&'a Rule),
    NoMatch {
        rule: &'a Rule,
        reason: String,
    },
    /// An earlier matching rule had `stop: true`.
    Stopped {
        rule: &'a Rule,
        by: &'a str,
    },
}

/// True if a condition reads enriched fields: it can only be decided after enrichment.
pub fn is_deferred(cond: &Condition) -> bool {
    cond.fields()
        .iter()
        .any(|f| crate::config::names::ENRICHED.contains(&f.root()))
}

impl Rule {
    /// A rule known only by its name: what a broken rule leaves, for the duplicate check.
    pub fn named(name: String, pos: Pos) -> Rule {
        Rule {
            name,
            pos,
            events: Vec::new(),
            when: Vec::new(),
            notify: Vec::new(),
            stop: false,
        }
    }

    /// True if some condition can only be decided after enrichment.
    pub fn is_deferred(&self) -> bool {
        self.when.iter().any(is_deferred)
    }

    /// Checks the conditions that need enriched fields, against the enriched context.
    pub fn check_deferred(&self, ctx: &Value) -> Result<(), Mismatch> {
        for cond in self.when.iter().filter(|c| is_deferred(c)) {
            cond.check(ctx).map_err(Mismatch::Condition)?;
        }
        Ok(())
    }

    /// Checks the event name and the conditions that can be decided on the event alone; the
    /// others wait for enrichment.
    fn explain(&self, event_name: &str, fields: &Value) -> Result<(), Mismatch> {
        if !self.events.iter().any(|p| pattern_matches(p, event_name)) {
            return Err(Mismatch::NotInEvents {
                event: event_name.to_string(),
                events: self.events.join(", "),
            });
        }
        for cond in self.when.iter().filter(|c| !is_deferred(c)) {
            cond.check(fields).map_err(Mismatch::Condition)?;
        }
        Ok(())
    }
}

/// Why a rule does not fire for an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("event `{event}` is not in events [{events}]")]
    NotInEvents { event: String, events: String },
    #[error("when: {0}")]
    Condition(condition::Failure),
}

/// A stored delivery's rule or action is no longer in the rules file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gone {
    #[error("rule `{0}` is no longer in the rules file")]
    Rule(String),
    #[error("rule `{rule}` no longer sends to `{channel}` as its action {number}")]
    Action {
        rule: String,
        channel: String,
        number: u32,
    },
}

impl RuleSet {
    /// The rule and action a stored delivery was made for, if the rules file still has them
    /// as they were: the same rule sending to the same channel as its action `index`.
    pub fn action(&self, rule: &str, index: u32, channel: &str) -> Result<(&Rule, &Action), Gone> {
        let Some(r) = self
            .rules
            .iter()
            .chain(&self.alerts)
            .find(|r| r.name == rule)
        else {
            return Err(Gone::Rule(rule.to_string()));
        };
        match r
            .notify
            .get(index as usize)
            .filter(|a| a.channel == channel)
        {
            Some(a) => Ok((r, a)),
            None => Err(Gone::Action {
                rule: rule.to_string(),
                channel: channel.to_string(),
                number: index + 1,
            }),
        }
    }

    /// Every rule's verdict, in file order.
    pub fn evaluate(&self, event: &Event) -> Vec<Verdict<'_>> {
        let fields = event.as_value();
        let mut stopped_by: Option<&str> = None;
        self.rules
            .iter()
            .map(|rule| {
                if let Some(by) = stopped_by {
                    return Verdict::Stopped { rule, by };
                }
                match rule.explain(event.name(), fields) {
                    Ok(()) => {
                        if rule.stop {
                            stopped_by = Some(&rule.name);
                        }
                        Verdict::Match(rule)
                    }
                    Err(reason) => Verdict::NoMatch {
                        rule,
                        reason: reason.to_string(),
                    },
                }
            })
            .collect()
    }

    /// The rules that fire for an event, in order.
    pub fn matching(&self, event: &Event) -> Vec<&Rule> {
        self.evaluate(event)
            .into_iter()
            .filter_map(|v| match v {
                Verdict::Match(rule) => Some(rule),
                _ => None,
            })
            .collect()
    }
}
