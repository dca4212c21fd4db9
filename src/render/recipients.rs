//! An email action's recipients, compiled: the addresses written in the file and the templates
//! that make one from each event (`"{{owner.email}}"`). Resolving them for an event gives the
//! addresses to send to and, for each entry that gave none or one `allowed_domains` refuses, a
//! note saying why: one recipient without an address never stops the others' mail.

use std::collections::HashSet;

use lettre::message::Mailbox;
use serde_json::Value;

use super::context::TemplateContext;
use super::message::explain;
use super::{Escape, Problem, Renderer, Text};
use crate::config::channel::{AllowedDomains, Recipient};
use crate::config::yaml::Pos;

/// The names whose `FullName` says who a recipient is when their address is missing.
const PEOPLE: &[&str] = &["owner", "person", "changed_by", "contact"];

/// One `to:` / `cc:` entry, ready to resolve.
#[derive(Debug, Clone)]
pub enum Entry {
    Fixed(Mailbox),
    Templated {
        source: String,
        text: Text,
        /// The person the template reads (`owner` in `{{owner.email}}`), to name them when
        /// they have no address.
        who: Option<&'static str>,
    },
}

/// Everyone an email action writes to.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    pub to: Vec<Entry>,
    pub cc: Vec<Entry>,
    pub allowed: AllowedDomains,
}

/// The recipients of one message, and what became of the entries that gave no address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressed {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// The entries that gave no address to send to, in order.
    pub notes: Vec<Note>,
}

/// An entry a message goes without, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub why: Why,
    /// `skipped {{owner.email}}: Per Olsen has no email address`,
    /// `refused someone@partner.example: outside allowed_domains`.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The template gave nothing (the person has no address, or the event no such person).
    NoAddress,
    /// The template gave text that is not an address.
    NotAnAddress,
    /// Outside `allowed_domains`.
    Refused,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Addressed {
    /// The notes as text, one after another.
    pub fn notes_text(&self) -> Vec<String> {
        self.notes.iter().map(ToString::to_string).collect()
    }
}

impl Addressed {
    pub fn is_empty(&self) -> bool {
        self.to.is_empty() && self.cc.is_empty()
    }
}

/// A template entry that did not compile: where in the file, and why.
#[derive(Debug, Clone)]
pub struct EntryProblem {
    pub pos: Pos,
    pub message: String,
}

impl Recipients {
    /// Compiles a `to:` and a `cc:` list; `known` says which top-level names exist (and
    /// collects what enrichment must fetch).
    pub fn compile(
        renderer: &mut Renderer,
        to: &[Recipient],
        cc: &[Recipient],
        allowed: AllowedDomains,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<Recipients, Vec<EntryProblem>> {
        let mut problems = Vec::new();
        let mut list = |entries: &[Recipient]| -> Vec<Entry> {
            entries
                .iter()
                .filter_map(|r| match entry(renderer, r, known) {
                    Ok(e) => Some(e),
                    Err(mut p) => {
                        problems.append(&mut p);
                        None
                    }
                })
                .collect()
        };
        let (to, cc) = (list(to), list(cc));
        if problems.is_empty() {
            Ok(Recipients { to, cc, allowed })
        } else {
            Err(problems)
        }
    }

    /// The addresses for this event: each template rendered and parsed, each address held
    /// against `allowed_domains`, none twice.
    pub fn resolve(&self, renderer: &Renderer, ctx: &TemplateContext) -> Addressed {
        let mut out = Addressed::default();
        let mut seen = HashSet::new();
        let data = ctx.to_handlebars();
        for (entries, cc) in [(&self.to, false), (&self.cc, true)] {
            for e in entries {
                for found in self.addresses(e, renderer, &data, ctx) {
                    match found {
                        Ok(m) if !self.allowed.allows(&m.email) => out.notes.push(Note {
                            why: Why::Refused,
                            text: format!("refused {}: outside allowed_domains", m.email),
                        }),
                        Ok(m) if !seen.insert(m.email.to_string().to_lowercase()) => {}
                        Ok(m) if cc => out.cc.push(m),
                        Ok(m) => out.to.push(m),
                        Err(note) => out.notes.push(note),
                    }
                }
            }
        }
        out
    }

    fn addresses(
        &self,
        entry: &Entry,
        renderer: &Renderer,
        data: &handlebars::Context,
        ctx: &TemplateContext,
    ) -> Vec<Result<Mailbox, Note>> {
        let (source, text, who) = match entry {
            Entry::Fixed(m) => return vec![Ok(m.clone())],
            Entry::Templated { source, text, who } => (source, text, who),
        };
        let skipped = |why: Why, reason: String| Note {
            why,
            text: format!("skipped {source}: {reason}"),
        };
        let rendered = match renderer.render(text, data) {
            Ok(r) => r,
            Err(e) => return vec![Err(skipped(Why::NoAddress, explain(&e)))],
        };
        let parts: Vec<&str> = rendered
            .split([',', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return vec![Err(skipped(Why::NoAddress, missing(ctx, *who)))];
        }
        parts
            .into_iter()
            .map(|p| {
                p.parse::<Mailbox>().map_err(|_| {
                    skipped(Why::NotAnAddress, format!("{p:?} is not an email address"))
                })
            })
            .collect()
    }
}

/// Why a template gave no address, naming the person when the data does.
fn missing(ctx: &TemplateContext, who: Option<&str>) -> String {
    let person = who.and_then(|w| ctx.get(w));
    match person {
        Some(p) => match p.get("FullName").and_then(Value::as_str) {
            Some(name) if !name.trim().is_empty() => format!("{name} has no email address"),
            _ => format!("the {} has no email address", who.unwrap_or("person")),
        },
        None => match who {
            Some(w) => format!("this event has no {w}"),
            None => "it gave no address".to_string(),
        },
    }
}

fn entry(
    renderer: &mut Renderer,
    r: &Recipient,
    known: &dyn Fn(&str) -> bool,
) -> Result<Entry, Vec<EntryProblem>> {
    let (source, pos) = match r {
        Recipient::Address(m) => return Ok(Entry::Fixed(m.clone())),
        Recipient::Template { source, pos } => (source, *pos),
    };
    let who = std::cell::Cell::new(None);
    let watch = |path: &str| {
        if who.get().is_none() {
            let root = crate::config::names::root_of(path);
            who.set(PEOPLE.iter().copied().find(|p| *p == root));
        }
        known(path)
    };
    match renderer.compile(source, Escape::None, &watch) {
        Ok(text) => Ok(Entry::Templated {
            source: source.clone(),
            text,
            who: who.get(),
        }),
        Err(problems) => Err(problems
            .into_iter()
            .map(|Problem { message, .. }| EntryProblem {
                pos,
                message: format!("{source}: {message}"),
            })
            .collect()),
    }
}
