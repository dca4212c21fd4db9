//! `serve --test-on-reload`: the test files beside the rules file, run against a candidate
//! configuration before it is put in force.

use std::path::Path;

use super::{Runner, discover, read, rules_beside, run_file};
use crate::rules::{RuleSet, Source};

/// Runs every test file beside the rules file that tests it against `config`. Each failure
/// as one line (a broken test file's problems too); empty when everything passes. It reads
/// the test files and their events with blocking calls: `serve` runs it off the runtime
/// (`ops::reload::gate`).
pub async fn gate(config: &RuleSet, source: &Source) -> Vec<String> {
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
