//! A YAML document as a tree whose every node knows its line and column.
//!
//! The rules file is decoded from this tree by hand (see `load`), rather than by
//! `#[derive(Deserialize)]`, so that one pass can report *every* problem at once, each
//! with its position: serde stops at the first error.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in the rules file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    fn of<T>(s: &Spanned<T>) -> Pos {
        Pos {
            line: s.referenced.line(),
            column: s.referenced.column(),
        }
    }
}

/// One YAML node and where it stands.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key: always text in the files herald reads.
#[derive(Debug, Clone)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Node {
    /// What kind of value this is, for messages like "expected a list, found a number".
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::Float(_) => "a number",
            Kind::Str(_) => "text",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The node as JSON, for values that rules compare against event fields.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How deep mappings and lists may nest in the files herald reads.
pub const MAX_DEPTH: usize = 32;

/// Parses YAML text into a positioned tree. YAML 1.2 booleans only (`yes` stays text), and
/// numbers with leading zeros stay text, so `0777` is not silently a number.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
        // Rules files and templates are a few levels deep. The parser and this tree recurse once
        // per level, so a cap well below the library's defaults keeps a hostile file from
        // overflowing the stack of any thread that loads it.
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
        },
    };
    let spanned: Spanned<RawKind> =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: l.line(),
                    column: l.column(),
                })
                .unwrap_or(Pos { line: 1, column: 1 });
            // The library's message repeats the position; keep only what it says.
            let full = e.to_string();
            let message = full
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .trim_start_matches("error: ")
                .split_once(": ")
                .filter(|(head, _)| head.starts_with("line "))
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_else(|| full.lines().next().unwrap_or("invalid YAML").to_string());
            SyntaxError { pos, message }
        })?;
    Ok(convert(spanned))
}

fn convert(s: Spanned<RawKind>) -> Node {
    let pos = Pos::of(&s);
    let kind = match s.value {
        RawKind::Null => Kind::Null,
        RawKind::Bool(b) => Kind::Bool(b),
        RawKind::Int(i) => Kind::Int(i),
        RawKind::Float(f) => Kind::Float(f),
        RawKind::Str(t) => Kind::Str(t),
        RawKind::Seq(items) => Kind::Seq(items.into_iter().map(convert).collect()),
        RawKind::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    (
                        Key {
                            pos: Pos::of(&k),
                            name: k.value.into_text(),
                        },
                        convert(v),
                    )
                })
                .collect(),
        ),
    };
    Node { pos, kind }
}

/// What serde-saphyr hands us: children wrapped in `Spanned` so each keeps its position.
enum RawKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawKind>>),
    Map(Vec<(Spanned<RawKind>, Spanned<RawKind>)>),
}

impl RawKind {
    fn into_text(self) -> String {
        match self {
            RawKind::Str(s) => s,
            RawKind::Null => String::new(),
            RawKind::Bool(b) => b.to_string(),
            RawKind::Int(i) => i.to_string(),
            RawKind::Float(f) => f.to_string(),
            RawKind::Seq(_) | RawKind::Map(_) => "<complex key>".to_string(),
        }
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_none<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawKind, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawKind, E> {
        Ok(RawKind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawKind, E> {
        Ok(RawKind::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawKind, E> {
        Ok(i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawKind, E> {
        Ok(RawKind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawKind, E> {
        Ok(RawKind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawKind, E> {
        Ok(RawKind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawKind::Map(entries))
    }
}

impl<'de> Deserialize<'de> for RawKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawKind, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_knows_its_line_and_column() {
        let node = parse("a: 1\nb:\n  - x: hi\n").unwrap();
        let Kind::Map(entries) = &node.kind else {
            panic!("expected a map")
        };
        let (key, value) = &entries[1];
        assert_eq!(
            (key.name.as_str(), key.pos.line, key.pos.column),
            ("b", 2, 1)
        );
        let Kind::Seq(items) = &value.kind else {
            panic!("expected a list")
        };
        assert_eq!((items[0].pos.line, items[0].pos.column), (3, 5));
    }

    #[test]
    fn yes_and_leading_zeros_stay_text() {
        let node = parse("a: yes\nb: 0777\n").unwrap();
        let Kind::Map(entries) = &node.kind else {
            panic!("expected a map")
        };
        assert!(matches!(&entries[0].1.kind, Kind::Str(s) if s == "yes"));
        assert!(matches!(&entries[1].1.kind, Kind::Str(s) if s == "0777"));
    }

    #[test]
    fn a_syntax_error_has_a_position() {
        let err = parse("a: [1,\n b: c").unwrap_err();
        assert_eq!(err.pos.line, 1);
        assert!(err.message.contains("bracket"), "{}", err.message);
    }
}
