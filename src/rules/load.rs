//! Reads `rules.yaml` into a [`RuleSet`], reporting every problem at once with its position.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;

use super::condition::{Bound, Condition, FieldPath, Op};
use super::{Action, Rule, RuleSet};
use crate::config::channel::Kind;
use crate::config::channel::{self, ChannelSpec};
use crate::config::decode::{Decoder, Entries, get};
use crate::config::diag::{Diagnostics, Sink, did_you_mean};
use crate::config::interp;
use crate::config::names::Needs;
use crate::config::names::is_known_root;
use crate::config::superoffice::{self, Auth, SuperOfficeSpec};
use crate::config::yaml::{self, Kind as NodeKind, Node};
use crate::event::{catalog, time};
use crate::render::Renderer;
use crate::render::message::{FileProblem, MessageTemplate};
use crate::secret::Redactor;

const TOP_KEYS: &[&str] = &["superoffice", "channels", "rules", "templates"];
const RULE_KEYS: &[&str] = &["name", "description", "events", "when", "notify", "stop"];
const ACTION_KEYS: &[&str] = &["channel", "template", "text", "subject", "to"];

/// The largest rules file herald reads.
pub const MAX_RULES_BYTES: usize = 1024 * 1024;

/// The largest the rules file's text may grow to once its `${VAR}` values are filled in.
pub const MAX_FILLED_BYTES: usize = 4 * 1024 * 1024;

/// Loads the rules file with variables from the process environment.
pub fn load(file: &Path) -> Result<RuleSet, Diagnostics> {
    load_with_env(file, &|name| std::env::var(name).ok())
}

pub fn load_with_env(
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RuleSet, Diagnostics> {
    let mut sink = Sink::new(file);
    let start = yaml::Pos { line: 1, column: 1 };
    let text = match crate::text::read_bounded(file, MAX_RULES_BYTES) {
        Ok(t) => t,
        Err(e) => {
            sink.error(start, format!("cannot read the rules file: {e}"));
            return Err(sink.finish());
        }
    };
    let mut root = match yaml::parse(&text) {
        Ok(n) => n,
        Err(e) => {
            sink.error(e.pos, format!("invalid YAML: {}", e.message));
            return Err(sink.finish());
        }
    };
    let mut secrets = Vec::new();
    let mut budget = MAX_FILLED_BYTES;
    fill_variables(&mut root, env, &mut sink, &mut secrets, &mut budget);

    let templates_dir = {
        let mut d = Decoder { sink: &mut sink };
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        match &root.kind {
            NodeKind::Map(entries) => match get(entries, "templates") {
                Some(n) => d.text(n, "templates").map(|t| base.join(t)),
                None => Some(base.join("templates")),
            },
            _ => None,
        }
        .unwrap_or_else(|| PathBuf::from("templates"))
    };

    let mut loader = Loader {
        sink,
        renderer: Renderer::new(),
        templates_dir,
        compiled: HashMap::new(),
        superoffice: None,
        reported_files: HashSet::new(),
    };
    let (channels, rules) = loader.document(&root);
    let Loader {
        sink,
        renderer,
        templates_dir,
        superoffice,
        ..
    } = loader;
    if let Some(so) = &superoffice {
        match &so.auth {
            Auth::Bearer(t) => secrets.push(t.expose().clone()),
            Auth::Ticket { ticket, app_token } => {
                secrets.push(ticket.expose().clone());
                secrets.push(app_token.expose().clone());
            }
        }
    }
    if !sink.is_empty() {
        // A message may quote a value that came from the environment: never print it.
        let redactor = Redactor::new(secrets);
        let mut problems = sink.finish();
        for p in &mut problems.items {
            p.message = redactor.redact(&p.message);
        }
        return Err(problems);
    }
    for spec in channels.values() {
        secrets.extend(spec.secrets());
    }
    Ok(RuleSet {
        file: file.to_path_buf(),
        templates_dir,
        channels,
        rules,
        renderer: Arc::new(renderer),
        redactor: Redactor::new(secrets),
        superoffice,
    })
}

/// Replaces `${VAR}` in every text value (not keys), remembering what came from the
/// environment as secrets.
/// `budget` is what is left of [`MAX_FILLED_BYTES`]; past it, filling stops with one error.
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

/// Names a template or condition may use: the event's, herald's, and with a `superoffice:`
/// section the enriched ones.
fn known_root(has_superoffice: bool, name: &str) -> bool {
    is_known_root(name) || (has_superoffice && crate::config::names::ENRICHED.contains(&name))
}

/// A template compiled for a destination kind, and the enriched names it reads.
type Compiled = (Arc<MessageTemplate>, Needs);

struct Loader {
    sink: Sink,
    renderer: Renderer,
    templates_dir: PathBuf,
    /// One compiled template per folder and destination kind, shared by the actions using it.
    compiled: HashMap<(String, Kind), Option<Compiled>>,
    superoffice: Option<SuperOfficeSpec>,
    reported_files: HashSet<(PathBuf, u64, u64, String)>,
}

impl Loader {
    fn known(&self, name: &str) -> bool {
        known_root(self.superoffice.is_some(), name)
    }

    fn d(&mut self) -> Decoder<'_> {
        Decoder {
            sink: &mut self.sink,
        }
    }

    fn document(&mut self, root: &Node) -> (BTreeMap<String, Arc<ChannelSpec>>, Vec<Rule>) {
        let mut channels = BTreeMap::new();
        let mut rules = Vec::new();
        let Some(entries) = self.d().map(root, "the rules file") else {
            return (channels, rules);
        };
        self.d().only_keys(entries, TOP_KEYS, "the rules file");
        if let Some(n) = get(entries, "superoffice") {
            self.superoffice = superoffice::decode(&mut self.d(), n);
        }

        // Names of every channel written, even broken ones, so rules that use a broken
        // channel are not also reported as naming a missing one.
        let mut channel_kinds: BTreeMap<String, Option<Kind>> = BTreeMap::new();
        match get(entries, "channels") {
            Some(n) => {
                if let Some(defs) = self.d().map(n, "channels") {
                    for (key, def) in defs {
                        let spec = channel::decode(&mut self.d(), &key.name, def);
                        let kind = spec
                            .as_ref()
                            .map(|s| s.kind())
                            .or_else(|| declared_kind(def));
                        channel_kinds.insert(key.name.clone(), kind);
                        if let Some(spec) = spec {
                            channels.insert(key.name.clone(), Arc::new(spec));
                        }
                    }
                }
            }
            None => self.sink.error(
                root.pos,
                "the rules file needs `channels:`, where messages go",
            ),
        }
        match get(entries, "rules") {
            Some(n) => {
                if let Some(items) = self.d().list(n, "rules") {
                    let mut seen: HashMap<String, u64> = HashMap::new();
                    for item in items {
                        if let Some(rule) = self.rule(item, &channel_kinds, &channels) {
                            if let Some(line) = seen.get(&rule.name) {
                                self.sink.error(
                                    rule.pos,
                                    format!("rule `{}`: duplicate rule name (first used on line {line})", rule.name),
                                );
                            } else {
                                seen.insert(rule.name.clone(), rule.pos.line);
                            }
                            rules.push(rule);
                        }
                    }
                }
            }
            None => self
                .sink
                .error(root.pos, "the rules file needs `rules:`, what to send when"),
        }
        (channels, rules)
    }

    fn rule(
        &mut self,
        node: &Node,
        channel_kinds: &BTreeMap<String, Option<Kind>>,
        channels: &BTreeMap<String, Arc<ChannelSpec>>,
    ) -> Option<Rule> {
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

        let events = self.events(entries, node, &label);
        let when = match get(entries, "when") {
            Some(n) => self.conditions(n, &label),
            None => Some(Vec::new()),
        };
        let notify = match get(entries, "notify") {
            Some(n) => self.actions(n, &label, channel_kinds, channels),
            None => {
                self.sink.error(
                    node.pos,
                    format!("{label} needs `notify:`, a list of channels to tell"),
                );
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
        if self.sink.items.len() != before {
            // Keep the name for the duplicate check, even though the rule is broken.
            return name.map(|name| Rule {
                name,
                pos: node.pos,
                events: Vec::new(),
                when: Vec::new(),
                notify: Vec::new(),
                stop: false,
            });
        }
        let when = when?;
        let mut needs = Needs::default();
        for cond in &when {
            for f in cond.fields() {
                needs.add(f.root());
            }
        }
        // Each action reads what its template reads and what the rule's conditions read:
        // computed once here, not per event.
        let mut notify = notify?;
        for action in &mut notify {
            action.needs = action.needs.union(&needs);
        }
        let rule = Rule {
            name: name?,
            pos: node.pos,
            events: events?,
            when,
            notify,
            stop: stop?,
        };
        if rule.stop && rule.is_deferred() {
            let at = get(entries, "stop").map_or(node.pos, |n| n.pos);
            self.sink.error(
                at,
                format!("{label}: `stop: true` cannot be used on a rule whose conditions read enriched fields (they are decided after the answer to SuperOffice)"),
            );
            return None;
        }
        Some(rule)
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
        let mut ok = true;
        for (item, pattern) in &patterns {
            if !catalog::is_known_pattern(pattern) {
                ok = false;
                self.sink.error(
                    item.pos,
                    format!(
                        "{label}: `{pattern}` matches no SuperOffice event{}",
                        did_you_mean(pattern, catalog::EVENTS.iter().copied())
                    ),
                );
            }
        }
        if patterns.is_empty() {
            self.sink.error(n.pos, format!("{label}: events is empty"));
            ok = false;
        }
        ok.then(|| patterns.into_iter().map(|(_, p)| p).collect())
    }

    fn conditions(&mut self, node: &Node, label: &str) -> Option<Vec<Condition>> {
        let items = self.d().list(node, &format!("{label}: when"))?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.condition(item, label) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn condition(&mut self, node: &Node, label: &str) -> Option<Condition> {
        let entries = self.d().map(node, &format!("{label}: a condition"))?;
        for combinator in ["all", "any", "not"] {
            if let Some(inner) = get(entries, combinator) {
                if entries.len() != 1 {
                    self.sink.error(
                        node.pos,
                        format!("{label}: `{combinator}` must stand alone in its condition; put the others inside it"),
                    );
                    return None;
                }
                return match combinator {
                    "not" => Some(Condition::Not(Box::new(self.condition(inner, label)?))),
                    "all" => Some(Condition::All(self.conditions(inner, label)?)),
                    _ => Some(Condition::Any(self.conditions(inner, label)?)),
                };
            }
        }
        let mut allowed = vec!["field", "all", "any", "not"];
        allowed.extend(Op::NAMES);
        self.d()
            .only_keys(entries, &allowed, &format!("{label}: condition"));
        let Some(field_node) = get(entries, "field") else {
            self.sink.error(
                node.pos,
                format!("{label}: a condition needs `field:` and an operator, or `all:`, `any:` or `not:`"),
            );
            return None;
        };
        let raw = self.d().text(field_node, &format!("{label}: field"))?;
        let Some(path) = FieldPath::parse(&raw) else {
            self.sink.error(field_node.pos, format!("{label}: `{raw}` is not a field path (like PrimaryKey or FieldValues.contact_id)"));
            return None;
        };
        if crate::config::names::ENRICHED.contains(&path.root()) && self.superoffice.is_none() {
            self.sink.error(
                field_node.pos,
                format!("{label}: `{raw}` is an enriched field: add a `superoffice:` section so herald can fetch it"),
            );
            return None;
        }
        if !self.known(path.root()) {
            self.sink.error(
                field_node.pos,
                format!(
                    "{label}: no event has a field `{}`{}",
                    path.root(),
                    did_you_mean(path.root(), crate::event::FIELDS.iter().copied())
                ),
            );
            return None;
        }
        let ops: Vec<_> = entries
            .iter()
            .filter(|(k, _)| Op::NAMES.contains(&k.name.as_str()))
            .collect();
        let [(op_key, arg)] = ops.as_slice() else {
            self.sink.error(
                node.pos,
                format!(
                    "{label}: a condition on `{raw}` needs exactly one operator ({}), found {}",
                    Op::NAMES.join(", "),
                    ops.len()
                ),
            );
            return None;
        };
        let what = format!("{label}: {}", op_key.name);
        let op = match op_key.name.as_str() {
            "equals" => Op::Equals(arg.to_json()),
            "not_equals" => Op::NotEquals(arg.to_json()),
            "contains" => Op::Contains(arg.to_json()),
            "in" | "not_in" => {
                let items = self.d().list(arg, &what)?;
                let values = items.iter().map(Node::to_json).collect();
                if op_key.name == "in" {
                    Op::In(values)
                } else {
                    Op::NotIn(values)
                }
            }
            "starts_with" => Op::StartsWith(self.d().text(arg, &what)?),
            "ends_with" => Op::EndsWith(self.d().text(arg, &what)?),
            "matches" => {
                let pattern = self.d().text(arg, &what)?;
                match Regex::new(&pattern) {
                    Ok(re) => Op::Matches(re),
                    Err(e) => {
                        let reason = e.to_string();
                        let last = reason
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .trim()
                            .trim_start_matches("error: ")
                            .to_string();
                        self.sink.error(
                            arg.pos,
                            format!("{what}: regex {pattern:?} does not compile: {last}"),
                        );
                        return None;
                    }
                }
            }
            "exists" => Op::Exists(self.d().boolean(arg, &what)?),
            name => {
                let bound = match &arg.kind {
                    NodeKind::Int(i) => Bound::Number(*i as f64),
                    NodeKind::Float(f) => Bound::Number(*f),
                    NodeKind::Str(s) => match (s.trim().parse::<f64>(), time::parse(s)) {
                        (Ok(n), _) => Bound::Number(n),
                        (_, Some(t)) => Bound::Time(t),
                        _ => {
                            self.sink.error(arg.pos, format!("{what} needs a number or a time (2024-01-31 or 2024-01-31T12:00:00Z), found {s:?}"));
                            return None;
                        }
                    },
                    _ => {
                        self.sink.error(
                            arg.pos,
                            format!("{what} needs a number or a time, found {}", arg.describe()),
                        );
                        return None;
                    }
                };
                match name {
                    "gt" => Op::Gt(bound),
                    "gte" => Op::Gte(bound),
                    "lt" => Op::Lt(bound),
                    _ => Op::Lte(bound),
                }
            }
        };
        Some(Condition::Field { path, op })
    }

    fn actions(
        &mut self,
        node: &Node,
        label: &str,
        channel_kinds: &BTreeMap<String, Option<Kind>>,
        channels: &BTreeMap<String, Arc<ChannelSpec>>,
    ) -> Option<Vec<Action>> {
        let items = self.d().list(node, &format!("{label}: notify"))?;
        if items.is_empty() {
            self.sink
                .error(node.pos, format!("{label}: notify is empty"));
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.action(item, label, channel_kinds, channels) {
                Some(a) => out.push(a),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn action(
        &mut self,
        node: &Node,
        label: &str,
        channel_kinds: &BTreeMap<String, Option<Kind>>,
        channels: &BTreeMap<String, Arc<ChannelSpec>>,
    ) -> Option<Action> {
        let entries = self.d().map(node, &format!("{label}: a notify entry"))?;
        self.d()
            .only_keys(entries, ACTION_KEYS, &format!("{label}: notify entry"));
        let Some(channel_node) = get(entries, "channel") else {
            self.sink.error(
                node.pos,
                format!("{label}: a notify entry needs `channel:`"),
            );
            return None;
        };
        let channel = self.d().text(channel_node, &format!("{label}: channel"))?;
        let Some(kind) = channel_kinds.get(&channel) else {
            self.sink.error(
                channel_node.pos,
                format!(
                    "{label}: channel `{channel}` does not exist{}",
                    did_you_mean(&channel, channel_kinds.keys().map(String::as_str))
                ),
            );
            return None;
        };
        // A broken channel was reported where it is defined.
        let kind = (*kind)?;
        let to = match get(entries, "to") {
            Some(n) if kind != Kind::Email => {
                self.sink.error(
                    n.pos,
                    format!(
                        "{label}: `to` is for email channels; `{channel}` is {}",
                        kind.as_str()
                    ),
                );
                return None;
            }
            Some(n) => Some(channel::mailboxes(
                &mut self.d(),
                n,
                &format!("{label}: to"),
            )?),
            None => None,
        };
        let subject = match get(entries, "subject") {
            Some(n) if kind != Kind::Email => {
                self.sink.error(
                    n.pos,
                    format!(
                        "{label}: `subject` is for email channels; `{channel}` is {}",
                        kind.as_str()
                    ),
                );
                return None;
            }
            Some(n) => Some((n, self.d().text(n, &format!("{label}: subject"))?)),
            None => None,
        };
        if kind == Kind::Email {
            let has_to = to.as_ref().is_some_and(|t| !t.is_empty())
                || channels
                    .get(&channel)
                    .and_then(|c| c.email())
                    .is_some_and(|e| !e.to.is_empty() || !e.cc.is_empty());
            if !has_to && channels.contains_key(&channel) {
                self.sink.error(
                    node.pos,
                    format!("{label}: no recipient: give `to:` here or on channel `{channel}`"),
                );
                return None;
            }
        }
        match (get(entries, "template"), get(entries, "text")) {
            (Some(t), None) => {
                let name = self.d().text(t, &format!("{label}: template"))?;
                let (template, needs) = self.folder_template(&name, kind, t, label)?;
                Some(Action {
                    channel,
                    template,
                    template_name: Some(name),
                    to,
                    needs,
                })
            }
            (None, Some(t)) => {
                let text = self.d().text(t, &format!("{label}: text"))?;
                let channel_subject = channels
                    .get(&channel)
                    .and_then(|c| c.email())
                    .and_then(|e| e.subject.clone());
                let subject_text = subject.as_ref().map(|(_, s)| s.clone()).or(channel_subject);
                let used = std::cell::RefCell::new(Needs::default());
                let has_so = self.superoffice.is_some();
                let known = |r: &str| {
                    used.borrow_mut().add(r);
                    known_root(has_so, r)
                };
                match MessageTemplate::inline(
                    &mut self.renderer,
                    kind,
                    &text,
                    subject_text.as_deref(),
                    &known,
                ) {
                    Ok(template) => Some(Action {
                        channel,
                        template: Arc::new(template),
                        template_name: None,
                        to,
                        needs: used.into_inner(),
                    }),
                    Err(problems) => {
                        for p in problems {
                            self.sink
                                .error(t.pos, format!("{label}: text: {}", p.message));
                        }
                        None
                    }
                }
            }
            (Some(_), Some(t)) => {
                self.sink.error(
                    t.pos,
                    format!("{label}: give `template:` or `text:`, not both"),
                );
                None
            }
            (None, None) => {
                self.sink.error(node.pos, format!("{label}: a notify entry needs `template:` (a folder in templates/) or `text:`"));
                None
            }
        }
    }

    fn folder_template(
        &mut self,
        name: &str,
        kind: Kind,
        node: &Node,
        label: &str,
    ) -> Option<(Arc<MessageTemplate>, Needs)> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            self.sink.error(
                node.pos,
                format!("{label}: template `{name}` must be a folder name in templates/"),
            );
            return None;
        }
        let folder = self.templates_dir.join(name);
        if !folder.is_dir() {
            let known: Vec<String> = std::fs::read_dir(&self.templates_dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            self.sink.error(
                node.pos,
                format!(
                    "{label}: template `{name}` not found: no folder {}{}",
                    folder.display(),
                    did_you_mean(name, known.iter().map(String::as_str))
                ),
            );
            return None;
        }
        let key = (name.to_string(), kind);
        if let Some(done) = self.compiled.get(&key) {
            if done.is_none() {
                self.sink.error(
                    node.pos,
                    format!("{label}: template `{name}` has problems (reported at the template)"),
                );
            }
            return done.clone();
        }
        let used = std::cell::RefCell::new(Needs::default());
        let has_so = self.superoffice.is_some();
        let known = |r: &str| {
            used.borrow_mut().add(r);
            known_root(has_so, r)
        };
        let result = MessageTemplate::from_folder(&mut self.renderer, &folder, kind, &known);
        let compiled = match result {
            Ok(t) => Some((Arc::new(t), used.into_inner())),
            Err(problems) => {
                for FileProblem { file, pos, message } in problems {
                    let id = (file.clone(), pos.line, pos.column, message.clone());
                    if self.reported_files.insert(id) {
                        self.sink.error_in(
                            &file,
                            pos,
                            format!("{message} (template `{name}`, used by {label})"),
                        );
                    }
                }
                None
            }
        };
        self.compiled.insert(key, compiled.clone());
        compiled
    }
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
