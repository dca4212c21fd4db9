//! Running a test file's cases: the rules loaded (once, or again for a case with `env:`), the
//! names the cases use checked against them, each event simulated and compared.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{Case, CaseResult, EventSource, Named, TestFile, expect};
use crate::config::diag::{Diagnostics, Sink, did_you_mean};
use crate::enrich::Enricher;
use crate::enrich::api::Api;
use crate::event::Event;
use crate::rules::{RuleSet, Source};
use crate::simulate::{Ctx, simulate};

/// How to run test files.
#[derive(Default)]
pub struct Runner<'a> {
    /// The environment file `${VAR}` reads, as for every command.
    pub env_file: Option<PathBuf>,
    /// Only the cases whose name contains this.
    pub filter: Option<String>,
    /// The configuration to test for cases without `env:`, instead of loading the file (a
    /// reload's candidate, with `serve --test-on-reload`).
    pub config: Option<&'a RuleSet>,
}

/// Runs the cases of `file` that pass the filter. `Err` when the file cannot be run: its rules
/// do not load, or a case names a rule or channel the rules do not have.
pub async fn run_file(
    runner: &Runner<'_>,
    file: &TestFile,
) -> Result<Vec<CaseResult>, Diagnostics> {
    let source = Source {
        rules: file.rules.clone(),
        env_file: runner.env_file.clone(),
    };
    let loaded;
    let base = match runner.config {
        Some(config) => config,
        None => {
            loaded = source.load()?;
            &loaded
        }
    };
    let mut results = Vec::new();
    let wanted = file.cases.iter().filter(|c| match &runner.filter {
        Some(f) => c.name.contains(f.as_str()),
        None => true,
    });
    for case in wanted {
        let own;
        let config = if case.env.is_empty() {
            base
        } else {
            own = source.load_with(&case.env)?;
            &own
        };
        known_names(config, file, case)?;
        results.push(run_case(config, case).await);
    }
    Ok(results)
}

async fn run_case(config: &RuleSet, case: &Case) -> CaseResult {
    let event = match event(case) {
        Ok(e) => e,
        Err(unreadable) => {
            return CaseResult {
                name: case.name.clone(),
                failures: vec![super::Failure {
                    what: "event".into(),
                    expected: "a webhook event".into(),
                    got: crate::text::causes(&unreadable),
                    diff: None,
                }],
            };
        }
    };
    let enricher = config
        .superoffice
        .clone()
        .zip(case.api_responses.clone())
        .map(|(so, dir)| Enricher::new(Api::from_files(so, dir), config.redactor.clone()));
    let ctx = Ctx {
        enricher: enricher.as_ref(),
        store: None,
        now: case.at.unwrap_or_else(Timestamp::now),
    };
    let report = simulate(config, &event, ctx).await;
    let mut failures = expect::compare(&report, &case.expect);
    for f in &mut failures {
        for text in [&mut f.expected, &mut f.got] {
            *text = config.redactor.redact(text);
        }
        f.diff = f.diff.as_deref().map(|d| config.redactor.redact(d));
    }
    CaseResult {
        name: case.name.clone(),
        failures,
    }
}

/// The case's event, read again now (the file may have changed since the test file was read).
fn event(case: &Case) -> Result<Event, Unreadable> {
    let bytes = match &case.event {
        EventSource::File(path) => std::fs::read(path).map_err(|source| Unreadable::File {
            path: path.display().to_string(),
            source,
        })?,
        EventSource::Inline(value) => serde_json::to_vec(value).map_err(Unreadable::Inline)?,
    };
    Event::parse(&bytes).map_err(Unreadable::Event)
}

/// A case's event that cannot be had.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("cannot read {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the inline event is not JSON")]
    Inline(#[source] serde_json::Error),
    #[error(transparent)]
    Event(crate::event::EventError),
}

/// Every rule and channel a case names exists in the rules: a misspelt name would otherwise
/// make `not_delivered` pass for ever.
fn known_names(config: &RuleSet, file: &TestFile, case: &Case) -> Result<(), Diagnostics> {
    let mut sink = Sink::new(&file.path);
    let rules: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
    let channels: Vec<&str> = config.channels.keys().map(String::as_str).collect();
    let expect = &case.expect;
    let named_rules = expect.matched.iter().flatten();
    let named_channels = expect
        .deliveries
        .iter()
        .map(|d| &d.channel)
        .chain(&expect.not_delivered);
    for (names, known, what) in [
        (named_rules.collect::<Vec<&Named>>(), &rules, "rule"),
        (named_channels.collect(), &channels, "channel"),
    ] {
        for n in names
            .into_iter()
            .filter(|n| !known.contains(&n.name.as_str()))
        {
            let message = format!(
                "no {what} `{}` in {}{}",
                n.name,
                file.rules.display(),
                did_you_mean(&n.name, known.iter().copied())
            );
            sink.error(n.pos, message);
        }
    }
    if sink.is_empty() {
        Ok(())
    } else {
        Err(sink.finish())
    }
}
