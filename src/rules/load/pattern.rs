//! `matches:` patterns, compiled within a memory budget. A regex's compiled size grows with
//! its repetitions of large classes: `\w{200}` repeats Unicode's thousands of word characters
//! 200 times, and 300 such conditions (a 15 KB file) took `check` 28 s and 4.3 GB. So each
//! pattern may compile to at most [`PATTERN_LIMIT`], all of a rules file's to [`FILE_BUDGET`],
//! and each one's lazy DFA cache is bounded the same way at run time.

use regex::{Regex, RegexBuilder};

/// The most one pattern may compile to (and the most its matching cache may hold).
pub const PATTERN_LIMIT: usize = 256 * 1024;
/// The most all the patterns of one rules file may compile to.
pub const FILE_BUDGET: usize = 4 * 1024 * 1024;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a regex: the library's reason.
    Invalid(String),
    /// Larger than [`PATTERN_LIMIT`] compiled.
    TooLarge,
    /// Within its own limit, but past what is left of [`FILE_BUDGET`].
    OverBudget,
}

/// The compiled pattern and what it is charged against the file's budget (the smallest of a
/// few limits it compiles within), given `left` of the budget.
pub(super) fn compile(pattern: &str, left: usize) -> Result<(Regex, usize), Refused> {
    for limit in [PATTERN_LIMIT / 16, PATTERN_LIMIT / 4, PATTERN_LIMIT] {
        let built = RegexBuilder::new(pattern)
            .size_limit(limit)
            .dfa_size_limit(PATTERN_LIMIT)
            .build();
        match built {
            Ok(_) if limit > left => return Err(Refused::OverBudget),
            Ok(re) => return Ok((re, limit)),
            Err(regex::Error::CompiledTooBig(_)) => continue,
            Err(e) => return Err(Refused::Invalid(reason(&e))),
        }
    }
    Err(Refused::TooLarge)
}

/// The library's message draws the pattern; its last line says what is wrong.
fn reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .last()
        .unwrap_or("invalid")
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_patterns_cost_little_and_huge_ones_are_refused() {
        let (re, cost) = compile("^quote\\.(sent|ordered)$", FILE_BUDGET).unwrap();
        assert!(re.is_match("quote.sent"));
        assert_eq!(cost, PATTERN_LIMIT / 16);
        assert_eq!(
            compile("\\w{200}", FILE_BUDGET).unwrap_err(),
            Refused::TooLarge
        );
        assert_eq!(compile("a", 1).unwrap_err(), Refused::OverBudget);
        assert!(matches!(
            compile("(", FILE_BUDGET),
            Err(Refused::Invalid(_))
        ));
    }
}
