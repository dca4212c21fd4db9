//! `serve --test-on-reload`: the test files beside the rules file, run against a candidate
//! configuration before it is put in force.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Runner, discover, read, rules_beside, run_file};
use crate::rules::{RuleSet, Source};

/// How long the test files may take, read and run, before the gate gives up on them.
const GATE_DEADLINE: Duration = Duration::from_secs(60);

/// Runs every test file beside the rules file that tests it against `config`. Each failure
/// as one line (a broken test file's problems too); empty when everything passes.
///
/// The test files, and the events they name, are read with the file system's blocking calls:
/// so the whole run goes on a blocking thread, with a deadline. On a hung mount, or with a FIFO
/// in a test file's place, the gate fails after [`GATE_DEADLINE`] instead of holding a runtime
/// thread (with `serve --workers 1`, the only one) and `/webhook` with it.
pub async fn gate(config: Arc<RuleSet>, source: Source) -> Vec<String> {
    let handle = tokio::runtime::Handle::current();
    let run = move || handle.block_on(gate_here(&config, &source));
    crate::ops::blocking::run(GATE_DEADLINE, run)
        .await
        .unwrap_or_else(|e| vec![format!("the test files beside the rules: {e}")])
}

/// [`gate`], on the calling thread.
async fn gate_here(config: &RuleSet, source: &Source) -> Vec<String> {
    let runner = Runner {
        env_file: source.env_file.clone(),
        filter: None,
        config: Some(config),
    };
    let mut lines = Vec::new();
    for path in discover(&source.rules) {
        let file = match read(&path, &rules_beside(&path, &source.rules)) {
            Ok(file) if same_file(&file.rules, &source.rules) => file,
            Ok(_) => continue,
            Err(problems) => {
                lines.extend(problems.items.iter().map(ToString::to_string));
                continue;
            }
        };
        match run_file(&runner, &file).await {
            Ok(cases) => {
                for case in cases.iter().filter(|c| !c.passed()) {
                    for f in &case.failures {
                        lines.push(format!(
                            "{}: FAIL {}: {}: expected {}, got {}",
                            path.display(),
                            case.name,
                            f.what,
                            f.expected,
                            f.got
                        ));
                    }
                }
            }
            Err(problems) => lines.extend(problems.items.iter().map(ToString::to_string)),
        }
    }
    lines
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
