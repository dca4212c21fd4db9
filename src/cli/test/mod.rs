//! `herald test`: run the cases of test files against the rules, like `promtool test rules`.
//! Exit 0 when every case passes, 1 when one fails, 2 when a test file (or its rules) cannot
//! be run.

mod format;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::diag::Diagnostics;
use crate::ruletest::{self, CaseResult, Runner};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test files; by default every *.test.yaml beside the rules file.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: super::RulesArg,
    /// `human` (PASS / FAIL lines with what differed), `junit` (XML for GitLab, Jenkins,
    /// GitHub) or `json`.
    #[arg(long, default_value = "human", value_parser = ["human", "junit", "json"])]
    pub format: String,
    /// Run only the cases whose name contains this.
    #[arg(long, value_name = "SUBSTRING")]
    pub filter: Option<String>,
}

/// One test file's outcome: its cases' results, or why it could not run.
pub struct FileOutcome {
    pub path: PathBuf,
    pub rules: PathBuf,
    pub result: Result<Vec<CaseResult>, Diagnostics>,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let files = match args.files.is_empty() {
        true => ruletest::discover(&args.rules.rules),
        false => args.files.clone(),
    };
    if files.is_empty() {
        writeln!(
            out,
            "no test files: name them, or put *.test.yaml files beside {}",
            args.rules.rules.display()
        )?;
        return Ok(ExitCode::from(2));
    }
    let runner = Runner {
        env_file: args.rules.env_file.clone(),
        filter: args.filter.clone(),
        config: None,
    };
    let mut outcomes = Vec::new();
    for path in files {
        outcomes.push(run_one(&runner, path, &args.rules.rules).await);
    }
    let text = match args.format.as_str() {
        "junit" => format::junit(&outcomes),
        "json" => format::json(&outcomes)?,
        _ => format::human(&outcomes),
    };
    write!(out, "{text}")?;
    Ok(exit_code(&outcomes))
}

async fn run_one(runner: &Runner<'_>, path: PathBuf, rules: &std::path::Path) -> FileOutcome {
    let default_rules = ruletest::rules_beside(&path, rules);
    match ruletest::read(&path, &default_rules) {
        Ok(file) => FileOutcome {
            rules: file.rules.clone(),
            result: ruletest::run_file(runner, &file).await,
            path,
        },
        Err(problems) => FileOutcome {
            path,
            rules: default_rules,
            result: Err(problems),
        },
    }
}

fn exit_code(outcomes: &[FileOutcome]) -> ExitCode {
    let broken = outcomes.iter().any(|o| o.result.is_err());
    let failed = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .flatten()
        .any(|c| !c.passed());
    match (broken, failed) {
        (true, _) => ExitCode::from(2),
        (false, true) => ExitCode::FAILURE,
        (false, false) => ExitCode::SUCCESS,
    }
}
