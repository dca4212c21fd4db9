//! Small helpers for reading the positioned YAML tree, each reporting what it finds wrong to
//! the [`Sink`] and returning `None`, so the loader can go on and find the next problem.

use std::time::Duration;

use super::diag::{Sink, did_you_mean};
use super::yaml::{Key, Kind, Node};

pub type Entries = [(Key, Node)];

pub struct Decoder<'s> {
    pub sink: &'s mut Sink,
}

impl Decoder<'_> {
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Entries> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            _ => {
                self.sink.error(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.describe()),
                );
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ => {
                self.sink.error(
                    node.pos,
                    format!("{what} must be a list, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Reports every key not in `allowed`, with a suggestion when one is close.
    pub fn only_keys(&mut self, entries: &Entries, allowed: &[&str], what: &str) {
        for (key, _) in entries {
            if !allowed.contains(&key.name.as_str()) {
                self.sink.error(
                    key.pos,
                    format!(
                        "unknown key `{}` in {what}{}; expected one of: {}",
                        key.name,
                        did_you_mean(&key.name, allowed.iter().copied()),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            _ => {
                self.sink.error(
                    node.pos,
                    format!("{what} must be text, found {}", node.describe()),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.sink.error(
                    node.pos,
                    format!("{what} must be true or false, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// One text or a list of texts, each with its node.
    pub fn texts<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<(&'n Node, String)>> {
        match &node.kind {
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.push((item, self.text(item, what)?));
                }
                Some(out)
            }
            _ => Some(vec![(node, self.text(node, what)?)]),
        }
    }

    /// `500ms`, `10s`, `2m`, `1h`, `1d`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.text(node, what)?;
        match parse_duration(&text) {
            Some(d) => Some(d),
            None => {
                self.sink.error(
                    node.pos,
                    format!("{what} must be a duration like 500ms, 10s, 2m or 1h (at most 10 years), found {text:?}"),
                );
                None
            }
        }
    }
}

pub fn get<'n>(entries: &'n Entries, key: &str) -> Option<&'n Node> {
    entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
}

/// The longest duration herald reads anywhere: ten years. Longer ones are refused, so that
/// no arithmetic on a configured duration can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// `500ms`, `10s`, `2m`, `1h`, `1d`, up to [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    };
    (duration <= MAX_DURATION).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        let cases = [
            ("500ms", Some(Duration::from_millis(500))),
            ("10s", Some(Duration::from_secs(10))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h", Some(Duration::from_secs(3600))),
            ("10", None),
            ("s", None),
            ("3 weeks", None),
            ("18446744073709551615d", None),
            ("3651d", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), expected, "{text}");
        }
    }
}
