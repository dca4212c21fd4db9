//! Where log lines go: standard error, one line per event, whatever the data in it. A request
//! path, a destination's answer or an event field may hold CR, LF or other control characters;
//! written as they are, a CRLF forges a second log line and an escape sequence rewrites the
//! operator's terminal. Every control character in a line is written as `\u{…}`, except the
//! newline that ends it and, when the output is a terminal, the colour codes herald writes.

use std::borrow::Cow;
use std::io::{self, Write};

/// Makes a writer per log line for `tracing_subscriber`.
#[derive(Debug, Clone, Copy)]
pub struct Stderr {
    /// Colours on: keep `ESC` (herald's own colour codes); everything else is escaped.
    pub ansi: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { ansi: self.ansi }
    }
}

/// One formatted log line on its way to standard error.
pub struct Line {
    ansi: bool,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr()
            .lock()
            .write_all(escaped(&text, self.ansi).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// The text with its control characters escaped, but for a final newline (and `ESC` when
/// `ansi`); borrowed, with no copy, when there is nothing to escape (most lines).
fn escaped(text: &str, ansi: bool) -> Cow<'_, str> {
    let (body, end) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text, ""),
    };
    let escapes = |c: char| c.is_control() && !(ansi && c == '\u{1b}');
    if !body.chars().any(escapes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in body.chars() {
        if escapes(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.push_str(end);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stays_one_line_whatever_its_data() {
        let forged = "refused path=/x\r\n2026-01-01 INFO forged line\n";
        assert_eq!(
            escaped(forged, false),
            "refused path=/x\\u{d}\\u{a}2026-01-01 INFO forged line\n"
        );
        assert_eq!(
            escaped("\u{1b}[31mred\u{1b}[0m\n", true),
            "\u{1b}[31mred\u{1b}[0m\n"
        );
        assert_eq!(escaped("\u{1b}[31m\n", false), "\\u{1b}[31m\n");
        assert_eq!(escaped("tab\there", false), "tab\\u{9}here");
    }
}
