//! HTTP out, the parts every caller shares: the client (rustls, no redirects), what an answer
//! means (one classifier for the channels and the SuperOffice API client), `Retry-After`, and
//! the one-line excerpt of an answer kept for logs and attempt records.

use std::time::Duration;

use crate::text::truncate_chars;

/// The shared HTTP client could not be built (no TLS roots, no crypto provider).
#[derive(Debug, thiserror::Error)]
#[error("cannot build herald's HTTP client")]
pub struct ClientError(#[source] reqwest::Error);

/// The shared HTTP client: rustls, no redirects (a redirect could carry a message, or a
/// credential in the URL, somewhere nobody configured). When it cannot be built, that is an
/// error: a default client would follow redirects.
pub fn client() -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(ClientError)
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
    format!("{kind}: {}", crate::text::causes(&e.without_url()))
}

/// The longest `Retry-After` read from any answer; the channel's retry policy caps it further
/// (an hour by default). Whatever a destination sends, no pause can overflow a clock.
pub const RETRY_AFTER_CEILING: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` in seconds, or as an HTTP date in any of RFC 9110's three forms, at most
/// [`RETRY_AFTER_CEILING`]. `None`, so that the channel's own schedule decides, for anything
/// that would not wait at least a second: `0`, a date now or past (clock skew), a value that is
/// neither. A date's weekday is not checked (the date says when); a date past what the date
/// library holds (year 10000 and on) is the ceiling.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: a value past u64 is as good as forever.
        value
            .parse::<u64>()
            .map_or(RETRY_AFTER_CEILING, Duration::from_secs)
    } else {
        match parse_http_date(value)? {
            HttpDate::At(when) => {
                Duration::try_from(when.duration_since(jiff::Timestamp::now())).ok()?
            }
            HttpDate::BeyondTime => RETRY_AFTER_CEILING,
        }
    };
    (wait >= Duration::from_secs(1)).then(|| wait.min(RETRY_AFTER_CEILING))
}

enum HttpDate {
    At(jiff::Timestamp),
    /// A well-formed date later than any the date library holds.
    BeyondTime,
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`)
/// or asctime (`Sun Nov  6 08:49:37 1994`), the weekday ignored.
fn parse_http_date(value: &str) -> Option<HttpDate> {
    // Every form starts with the weekday: `Sun,`, `Sunday,` or `Sun`.
    let words: Vec<&str> = value.split_whitespace().collect();
    let date = words.get(1..)?.join(" ");
    if date
        .split([' ', '-'])
        .any(|w| w.len() > 4 && w.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(HttpDate::BeyondTime);
    }
    let forms = [
        "%d %b %Y %H:%M:%S GMT",
        "%d-%b-%y %H:%M:%S GMT",
        "%b %d %H:%M:%S %Y",
    ];
    forms.iter().find_map(|form| {
        let civil = jiff::civil::DateTime::strptime(form, &date).ok()?;
        // A civil date too late for a timestamp (the last hours of 9999) is as good as never.
        Some(match civil.in_tz("UTC") {
            Ok(zoned) => HttpDate::At(zoned.timestamp()),
            Err(_) => HttpDate::BeyondTime,
        })
    })
}

/// How much of an answer herald reads when it only keeps an excerpt (a destination's answer).
pub const EXCERPT_READ: usize = 4 * 1024;
/// How much of an answer herald reads when it must parse it (Slack's API, the login service).
pub const PARSED_READ: usize = 256 * 1024;
/// How much of a SuperOffice API answer herald reads (an entity, a quote's lines).
pub const API_READ: usize = 4 * 1024 * 1024;

/// At most `limit` bytes of an answer's body, as text (invalid UTF-8 replaced), and whether
/// there was more. The rest is never read: the connection is dropped instead, so a destination
/// answering 400 MiB costs herald `limit` bytes.
pub async fn read_limited(mut response: reqwest::Response, limit: usize) -> (String, bool) {
    let mut body = Vec::new();
    let mut cut = false;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    (String::from_utf8_lossy(&body).into_owned(), cut)
}

/// The start of an answer, on one line with its control characters escaped, for logs and
/// attempt records.
pub fn excerpt(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::escape_controls(&truncate_chars(&one_line, 200)).into_owned()
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
    fn retry_after_takes_seconds_or_a_date_in_any_form_and_never_less_than_a_second() {
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let in_two_minutes = |form: &str| soon.strftime(form).to_string();
        let cases = [
            ("2".to_string(), Some(2)),
            ("0".to_string(), None),
            ("soon".to_string(), None),
            ("Wed, 21 Oct 2015 07:28:00 GMT".to_string(), None),
            (in_two_minutes("%a, %d %b %Y %H:%M:%S GMT"), Some(120)),
            (in_two_minutes("%A, %d-%b-%y %H:%M:%S GMT"), Some(120)),
            (in_two_minutes("%a %b %e %H:%M:%S %Y"), Some(120)),
            // A wrong weekday: the date is what counts.
            (
                format!("Xyz, {}", soon.strftime("%d %b %Y %H:%M:%S GMT")),
                Some(120),
            ),
        ];
        for (value, want) in cases {
            let got = parse_retry_after(&value).map(|d| d.as_secs());
            let near = match (got, want) {
                (Some(g), Some(w)) => g.abs_diff(w) <= 2,
                (g, w) => g == w,
            };
            assert!(near, "{value:?}: {got:?}, wanted {want:?}");
        }
        for huge in [
            "18446744073709551615",
            "99999999999999999999999",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Sat, 01 Jan 10000 00:00:00 GMT",
        ] {
            assert_eq!(parse_retry_after(huge), Some(RETRY_AFTER_CEILING), "{huge}");
        }
    }
}
