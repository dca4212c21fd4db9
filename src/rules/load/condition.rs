//! `when:`: conditions on event fields (or, with enrichment, on SuperOffice data), combined
//! with `all`, `any` and `not`.

use regex::Regex;

use super::document::Loader;
use crate::config::decode::{Entries, get};
use crate::config::diag::did_you_mean;
use crate::config::names::is_enriched;
use crate::config::yaml::{Key, Kind as NodeKind, Node};
use crate::event::time;
use crate::rules::condition::{Bound, Condition, FieldPath, Op};

const COMBINATORS: [&str; 3] = ["all", "any", "not"];

impl Loader {
    pub(super) fn conditions(&mut self, node: &Node, label: &str) -> Option<Vec<Condition>> {
        let items = self.d().list(node, &format!("{label}: when"))?;
        let parsed: Vec<Option<Condition>> = items
            .iter()
            .map(|item| self.condition(item, label))
            .collect();
        parsed.into_iter().collect()
    }

    fn condition(&mut self, node: &Node, label: &str) -> Option<Condition> {
        let entries = self.d().map(node, &format!("{label}: a condition"))?;
        if let Some(combinator) = COMBINATORS.iter().find(|c| get(entries, c).is_some()) {
            return self.combined(entries, combinator, node, label);
        }
        if let Some(span) = get(entries, "time") {
            return self.time(entries, span, node, label);
        }
        let mut allowed = COMBINATORS.to_vec();
        allowed.extend(["field", "time"]);
        allowed.extend(Op::NAMES);
        self.d()
            .only_keys(entries, &allowed, &format!("{label}: condition"));
        let (path, raw) = self.field(entries, node, label)?;
        let ops: Vec<&(Key, Node)> = entries
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
        let op = self.op(&op_key.name, arg, &format!("{label}: {}", op_key.name))?;
        Some(Condition::Field { path, op })
    }

    /// `time: { days, timezone, from, to }`, standing alone in its condition: the event's
    /// `Timestamp` in that time zone.
    fn time(
        &mut self,
        entries: &Entries,
        span: &Node,
        node: &Node,
        label: &str,
    ) -> Option<Condition> {
        self.alone(
            entries,
            node,
            label,
            "time",
            "combine it with others under `all:` or `any:`",
        )?;
        let what = format!("{label}: time");
        crate::config::noise::time_span(&mut self.d(), span, &what).map(Condition::Time)
    }

    /// `key` is the condition's only key, or an error says what to do instead.
    fn alone(
        &mut self,
        entries: &Entries,
        node: &Node,
        label: &str,
        key: &str,
        instead: &str,
    ) -> Option<()> {
        if entries.len() == 1 {
            return Some(());
        }
        self.sink.error(
            node.pos,
            format!("{label}: `{key}` must stand alone in its condition; {instead}"),
        );
        None
    }

    /// `all:`, `any:` or `not:`, standing alone in its condition.
    fn combined(
        &mut self,
        entries: &Entries,
        combinator: &str,
        node: &Node,
        label: &str,
    ) -> Option<Condition> {
        self.alone(entries, node, label, combinator, "put the others inside it")?;
        let inner = get(entries, combinator)?;
        match combinator {
            "not" => Some(Condition::Not(Box::new(self.condition(inner, label)?))),
            "all" => Some(Condition::All(self.conditions(inner, label)?)),
            _ => Some(Condition::Any(self.conditions(inner, label)?)),
        }
    }

    /// `field:`, a path whose first name an event (or enrichment) has.
    fn field(
        &mut self,
        entries: &Entries,
        node: &Node,
        label: &str,
    ) -> Option<(FieldPath, String)> {
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
        let problem = if is_enriched(path.root()) && self.superoffice.is_none() {
            Some(format!(
                "{label}: `{raw}` is an enriched field: add a `superoffice:` section so herald can fetch it"
            ))
        } else if !self.known(path.root()) {
            Some(format!(
                "{label}: no event has a field `{}`{}",
                path.root(),
                did_you_mean(path.root(), crate::event::FIELDS.iter().copied())
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            self.sink.error(field_node.pos, message);
            return None;
        }
        Some((path, raw))
    }

    fn op(&mut self, name: &str, arg: &Node, what: &str) -> Option<Op> {
        Some(match name {
            "equals" => Op::Equals(arg.to_json()),
            "not_equals" => Op::NotEquals(arg.to_json()),
            "contains" => Op::Contains(arg.to_json()),
            "in" | "not_in" => {
                let values = self
                    .d()
                    .list(arg, what)?
                    .iter()
                    .map(Node::to_json)
                    .collect();
                if name == "in" {
                    Op::In(values)
                } else {
                    Op::NotIn(values)
                }
            }
            "starts_with" => Op::StartsWith(self.d().text(arg, what)?),
            "ends_with" => Op::EndsWith(self.d().text(arg, what)?),
            "matches" => Op::Matches(self.regex(arg, what)?),
            "exists" => Op::Exists(self.d().boolean(arg, what)?),
            "gt" => Op::Gt(self.bound(arg, what)?),
            "gte" => Op::Gte(self.bound(arg, what)?),
            "lt" => Op::Lt(self.bound(arg, what)?),
            _ => Op::Lte(self.bound(arg, what)?),
        })
    }

    fn regex(&mut self, arg: &Node, what: &str) -> Option<Regex> {
        use super::pattern::{FILE_BUDGET, PATTERN_LIMIT, Refused, compile};
        let pattern = self.d().text(arg, what)?;
        let problem = match compile(&pattern, self.regex_left) {
            Ok((re, cost)) => {
                self.regex_left -= cost;
                return Some(re);
            }
            Err(Refused::Invalid(reason)) => format!("does not compile: {reason}"),
            Err(Refused::TooLarge) => format!(
                "is too large: compiled, it passes the {} KiB herald allows a pattern (large classes such as \\w repeated many times grow fast: write it with fewer repetitions, or match a prefix)",
                PATTERN_LIMIT / 1024
            ),
            Err(Refused::OverBudget) => format!(
                "takes the rules file's patterns past the {} MiB herald allows them together: use fewer or smaller patterns",
                FILE_BUDGET / (1024 * 1024)
            ),
        };
        self.sink
            .error(arg.pos, format!("{what}: regex {pattern:?} {problem}"));
        None
    }

    /// A number, or a time, for `gt`, `gte`, `lt`, `lte`.
    fn bound(&mut self, arg: &Node, what: &str) -> Option<Bound> {
        let problem = match &arg.kind {
            NodeKind::Int(i) => return Some(Bound::Number(*i as f64)),
            NodeKind::Float(f) => return Some(Bound::Number(*f)),
            NodeKind::Str(s) => match (s.trim().parse::<f64>(), time::parse(s)) {
                (Ok(n), _) => return Some(Bound::Number(n)),
                (_, Some(t)) => return Some(Bound::Time(t)),
                _ => format!(
                    "{what} needs a number or a time (2024-01-31 or 2024-01-31T12:00:00Z), found {s:?}"
                ),
            },
            _ => format!("{what} needs a number or a time, found {}", arg.describe()),
        };
        self.sink.error(arg.pos, problem);
        None
    }
}
