//! Reads `rules.yaml` into a [`RuleSet`], reporting every problem at once with its position.
//!
//! One pass over the positioned YAML tree ([`document`]): the `superoffice:` section, the
//! channels, then each rule with its conditions ([`condition`]) and actions ([`action`]), whose
//! templates are compiled once per folder and destination kind ([`template`]). Nothing stops at
//! the first problem.

mod action;
mod alerts;
mod condition;
mod conversation;
mod document;
mod folders;
mod lint;
mod pattern;
mod recipients;
mod template;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::RuleSet;
use crate::config::channel::Kind;
use crate::config::decode::{Decoder, get};
use crate::config::diag::{Diagnostics, Sink};
use crate::config::interp;
use crate::config::names::{CONVERSATION, DIGEST, ENRICHED, HERALD_EVENT_FIELDS, is_known_root};
use crate::config::yaml::{self, Kind as NodeKind, Node, Pos};
use crate::render::Renderer;
use crate::secret::Redactor;
use document::Loader;

/// The largest rules file herald reads.
pub const MAX_RULES_BYTES: usize = 1024 * 1024;

/// The largest the rules file's text may grow to once its `${VAR}` values are filled in.
pub const MAX_FILLED_BYTES: usize = 4 * 1024 * 1024;

/// Loads the rules file with variables from the process environment.
pub fn load(file: &Path) -> Result<RuleSet, Diagnostics> {
    load_with_env(file, &|name| std::env::var(name).ok())
}

/// Loads the rules file, `${VAR}` read through `env`.
pub fn load_with_env(
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RuleSet, Diagnostics> {
    let mut sink = Sink::new(file);
    let Some(mut root) = read_tree(file, &mut sink) else {
        return Err(sink.finish());
    };
    let mut secrets = Vec::new();
    let mut budget = MAX_FILLED_BYTES;
    fill_variables(&mut root, env, &mut sink, &mut secrets, &mut budget);
    let templates_dir = templates_dir(file, &root, &mut sink);
    let mut loader = Loader {
        sink,
        renderer: Renderer::new(),
        templates: folders::Folders::new(templates_dir),
        superoffice: None,
        alerts: None,
        regex_left: pattern::FILE_BUDGET,
        herald_events: false,
    };
    let (channels, rules) = loader.document(&root);
    secrets.extend(
        loader
            .superoffice
            .as_ref()
            .map(|so| so.auth.secrets())
            .unwrap_or_default(),
    );
    if !loader.sink.is_empty() {
        return Err(redacted(loader.sink.finish(), secrets));
    }
    secrets.extend(channels.values().flat_map(|spec| spec.secrets()));
    Ok(RuleSet {
        file: file.to_path_buf(),
        templates_dir: loader.templates.dir,
        channels,
        rules,
        renderer: Arc::new(loader.renderer),
        redactor: Redactor::new(secrets),
        superoffice: loader.superoffice,
        warnings: loader.sink.take_warnings(),
        alerts: loader.alerts,
    })
}

/// The file as a positioned YAML tree, or the reason it is not one.
fn read_tree(file: &Path, sink: &mut Sink) -> Option<Node> {
    let text = match crate::text::read_bounded(file, MAX_RULES_BYTES) {
        Ok(t) => t,
        Err(e) => {
            sink.error(
                Pos { line: 1, column: 1 },
                format!("cannot read the rules file: {e}"),
            );
            return None;
        }
    };
    match yaml::parse(&text) {
        Ok(n) => Some(n),
        Err(e) => {
            sink.error(e.pos, format!("invalid YAML: {}", e.message));
            None
        }
    }
}

/// `templates:`, relative to the rules file; `templates/` beside it by default.
fn templates_dir(file: &Path, root: &Node, sink: &mut Sink) -> PathBuf {
    let mut d = Decoder { sink };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    match &root.kind {
        NodeKind::Map(entries) => match get(entries, "templates") {
            Some(n) => d.text(n, "templates").map(|t| base.join(t)),
            None => Some(base.join("templates")),
        },
        _ => None,
    }
    .unwrap_or_else(|| PathBuf::from("templates"))
}

/// A message may quote a value that came from the environment: never print it.
fn redacted(mut problems: Diagnostics, secrets: Vec<String>) -> Diagnostics {
    let redactor = Redactor::new(secrets);
    for p in &mut problems.items {
        p.message = redactor.redact(&p.message);
    }
    problems
}

/// Replaces `${VAR}` in every text value (not keys), remembering what came from the
/// environment as secrets. `budget` is what is left of [`MAX_FILLED_BYTES`]; past it, filling
/// stops with one error.
fn fill_variables(
    node: &mut Node,
    env: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink,
    secrets: &mut Vec<String>,
    budget: &mut usize,
) {
    if *budget == 0 {
        return;
    }
    match &mut node.kind {
        NodeKind::Str(s) => match interp::fill(s, env) {
            Ok(filled) if filled.text.len() > *budget => {
                *budget = 0;
                sink.error(
                    node.pos,
                    format!(
                        "with its ${{VAR}} values filled in, the rules file is larger than {} MiB",
                        MAX_FILLED_BYTES / (1024 * 1024)
                    ),
                );
            }
            Ok(filled) => {
                *budget -= filled.text.len();
                *s = filled.text;
                secrets.extend(filled.from_env);
            }
            Err(e) => sink.error(node.pos, e.to_string()),
        },
        NodeKind::Seq(items) => items
            .iter_mut()
            .for_each(|n| fill_variables(n, env, sink, secrets, budget)),
        NodeKind::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, n)| fill_variables(n, env, sink, secrets, budget)),
        _ => {}
    }
}

/// What a message template is compiled for: a destination kind, whether its context is shaped
/// as a digest (`events`, `count`, `key`, `window`), and whether it has `conversation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Shape {
    pub(super) kind: Kind,
    pub(super) digest: bool,
    pub(super) conversation: bool,
    /// Its rule takes herald's own events.
    pub(super) herald: bool,
}

impl Shape {
    /// True if a template of this shape may use this top-level name.
    pub(super) fn knows(self, has_superoffice: bool, name: &str) -> bool {
        known_root(has_superoffice, self.digest, self.herald, name)
            || (self.conversation && CONVERSATION.contains(&crate::config::names::root_of(name)))
    }
}

/// What a template being compiled may read (as [`Shape::knows`] says), and the names it did
/// read: they decide what enrichment fetches for it.
pub(super) struct Reads {
    shape: Option<Shape>,
    has_superoffice: bool,
    herald: bool,
    used: std::cell::RefCell<crate::config::names::Needs>,
}

impl Reads {
    /// For a message template of this shape, or (`None`) a key or a recipient: the event's and
    /// herald's names, and enriched ones with a `superoffice:` section.
    pub(super) fn new(shape: Option<Shape>, has_superoffice: bool, herald: bool) -> Reads {
        Reads {
            shape,
            has_superoffice,
            herald,
            used: Default::default(),
        }
    }

    /// The `known` check a template compiles with; notes each name it is asked about.
    pub(super) fn known(&self, name: &str) -> bool {
        self.used.borrow_mut().add(name);
        match self.shape {
            Some(shape) => shape.knows(self.has_superoffice, name),
            None => known_root(self.has_superoffice, false, self.herald, name),
        }
    }

    pub(super) fn needs(self) -> crate::config::names::Needs {
        self.used.into_inner()
    }
}

/// Names a template or condition may use: the event's, herald's, with a `superoffice:`
/// section the enriched ones, in a digest's template the digest's, and in a rule that takes
/// herald's own events their fields.
fn known_root(has_superoffice: bool, digest: bool, herald: bool, path: &str) -> bool {
    let name = crate::config::names::root_of(path);
    is_known_root(name)
        || (has_superoffice && ENRICHED.contains(&name))
        || (digest && DIGEST.contains(&name))
        || (herald && HERALD_EVENT_FIELDS.contains(&name))
}

/// The `type:` of a channel that failed to decode, so rules using it can still be checked.
fn declared_kind(node: &Node) -> Option<Kind> {
    match &node.kind {
        NodeKind::Map(entries) => match get(entries, "type").map(|n| &n.kind) {
            Some(NodeKind::Str(t)) => Kind::parse(t),
            _ => None,
        },
        _ => None,
    }
}
