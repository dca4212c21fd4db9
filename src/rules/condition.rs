//! Conditions in `when:` and how they hold against an event.
//!
//! A condition on a field that is absent is false, never an error. When a condition fails,
//! [`Condition::check`] says which one and what value it saw, for `herald simulate`.

use std::fmt;

use serde_json::Value;

pub use super::values::{Bound, Op};
use crate::config::schedule::Span;

/// A dotted path into the event, such as `FieldValues.contact_id` or `Changes.0`.
#[derive(Debug, Clone)]
pub struct FieldPath {
    raw: String,
    segments: Vec<String>,
}

impl FieldPath {
    /// Paths are non-empty segments separated by dots.
    pub fn parse(raw: &str) -> Option<FieldPath> {
        let segments: Vec<String> = raw.split('.').map(str::to_string).collect();
        if raw.trim().is_empty() || segments.iter().any(|s| s.trim().is_empty()) {
            return None;
        }
        Some(FieldPath {
            raw: raw.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The first segment: the top-level name in the template context.
    pub fn root(&self) -> &str {
        &self.segments[0]
    }

    pub fn lookup<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut current = root;
        for seg in &self.segments {
            current = match current {
                Value::Object(map) => map.get(seg)?,
                Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        (!current.is_null()).then_some(current)
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    Field {
        path: FieldPath,
        op: Op,
    },
    /// The event's `Timestamp` falls in this span (days and hours, in a time zone).
    Time(Span),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

/// Why a condition did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The condition that failed, as written (`PrimaryKey gte 500000`).
    pub condition: String,
    /// What was seen instead (`527331`, `absent`).
    pub seen: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (seen: {})", self.condition, self.seen)
    }
}

impl Condition {
    pub fn holds(&self, ctx: &Value) -> bool {
        self.check(ctx).is_ok()
    }

    /// `Ok` if the condition holds; otherwise the innermost condition that failed.
    pub fn check(&self, ctx: &Value) -> Result<(), Failure> {
        match self {
            Condition::Field { path, op } => {
                let value = path.lookup(ctx);
                if op.holds(value) {
                    Ok(())
                } else {
                    Err(Failure {
                        condition: self.to_string(),
                        seen: value.map_or_else(|| "absent".to_string(), show),
                    })
                }
            }
            Condition::Time(span) => self.check_time(span, ctx),
            Condition::All(items) => items.iter().try_for_each(|c| c.check(ctx)),
            Condition::Any(items) => {
                let mut first = None;
                for c in items {
                    match c.check(ctx) {
                        Ok(()) => return Ok(()),
                        Err(f) => {
                            first.get_or_insert(f);
                        }
                    }
                }
                Err(Failure {
                    condition: self.to_string(),
                    seen: match first {
                        Some(f) => format!("none held; first: {f}"),
                        None => "an empty `any` never holds".to_string(),
                    },
                })
            }
            Condition::Not(inner) => match inner.check(ctx) {
                Ok(()) => Err(Failure {
                    condition: self.to_string(),
                    seen: format!("{inner} held"),
                }),
                Err(_) => Ok(()),
            },
        }
    }

    /// `time:`: the event's `Timestamp` in the span, else what time it was there.
    fn check_time(&self, span: &Span, ctx: &Value) -> Result<(), Failure> {
        let at = ctx
            .get("Timestamp")
            .and_then(Value::as_str)
            .and_then(crate::event::time::parse);
        let seen = match at {
            Some(at) if span.is_open(at) => return Ok(()),
            Some(at) => at
                .to_zoned_datetime(span.zone.clone())
                .strftime("%a %Y-%m-%d %H:%M")
                .to_string(),
            None => "no Timestamp".into(),
        };
        Err(Failure {
            condition: self.to_string(),
            seen,
        })
    }

    /// Every field path this condition reads, for checking them against what an event has.
    pub fn fields(&self) -> Vec<&FieldPath> {
        match self {
            Condition::Field { path, .. } => vec![path],
            Condition::Time(_) => Vec::new(),
            Condition::All(items) | Condition::Any(items) => {
                items.iter().flat_map(Condition::fields).collect()
            }
            Condition::Not(inner) => inner.fields(),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Field { path, op } => {
                let (name, arg) = match op {
                    Op::Equals(v) => ("equals", show(v)),
                    Op::NotEquals(v) => ("not_equals", show(v)),
                    Op::In(v) => ("in", show(&Value::Array(v.clone()))),
                    Op::NotIn(v) => ("not_in", show(&Value::Array(v.clone()))),
                    Op::Contains(v) => ("contains", show(v)),
                    Op::StartsWith(s) => ("starts_with", format!("{s:?}")),
                    Op::EndsWith(s) => ("ends_with", format!("{s:?}")),
                    Op::Matches(r) => ("matches", format!("{:?}", r.as_str())),
                    Op::Exists(b) => ("exists", b.to_string()),
                    Op::Gt(b) => ("gt", show_bound(b)),
                    Op::Gte(b) => ("gte", show_bound(b)),
                    Op::Lt(b) => ("lt", show_bound(b)),
                    Op::Lte(b) => ("lte", show_bound(b)),
                };
                write!(f, "{} {name} {arg}", path.as_str())
            }
            Condition::All(items) => write_list(f, "all", items),
            Condition::Any(items) => write_list(f, "any", items),
            Condition::Not(inner) => write!(f, "not ({inner})"),
            Condition::Time(span) => write!(
                f,
                "time on {} {}-{} {}",
                span.days.names().join(","),
                crate::config::schedule::show_clock(span.from),
                crate::config::schedule::show_clock(span.to),
                span.zone_name
            ),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, name: &str, items: &[Condition]) -> fmt::Result {
    write!(f, "{name} [")?;
    for (i, c) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("]")
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn show_bound(b: &Bound) -> String {
    match b {
        Bound::Number(n) => n.to_string(),
        Bound::Time(t) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;
    use serde_json::json;

    fn field(path: &str, op: Op) -> Condition {
        Condition::Field {
            path: FieldPath::parse(path).unwrap(),
            op,
        }
    }

    fn event() -> Value {
        json!({
            "PrimaryKey": 527331, "WebhookName": "test hook", "Changes": ["name", "amount"],
            "Timestamp": "2018-04-24T08:13:02.8352175Z", "FieldValues": {"contact_id": "42"}
        })
    }

    #[test]
    fn operators_hold_as_documented() {
        let t = |s: &str| Bound::Time(crate::event::time::parse(s).unwrap());
        let cases = [
            (field("PrimaryKey", Op::Equals(json!(527331))), true),
            (field("PrimaryKey", Op::Equals(json!("527331"))), true),
            (field("FieldValues.contact_id", Op::Equals(json!(42))), true),
            (field("PrimaryKey", Op::NotEquals(json!(1))), true),
            (
                field("PrimaryKey", Op::In(vec![json!(1), json!(527331)])),
                true,
            ),
            (field("PrimaryKey", Op::NotIn(vec![json!(1)])), true),
            (field("Changes", Op::Contains(json!("amount"))), true),
            (field("WebhookName", Op::Contains(json!("hook"))), true),
            (field("WebhookName", Op::StartsWith("test".into())), true),
            (field("WebhookName", Op::EndsWith("hook".into())), true),
            (
                field("WebhookName", Op::Matches(Regex::new("^t.st").unwrap())),
                true,
            ),
            (field("Changes.1", Op::Equals(json!("amount"))), true),
            (field("PrimaryKey", Op::Gte(Bound::Number(527331.0))), true),
            (field("PrimaryKey", Op::Gt(Bound::Number(527331.0))), false),
            (field("PrimaryKey", Op::Lt(Bound::Number(600000.0))), true),
            (field("PrimaryKey", Op::Lte(Bound::Number(5.0))), false),
            (field("Timestamp", Op::Gt(t("2018-01-01"))), true),
            (field("Timestamp", Op::Lt(t("2018-01-01"))), false),
            (field("Missing", Op::Exists(false)), true),
            (field("PrimaryKey", Op::Exists(true)), true),
        ];
        for (cond, expected) in cases {
            assert_eq!(cond.holds(&event()), expected, "{cond}");
        }
    }

    #[test]
    fn a_condition_on_an_absent_field_is_false() {
        for op in [
            Op::Equals(json!(1)),
            Op::NotEquals(json!(1)),
            Op::NotIn(vec![json!(1)]),
            Op::Gt(Bound::Number(0.0)),
        ] {
            assert!(!field("Nope.deeper", op).holds(&event()));
        }
    }

    #[test]
    fn combinators_nest_and_explain_the_first_failure() {
        let cond = Condition::All(vec![
            field("PrimaryKey", Op::Gt(Bound::Number(1.0))),
            Condition::Any(vec![
                field("PrimaryKey", Op::Gte(Bound::Number(600000.0))),
                Condition::Not(Box::new(field(
                    "WebhookName",
                    Op::Matches(Regex::new("^test").unwrap()),
                ))),
            ]),
        ]);
        let failure = cond.check(&event()).unwrap_err();
        assert!(failure.condition.starts_with("any ["), "{failure}");
        assert!(
            failure
                .seen
                .contains("PrimaryKey gte 600000 (seen: 527331)"),
            "{failure}"
        );
    }
}
