//! What an email may carry, whatever the data: a subject on one line, without control
//! characters and short enough that every header line stays under RFC 5322's 998 octets
//! (lettre folds at spaces and encodes non-ASCII as RFC 2047 words); bodies without NUL, bare
//! CR or other control characters (lettre then picks 7bit, quoted-printable or base64 as the
//! text needs).

use crate::text::truncate_chars;

/// The longest subject herald sends. Mail clients show about 60–80 characters; 200 keeps
/// every header line of the message far below 998 octets even when one word cannot be folded.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// One line, no control characters, whitespace runs collapsed, at most
/// [`MAX_SUBJECT_CHARS`].
pub fn subject(rendered: &str) -> String {
    let one_line = rendered
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    truncate_chars(&one_line, MAX_SUBJECT_CHARS)
}

/// Line breaks as `\n` (lettre writes CRLF), tabs kept, every other control character
/// dropped: NUL and bare CR are not allowed in a text body, and the rest show as nothing.
pub fn body(rendered: &str) -> String {
    let unified = rendered.replace("\r\n", "\n").replace('\r', "\n");
    unified
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_one_clean_bounded_line() {
        assert_eq!(
            subject(" Quote\r\n 42\tordered\u{7}\u{0} "),
            "Quote 42 ordered"
        );
        let long = subject(&"x\u{1b}".repeat(3000));
        assert_eq!(long.chars().count(), MAX_SUBJECT_CHARS);
        assert!(!long.chars().any(char::is_control));
    }

    #[test]
    fn a_body_keeps_lines_and_tabs_and_drops_the_rest() {
        assert_eq!(body("a\r\nb\rc\u{0}d\te\u{1b}[0m\u{85}"), "a\nb\ncd\te[0m");
    }
}
