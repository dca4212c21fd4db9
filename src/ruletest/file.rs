//! A test file, decoded from the positioned YAML tree like the rules file: every problem at
//! once, each with `FILE:LINE:COLUMN`.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::Value;

use super::{Case, DeliveryExpect, EventSource, Expect, TestFile};
use crate::config::decode::{Decoder, Entries, get};
use crate::config::diag::{Diagnostics, Sink};
use crate::config::yaml::{self, Kind, Node};
use crate::simulate::report::Decision;

/// The largest test file herald reads.
pub const MAX_TEST_FILE_BYTES: usize = 1024 * 1024;

const TOP_KEYS: &[&str] = &["rules", "tests"];
const CASE_KEYS: &[&str] = &["name", "event", "api_responses", "env", "at", "expect"];
const EXPECT_KEYS: &[&str] = &["matched", "deliveries", "not_delivered"];
const DELIVERY_KEYS: &[&str] = &[
    "channel",
    "template",
    "contains",
    "not_contains",
    "json",
    "subject",
    "decision",
];

/// Reads and decodes a test file; `rules` is the rules file to use when it names none.
pub fn read(path: &Path, rules: &Path) -> Result<TestFile, Diagnostics> {
    let mut sink = Sink::new(path);
    let text = match crate::text::read_bounded(path, MAX_TEST_FILE_BYTES) {
        Ok(t) => t,
        Err(e) => {
            sink.error(
                Default::default(),
                format!("cannot read the test file: {e}"),
            );
            return Err(sink.finish());
        }
    };
    let root = match yaml::parse(&text) {
        Ok(root) => root,
        Err(e) => {
            sink.error(e.pos, e.message);
            return Err(sink.finish());
        }
    };
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut reader = Reader {
        sink: &mut sink,
        base,
    };
    let file = reader.file(path, rules, &root);
    match file {
        Some(file) if sink.is_empty() => Ok(file),
        _ => Err(sink.finish()),
    }
}

struct Reader<'s> {
    sink: &'s mut Sink,
    /// The test file's folder: paths in it are relative to it.
    base: PathBuf,
}

impl Reader<'_> {
    fn d(&mut self) -> Decoder<'_> {
        Decoder { sink: self.sink }
    }

    fn file(&mut self, path: &Path, rules: &Path, root: &Node) -> Option<TestFile> {
        let entries = self.d().map(root, "the test file")?;
        self.d().only_keys(entries, TOP_KEYS, "the test file");
        let rules = match get(entries, "rules") {
            Some(n) => self.path(n, "`rules`")?,
            None => rules.to_path_buf(),
        };
        let Some(tests) = get(entries, "tests") else {
            self.sink
                .error(root.pos, "the test file needs `tests:`, a list of cases");
            return None;
        };
        let items = self.d().list(tests, "`tests`")?;
        let cases = items.iter().filter_map(|n| self.case(n)).collect();
        Some(TestFile {
            path: path.to_path_buf(),
            rules,
            cases,
        })
    }

    fn case(&mut self, node: &Node) -> Option<Case> {
        let entries = self.d().map(node, "a test case")?;
        self.d().only_keys(entries, CASE_KEYS, "a test case");
        let name = self.required(entries, node, "name", "a test case");
        let name = name.and_then(|n| self.d().text(n, "`name`"));
        let event = self.required(entries, node, "event", "a test case");
        let event = event.and_then(|n| self.event(n));
        let api_responses = get(entries, "api_responses").map(|n| self.folder(n));
        let env = get(entries, "env").map(|n| self.env(n));
        let at = get(entries, "at").map(|n| self.at(n));
        let expect = self.required(entries, node, "expect", "a test case");
        let expect = expect.and_then(|n| self.expect(n));
        Some(Case {
            name: name?,
            pos: node.pos,
            event: event?,
            api_responses: api_responses.map_or(Some(None), |f| f.map(Some))?,
            env: env.map_or(Some(Vec::new()), |e| e)?,
            at: at.map_or(Some(None), |a| a.map(Some))?,
            expect: expect?,
        })
    }

    fn required<'n>(
        &mut self,
        entries: &'n Entries,
        node: &Node,
        key: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let found = get(entries, key);
        if found.is_none() {
            self.sink.error(node.pos, format!("{what} needs `{key}:`"));
        }
        found
    }

    /// A path to a saved event, or the event inline as a mapping; checked to be an event.
    fn event(&mut self, node: &Node) -> Option<EventSource> {
        let (source, bytes) = match &node.kind {
            Kind::Map(_) => {
                let value = node.to_json();
                let bytes = serde_json::to_vec(&value).ok()?;
                (EventSource::Inline(value), bytes)
            }
            _ => {
                let path = self.path(node, "`event`")?;
                match std::fs::read(&path) {
                    Ok(bytes) => (EventSource::File(path), bytes),
                    Err(e) => {
                        let message = format!("cannot read the event {}: {e}", path.display());
                        self.sink.error(node.pos, message);
                        return None;
                    }
                }
            }
        };
        if let Err(e) = crate::event::Event::parse(&bytes) {
            self.sink
                .error(node.pos, format!("`event` is not a webhook event: {e}"));
            return None;
        }
        Some(source)
    }

    /// A path, relative to the test file's folder.
    fn path(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        let text = self.d().text(node, what)?;
        Some(self.base.join(text))
    }

    fn folder(&mut self, node: &Node) -> Option<PathBuf> {
        let path = self.path(node, "`api_responses`")?;
        if !path.is_dir() {
            let message = format!("`api_responses`: {} is not a folder", path.display());
            self.sink.error(node.pos, message);
            return None;
        }
        Some(path)
    }

    fn env(&mut self, node: &Node) -> Option<Vec<(String, String)>> {
        let entries = self.d().map(node, "`env`")?;
        let mut out = Vec::new();
        for (key, value) in entries {
            let value = self.d().text(value, &format!("`env.{}`", key.name))?;
            out.push((key.name.clone(), value));
        }
        Some(out)
    }

    /// `2026-11-20T14:05:00+01:00` or `2026-11-20T13:05:00Z`: a time with its offset.
    fn at(&mut self, node: &Node) -> Option<Timestamp> {
        let text = self.d().text(node, "`at`")?;
        match text.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                let message = format!(
                    "`at` must be a time with its offset, like 2026-11-20T14:05:00+01:00, found {text:?}"
                );
                self.sink.error(node.pos, message);
                None
            }
        }
    }

    fn expect(&mut self, node: &Node) -> Option<Expect> {
        let entries = self.d().map(node, "`expect`")?;
        self.d().only_keys(entries, EXPECT_KEYS, "`expect`");
        let matched = match get(entries, "matched") {
            Some(n) => Some(self.names(n, "`matched`")?),
            None => None,
        };
        let deliveries = match get(entries, "deliveries") {
            Some(n) => {
                let items = self.d().list(n, "`deliveries`")?;
                items.iter().filter_map(|i| self.delivery(i)).collect()
            }
            None => Vec::new(),
        };
        let not_delivered = match get(entries, "not_delivered") {
            Some(n) => self.names(n, "`not_delivered`")?,
            None => Vec::new(),
        };
        Some(Expect {
            matched,
            deliveries,
            not_delivered,
        })
    }

    /// A list of rule or channel names, each with its position (`[]` is an empty list).
    fn names(&mut self, node: &Node, what: &str) -> Option<Vec<super::Named>> {
        let items = self.d().list(node, what)?;
        let mut out = Vec::new();
        for item in items {
            let name = self.d().text(item, what)?;
            out.push(super::Named {
                name,
                pos: item.pos,
            });
        }
        Some(out)
    }

    fn delivery(&mut self, node: &Node) -> Option<DeliveryExpect> {
        let entries = self.d().map(node, "an expected delivery")?;
        self.d()
            .only_keys(entries, DELIVERY_KEYS, "an expected delivery");
        let channel = self.required(entries, node, "channel", "an expected delivery")?;
        let channel = super::Named {
            name: self.d().text(channel, "`channel`")?,
            pos: channel.pos,
        };
        let text = |r: &mut Self, key: &str| match get(entries, key) {
            Some(n) => r.d().text(n, &format!("`{key}`")).map(Some),
            None => Some(None),
        };
        let texts = |r: &mut Self, key: &str| match get(entries, key) {
            Some(n) => r
                .d()
                .texts(n, &format!("`{key}`"))
                .map(|v| v.into_iter().map(|(_, t)| t).collect()),
            None => Some(Vec::new()),
        };
        let template = text(self, "template")?;
        let subject = text(self, "subject")?;
        let contains = texts(self, "contains")?;
        let not_contains = texts(self, "not_contains")?;
        let json = match get(entries, "json") {
            Some(n) => self.pointers(n)?,
            None => Vec::new(),
        };
        let decision = match get(entries, "decision") {
            Some(n) => Some(self.decision(n)?),
            None => None,
        };
        Some(DeliveryExpect {
            channel,
            template,
            contains,
            not_contains,
            json,
            subject,
            decision,
        })
    }

    /// `{ "/blocks/0/text/text": value }`: JSON Pointers (RFC 6901) to exact values.
    fn pointers(&mut self, node: &Node) -> Option<Vec<(String, Value)>> {
        let entries = self.d().map(node, "`json`")?;
        let mut out = Vec::new();
        for (key, value) in entries {
            if !(key.name.is_empty() || key.name.starts_with('/')) {
                let message = format!(
                    "`json`: {:?} is not a JSON Pointer; write it from the root, like /blocks/0/text/text",
                    key.name
                );
                self.sink.error(key.pos, message);
                continue;
            }
            out.push((key.name.clone(), value.to_json()));
        }
        Some(out)
    }

    fn decision(&mut self, node: &Node) -> Option<Decision> {
        let text = self.d().text(node, "`decision`")?;
        match text.as_str() {
            "now" => Some(Decision::Now),
            "held" => Some(Decision::Held),
            "digest" => Some(Decision::Digest),
            _ => {
                let message =
                    format!("`decision` must be one of: now, held, digest; found {text:?}");
                self.sink.error(node.pos, message);
                None
            }
        }
    }
}
