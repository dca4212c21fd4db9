//! `herald test`'s three forms: lines for people, JUnit XML for CI servers, JSON for scripts.

use std::fmt::Write as _;

use serde_json::json;

use super::FileOutcome;
use crate::ruletest::{CaseResult, Failure};
use crate::text::escape_controls;

/// `PASS name` / `FAIL name` and what differed, then `N passed, M failed`.
pub fn human(outcomes: &[FileOutcome]) -> String {
    let mut s = String::new();
    for o in outcomes {
        let _ = writeln!(s, "{} (rules {})", o.path.display(), o.rules.display());
        match &o.result {
            Ok(cases) => cases.iter().for_each(|c| case(&mut s, c)),
            Err(problems) => {
                for p in &problems.items {
                    let _ = writeln!(s, "{}", escape_controls(&p.to_string()));
                }
                let _ = writeln!(s, "BROKEN {}: fix the problems above", o.path.display());
            }
        }
    }
    let (passed, failed, broken) = counts(outcomes);
    let _ = write!(s, "{passed} passed, {failed} failed");
    if broken > 0 {
        let _ = write!(s, ", {broken} test file{} broken", plural(broken));
    }
    s.push('\n');
    s
}

fn case(s: &mut String, c: &CaseResult) {
    let name = escape_controls(&c.name);
    if c.passed() {
        let _ = writeln!(s, "PASS {name}");
        return;
    }
    let _ = writeln!(s, "FAIL {name}");
    for f in &c.failures {
        let _ = writeln!(s, "     {}", escape_controls(&f.what));
        match &f.diff {
            Some(diff) => {
                for line in diff.lines() {
                    let _ = writeln!(s, "       {}", escape_controls(line));
                }
            }
            None => {
                let _ = writeln!(s, "       expected: {}", indent(&f.expected));
                let _ = writeln!(s, "       got:      {}", indent(&f.got));
            }
        }
    }
}

/// Continuation lines of a long value, indented under its first; control characters within
/// a line escaped (an email's lines stay lines).
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| escape_controls(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n                 ")
}

/// JUnit XML as GitLab, Jenkins and GitHub read it: a suite per test file, a case per case, a
/// `<failure>` per failing case, an `<error>` for a file that could not run.
pub fn junit(outcomes: &[FileOutcome]) -> String {
    let (passed, failed, broken) = counts(outcomes);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"herald\" tests=\"{}\" failures=\"{failed}\" errors=\"{broken}\">",
        passed + failed + broken
    );
    for o in outcomes {
        let file = xml(&o.path.display().to_string());
        match &o.result {
            Ok(cases) => {
                let failures = cases.iter().filter(|c| !c.passed()).count();
                let _ = writeln!(
                    s,
                    "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
                    cases.len()
                );
                for c in cases {
                    junit_case(&mut s, &file, c);
                }
            }
            Err(problems) => {
                let _ = writeln!(
                    s,
                    "  <testsuite name=\"{file}\" tests=\"1\" failures=\"0\" errors=\"1\">"
                );
                let _ = writeln!(
                    s,
                    "    <testcase name=\"{file}\" classname=\"{file}\"><error message=\"the test file cannot run\">{}</error></testcase>",
                    xml(&problems.to_string())
                );
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

fn junit_case(s: &mut String, file: &str, c: &CaseResult) {
    let name = xml(&c.name);
    if c.passed() {
        let _ = writeln!(s, "    <testcase name=\"{name}\" classname=\"{file}\"/>");
        return;
    }
    let message = c
        .failures
        .iter()
        .map(|f| f.what.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let details: String = c.failures.iter().map(failure_text).collect();
    let _ = writeln!(
        s,
        "    <testcase name=\"{name}\" classname=\"{file}\"><failure message=\"{}\">{}</failure></testcase>",
        xml(&message),
        xml(&details)
    );
}

fn failure_text(f: &Failure) -> String {
    match &f.diff {
        Some(diff) => format!("{}\n{diff}\n", f.what),
        None => format!(
            "{}\n  expected: {}\n  got:      {}\n",
            f.what, f.expected, f.got
        ),
    }
}

/// Text for XML attributes and content; characters XML 1.0 cannot carry are dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

pub fn json(outcomes: &[FileOutcome]) -> anyhow::Result<String> {
    let (passed, failed, broken) = counts(outcomes);
    let files: Vec<_> = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(cases) => json!({
                "file": o.path,
                "rules": o.rules,
                "cases": cases.iter().map(|c| json!({
                    "name": c.name,
                    "passed": c.passed(),
                    "failures": c.failures,
                })).collect::<Vec<_>>(),
            }),
            Err(problems) => json!({
                "file": o.path,
                "rules": o.rules,
                "problems": problems.items.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        })
        .collect();
    let all = json!({ "files": files, "passed": passed, "failed": failed, "broken": broken });
    Ok(serde_json::to_string_pretty(&all)? + "\n")
}

/// Cases passed, cases failed, test files that could not run.
fn counts(outcomes: &[FileOutcome]) -> (usize, usize, usize) {
    let cases = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .flatten();
    let (passed, failed) = cases.fold((0, 0), |(p, f), c| match c.passed() {
        true => (p + 1, f),
        false => (p, f + 1),
    });
    let broken = outcomes.iter().filter(|o| o.result.is_err()).count();
    (passed, failed, broken)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_value_keeps_its_lines_and_escapes_the_rest() {
        let shown = indent("Subject: Quote 1042\nHello\u{1b}[31m\r\nBye");
        assert_eq!(
            shown,
            "Subject: Quote 1042\n                 Hello\\u{1b}[31m\n                 Bye"
        );
    }
}
