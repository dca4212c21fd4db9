//! A condition's operators ([`Op`]) and how each compares an event's value with the rule's: numbers and text forgive the
//! YAML/JSON type gap (`527331` equals `"527331"`), times compare as times, and a field that is
//! absent satisfies no operator but `exists: false`.

use jiff::Timestamp;
use regex::Regex;
use serde_json::Value;

use crate::event::time;

/// A bound for `gt`, `gte`, `lt`, `lte`: a number, or a time.
#[derive(Debug, Clone)]
pub enum Bound {
    Number(f64),
    Time(Timestamp),
}

#[derive(Debug, Clone)]
pub enum Op {
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Contains(Value),
    StartsWith(String),
    EndsWith(String),
    Matches(Regex),
    Exists(bool),
    Gt(Bound),
    Gte(Bound),
    Lt(Bound),
    Lte(Bound),
}

impl Op {
    pub const NAMES: &'static [&'static str] = &[
        "equals",
        "not_equals",
        "in",
        "not_in",
        "contains",
        "starts_with",
        "ends_with",
        "matches",
        "exists",
        "gt",
        "gte",
        "lt",
        "lte",
    ];
}

impl Op {
    /// True if the event's value (absent: `None`) satisfies the operator.
    pub fn holds(&self, value: Option<&Value>) -> bool {
        let value = match (self, value) {
            (Op::Exists(expected), found) => return found.is_some() == *expected,
            (_, None) => return false,
            (_, Some(v)) => v,
        };
        match self {
            Op::Equals(expected) => values_equal(value, expected),
            Op::NotEquals(expected) => !values_equal(value, expected),
            Op::In(list) => list.iter().any(|e| values_equal(value, e)),
            Op::NotIn(list) => !list.iter().any(|e| values_equal(value, e)),
            Op::Contains(needle) => match value {
                Value::Array(items) => items.iter().any(|i| values_equal(i, needle)),
                Value::Object(map) => text_of(needle).is_some_and(|k| map.contains_key(&k)),
                other => match (text_of(other), text_of(needle)) {
                    (Some(hay), Some(n)) => hay.contains(&n),
                    _ => false,
                },
            },
            Op::StartsWith(prefix) => {
                text_of(value).is_some_and(|t| t.starts_with(prefix.as_str()))
            }
            Op::EndsWith(suffix) => text_of(value).is_some_and(|t| t.ends_with(suffix.as_str())),
            Op::Matches(re) => text_of(value).is_some_and(|t| re.is_match(&t)),
            Op::Gt(b) => compare(value, b).is_some_and(|o| o.is_gt()),
            Op::Gte(b) => compare(value, b).is_some_and(|o| o.is_ge()),
            Op::Lt(b) => compare(value, b).is_some_and(|o| o.is_lt()),
            Op::Lte(b) => compare(value, b).is_some_and(|o| o.is_le()),
            Op::Exists(_) => false,
        }
    }
}

/// Scalars as text: strings as they are, numbers and booleans as JSON writes them.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Equality that forgives the YAML/JSON type gap: `527331` equals `"527331"`.
pub fn values_equal(event: &Value, rule: &Value) -> bool {
    match (event, rule) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_equal(x, y))
        }
        (a, b) if a == b => true,
        (a, b) => match (text_of(a), text_of(b)) {
            (Some(x), Some(y)) => {
                x == y || (number_of(a).is_some() && number_of(a) == number_of(b))
            }
            _ => false,
        },
    }
}

fn compare(value: &Value, bound: &Bound) -> Option<std::cmp::Ordering> {
    match bound {
        Bound::Number(n) => number_of(value)?.partial_cmp(n),
        Bound::Time(t) => match value {
            Value::String(s) => Some(time::parse(s)?.cmp(t)),
            _ => None,
        },
    }
}
