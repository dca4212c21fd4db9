//! Rule tests: files of cases kept next to the rules (`*.test.yaml`), each an event and what the
//! rules must make of it. A case runs through [`crate::simulate`], the same pipeline as
//! delivery, so a passing case is what `serve` would send. `herald test` prints the results;
//! `serve --test-on-reload` refuses a reload whose cases fail.

mod expect;
mod file;
mod gate;
mod run;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::config::yaml::Pos;
use crate::simulate::report::Decision;
pub use file::read;
pub use gate::gate;
pub use run::{Runner, run_file};

/// A test file: the rules it tests and its cases.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: PathBuf,
    pub rules: PathBuf,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub pos: Pos,
    pub event: EventSource,
    /// Saved SuperOffice answers; without them the case runs without enrichment, never
    /// against the network.
    pub api_responses: Option<PathBuf>,
    /// `${VAR}` values for this case, before the environment.
    pub env: Vec<(String, String)>,
    /// The time the case pretends it is.
    pub at: Option<Timestamp>,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub enum EventSource {
    File(PathBuf),
    Inline(Value),
}

/// A rule or channel name in a test file, where it is written.
#[derive(Debug, Clone)]
pub struct Named {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Exactly these rules match, in this order (`[]`: none).
    pub matched: Option<Vec<Named>>,
    pub deliveries: Vec<DeliveryExpect>,
    /// Channels that must get nothing.
    pub not_delivered: Vec<Named>,
}

/// A message one channel must get, and what it must say.
#[derive(Debug, Clone)]
pub struct DeliveryExpect {
    pub channel: Named,
    pub template: Option<String>,
    pub contains: Vec<String>,
    pub not_contains: Vec<String>,
    /// JSON Pointers into a JSON body, each to an exact value.
    pub json: Vec<(String, Value)>,
    /// Email: the exact subject.
    pub subject: Option<String>,
    pub decision: Option<Decision>,
}

/// One case's result: passed when nothing differed.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub failures: Vec<Failure>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One thing that differed from what the case expects.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// What was compared: `matched`, `sales-slack: contains`...
    pub what: String,
    pub expected: String,
    pub got: String,
    /// A unified diff of expected and rendered text, when both are text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// The test files beside a rules file: every `*.test.yaml` in its folder, sorted.
pub fn discover(rules: &Path) -> Vec<PathBuf> {
    let dir = match rules.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".test.yaml"))
        })
        .map(|p| p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p))
        .collect();
    found.sort();
    found
}

/// The rules file a test file tests when it names none: `X.yaml` beside `X.test.yaml` if there
/// is one, otherwise `fallback` (the `--rules` file).
pub fn rules_beside(test_file: &Path, fallback: &Path) -> PathBuf {
    let name = test_file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(stem) = name.strip_suffix(".test.yaml") {
        let beside = test_file.with_file_name(format!("{stem}.yaml"));
        if beside.is_file() {
            return beside;
        }
    }
    fallback.to_path_buf()
}
