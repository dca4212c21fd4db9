//! Posting JSON over HTTP (or into a folder), and classifying what came back.
//!
//! Shared by Slack, Teams and webhooks so that one rule decides what is retryable: 408, 429,
//! 5xx, timeouts and connection errors are; every other 4xx is not.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::file::FileSink;
use super::{Delivered, Outgoing, SendError};
use crate::config::channel::{ChannelSpec, Target};
use crate::secret::Secret;

/// An HTTP endpoint, or a folder standing in for one.
pub enum Sink {
    Http(Endpoint),
    File(FileSink),
}

/// Where and how to post.
pub struct Endpoint {
    client: reqwest::Client,
    url: Secret<url::Url>,
    method: reqwest::Method,
    headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    timeout: Duration,
}

/// A response as the destinations see it.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<Duration>,
}

impl Sink {
    pub fn new(spec: &ChannelSpec, client: &reqwest::Client) -> Sink {
        match &spec.target {
            Target::File(dir) => Sink::File(FileSink::new(dir.clone(), &spec.name)),
            Target::Http(url) => Sink::Http(Endpoint {
                client: client.clone(),
                url: url.clone(),
                method: spec.method.clone(),
                headers: spec.headers.clone(),
                timeout: spec.timeout,
            }),
            Target::Smtp(_) => unreachable!("the loader gives HTTP kinds an HTTP or file target"),
        }
    }

    /// Sends a JSON body and classifies the answer; `what` names the platform in messages.
    pub async fn deliver_json(
        &self,
        body: &serde_json::Value,
        out: &Outgoing,
        what: &str,
    ) -> Result<Delivered, SendError> {
        let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
        match self {
            Sink::File(file) => file.write(&bytes, "json", out).await,
            Sink::Http(endpoint) => classify(&endpoint.post(bytes).await?, what),
        }
    }
}

impl Endpoint {
    /// Sends the bytes; `Ok` carries any answer, `Err` only failures to get one.
    async fn post(&self, body: Vec<u8>) -> Result<Answer, SendError> {
        let Endpoint {
            client,
            url,
            method,
            headers,
            timeout,
        } = self;
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            map.insert(name.clone(), value.expose().clone());
        }
        let response = client
            .request(method.clone(), url.expose().clone())
            .headers(map)
            .timeout(*timeout)
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: excerpt(&body),
            retry_after,
        })
    }
}

/// A failure to get any answer. reqwest's message names the URL, which is a secret.
fn transport_error(e: reqwest::Error) -> SendError {
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
    SendError::Retryable {
        reason,
        status: None,
        retry_after: None,
    }
}

/// The general rule for HTTP answers; destinations may read the body first.
pub fn classify(answer: &Answer, what: &str) -> Result<Delivered, SendError> {
    let status = answer.status;
    let detail = if answer.body.is_empty() {
        format!("{what} answered {status}")
    } else {
        format!("{what} answered {status}: {}", answer.body)
    };
    match status {
        200..=299 => Ok(Delivered {
            status: Some(status),
            detail,
        }),
        408 | 429 | 500..=599 => Err(SendError::Retryable {
            reason: detail,
            status: Some(status),
            retry_after: answer.retry_after,
        }),
        _ => Err(SendError::Permanent {
            reason: detail,
            status: Some(status),
        }),
    }
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
    crate::text::truncate_chars(&one_line, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Answer {
        Answer {
            status,
            body: "x".into(),
            retry_after: None,
        }
    }

    #[test]
    fn statuses_are_classified_once_for_all() {
        let cases = [
            (200, "ok"),
            (202, "ok"),
            (400, "permanent"),
            (403, "permanent"),
            (404, "permanent"),
            (410, "permanent"),
            (408, "retry"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
        ];
        for (status, expected) in cases {
            let got = match classify(&answer(status), "x") {
                Ok(_) => "ok",
                Err(e) if e.is_retryable() => "retry",
                Err(_) => "permanent",
            };
            assert_eq!(got, expected, "{status}");
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
