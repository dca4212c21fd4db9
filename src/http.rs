//! HTTP out, the parts every caller shares: the client (rustls, no redirects), what an answer
//! means (one classifier for the channels and the SuperOffice API client), `Retry-After`, and
//! the one-line excerpt of an answer kept for logs and attempt records.

use std::time::Duration;

use crate::text::truncate_chars;

/// The shared HTTP client: rustls, no redirects (a redirect could carry a message, or a
/// credential in the URL, somewhere nobody configured).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// What an HTTP status means for whoever sent the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx.
    Success,
    /// 408, 429, 5xx: trying again later may help.
    Retryable,
    /// Every other status: it will not.
    Permanent,
}

/// The one rule for HTTP statuses.
pub fn classify(status: u16) -> Class {
    match status {
        200..=299 => Class::Success,
        408 | 429 | 500..=599 => Class::Retryable,
        _ => Class::Permanent,
    }
}

/// Why no answer came, without the URL (a secret) that reqwest's message names.
pub fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut reason = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    reason
}

/// The longest `Retry-After` read from any answer; the channel's retry policy caps it further
/// (an hour by default). Whatever a destination sends, no pause can overflow a clock.
pub const RETRY_AFTER_CEILING: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` in seconds, or as an HTTP date, at most [`RETRY_AFTER_CEILING`].
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: a value past u64 is as good as forever.
        value
            .parse::<u64>()
            .map_or(RETRY_AFTER_CEILING, Duration::from_secs)
    } else {
        let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        let wait = when.duration_since(jiff::Timestamp::now());
        Duration::try_from(wait).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_CEILING))
}

/// The start of an answer, on one line, for logs and attempt records.
pub fn excerpt(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_chars(&one_line, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_once_for_all() {
        let cases = [
            (200, Class::Success),
            (202, Class::Success),
            (400, Class::Permanent),
            (403, Class::Permanent),
            (404, Class::Permanent),
            (410, Class::Permanent),
            (408, Class::Retryable),
            (429, Class::Retryable),
            (500, Class::Retryable),
            (503, Class::Retryable),
        ];
        for (status, expected) in cases {
            assert_eq!(classify(status), expected, "{status}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        for huge in [
            "18446744073709551615",
            "99999999999999999999999",
            "Fri, 01 Jan 9999 00:00:00 GMT",
        ] {
            assert_eq!(parse_retry_after(huge), Some(RETRY_AFTER_CEILING), "{huge}");
        }
    }
}
