//! Text from outside, made safe to hold and to show: files read with a size bound (so that
//! `--rules /dev/zero` is refused, not read until memory runs out), control characters
//! escaped before they reach an operator's terminal, and JSON with escapes some readers refuse
//! ([`json`]).

pub mod json;

use std::io::Read;
use std::path::Path;

/// Reads a UTF-8 text file of at most `max` bytes; a larger one is an error that says so,
/// found before more than `max + 1` bytes are read.
pub fn read_bounded(path: &Path, max: usize) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} KiB herald reads", max / 1024),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// `1 rule`, `3 rules`, `0 deliveries`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// An error and every cause under it, on one line: `cannot render the digest's key: …`.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// The text with every control character (C0, DEL, C1) shown as `\u{1b}`, so that printing
/// data that came from a webhook cannot move the cursor, recolour or retitle a terminal.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// At most `max` characters; when cut, the last is `…`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A time for messages and logs as RFC 3339 (`2026-11-28T16:04:05.123Z`); empty if out of
/// range.
pub fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or(String::new(), |t| t.to_string())
}

/// A time for people: `2026-11-28 16:04:05Z`.
pub fn show_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape_controls("plain"), "plain");
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\u{7}\u{9b}"),
            "a\\u{1b}[2Jb\\u{7}\\u{9b}"
        );
    }

    #[test]
    fn a_file_past_the_bound_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![b'a'; 2048]).unwrap();
        assert!(read_bounded(&f, 4096).is_ok());
        let err = read_bounded(&f, 1024).unwrap_err();
        assert!(err.to_string().contains("1 KiB"), "{err}");
    }
}
