//! Every action's template rendered against a sample event of each type its rule can receive
//! (with sample SuperOffice data when the file enriches), and the result held against what the
//! destination's platform refuses ([`crate::render::lint`]). A template that renders 51 Slack
//! blocks is found here, not at 3 a.m. as a dead letter.

use std::collections::HashSet;

use jiff::Timestamp;

use super::document::Loader;
use crate::config::names::enriched_for;
use crate::config::yaml::{Kind, Node};
use crate::event::{Event, sample};
use crate::render::context::{self, StepView, TemplateContext};
use crate::render::lint::{self, Severity};
use crate::render::recipients::Why;
use crate::rules::{Action, Rule};

/// The time sample messages are made at: the sample events' own.
const SAMPLE_TIME: &str = "2026-11-20T13:05:44Z";

impl Loader {
    /// Lints each action of a rule that loaded; `notify` is its `notify:` list, in order.
    pub(super) fn lint(&mut self, rule: &Rule, notify: &Node) {
        let Kind::Seq(nodes) = &notify.kind else {
            return;
        };
        let events = sample::names_for(&rule.events);
        for (action, node) in rule.notify.iter().zip(nodes) {
            let mut seen = HashSet::new();
            for name in &events {
                self.lint_one(rule, action, node, name, &mut seen);
            }
        }
    }

    fn lint_one(
        &mut self,
        rule: &Rule,
        action: &Action,
        node: &Node,
        name: &str,
        seen: &mut HashSet<String>,
    ) {
        let ctx = self.sample_context(rule, action, name);
        self.lint_recipients(rule, action, node, name, &ctx, seen);
        // A sample lacks what only some real events carry: a template that needs it is left
        // to `herald test` with real events.
        let Ok(message) = action.template.render_whole(&self.renderer, &ctx) else {
            return;
        };
        let template = match &action.template_name {
            Some(t) => format!("template {t}"),
            None => "inline text".to_string(),
        };
        for finding in lint::check(&message) {
            if !seen.insert(finding.message.clone()) {
                continue;
            }
            let text = format!(
                "rule `{}`: notify {} ({template}), rendered for a sample {name} event: {}",
                rule.name, action.channel, finding.message
            );
            match finding.severity {
                Severity::Error => self.sink.error(node.pos, text),
                Severity::Warning => self.sink.warn(node.pos, text),
            }
        }
    }

    /// Templated recipients made for the sample event: text that is not an address is an
    /// error; no address at all (the event has no such person) a warning.
    fn lint_recipients(
        &mut self,
        rule: &Rule,
        action: &Action,
        node: &Node,
        name: &str,
        ctx: &TemplateContext,
        seen: &mut HashSet<String>,
    ) {
        let Some(recipients) = &action.recipients else {
            return;
        };
        let addressed = recipients.resolve(&self.renderer, ctx);
        for note in addressed.notes {
            if note.why == Why::Refused || !seen.insert(note.text.clone()) {
                continue;
            }
            let text = format!(
                "rule `{}`: notify {}: for a sample {name} event, {note}",
                rule.name, action.channel
            );
            match note.why {
                Why::NotAnAddress => self.sink.error(node.pos, text),
                _ => self.sink.warn(node.pos, text),
            }
        }
    }

    /// What a message of `action` would see for a sample `name` event: the event, sample API
    /// data when the file enriches, the conversation's first step, the digest of one.
    fn sample_context(&self, rule: &Rule, action: &Action, name: &str) -> TemplateContext {
        let event = sample::event(name);
        let at: Timestamp = SAMPLE_TIME.parse().expect("a valid sample time");
        let mut ctx = TemplateContext::new(&event, &rule.name, at);
        if self.superoffice.is_some() {
            enrich(&event, &mut ctx);
        }
        if action.conversation.is_some() {
            let step = StepView {
                event: name,
                at: at.as_millisecond(),
                current: true,
            };
            let value = context::conversation("quote-1042", &[step], None);
            ctx.insert("conversation", value);
        }
        if action.noise.digests() {
            let end = at + jiff::SignedDuration::from_mins(30);
            ctx = TemplateContext::digest(&[ctx.clone()], "", at, end).unwrap_or(ctx);
        }
        ctx
    }
}

/// The sample SuperOffice data an event of this entity gets.
fn enrich(event: &Event, ctx: &mut TemplateContext) {
    let entity = event.entity();
    let names = enriched_for(entity);
    let data = sample::enriched();
    for name in names {
        if let Some(value) = data.get(*name) {
            ctx.insert(name, value.clone());
        }
    }
    if !names.is_empty() {
        // Made here, not taken from the sample data: addresses of this sample's own ids.
        let web = "https://online.superoffice.com/Cust12345/default.aspx";
        let links = serde_json::json!({
            "sale": format!("{web}?sale.main?sale_id=77"),
            "quote": format!("{web}?sale.main.quote?sale_id=77"),
            "contact": format!("{web}?contact.main?contact_id=4211"),
            "person": format!("{web}?person.main?person_id=9120"),
        });
        ctx.insert("links", links);
    }
    ctx.insert("enriched", serde_json::Value::Bool(true));
}
