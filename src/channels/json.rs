//! JSON over HTTP, the one sender behind three kinds of destination, each configured by its
//! platform's facts rather than copied:
//!
//! - Slack incoming webhooks: `POST` `text` (and optional `blocks`); `200 ok` on success,
//!   plain-text error codes with 4xx (`invalid_payload`, `no_text`, ...), 429 with
//!   `Retry-After` past about one message a second.
//! - Teams Workflows webhooks: `POST` the message envelope; `202 Accepted`, the flow runs
//!   later.
//! - Any webhook: the template's body, the channel's method and headers.
//!
//! Statuses are classified by [`crate::http::classify`]; `file://DIR` writes the body instead.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::file::FileSink;
use super::sent::{Sent, shown_url};
use super::{BoxFuture, Delivered, Destination, Outgoing, SendError, wrong_message};
use crate::config::channel::{Endpoint, Kind, WebhookSpec};
use crate::http::{Class, classify, excerpt, parse_retry_after, transport_error};
use crate::render::message::Message;
use crate::secret::Secret;

/// A destination that takes a JSON body.
pub struct JsonPost {
    kind: Kind,
    sink: Sink,
}

enum Sink {
    Http(Request),
    File(FileSink),
}

/// Where and how to post.
struct Request {
    client: reqwest::Client,
    url: Secret<url::Url>,
    method: reqwest::Method,
    headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    timeout: Duration,
}

/// A response as the destination saw it.
struct Answer {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
}

impl JsonPost {
    /// A Slack or Teams webhook: `POST`, no extra headers.
    pub fn platform(
        kind: Kind,
        channel: &str,
        endpoint: &Endpoint,
        timeout: Duration,
        client: &reqwest::Client,
    ) -> JsonPost {
        let sink = Sink::new(
            channel,
            endpoint,
            reqwest::Method::POST,
            Vec::new(),
            timeout,
            client,
        );
        JsonPost { kind, sink }
    }

    pub fn webhook(
        channel: &str,
        spec: &WebhookSpec,
        timeout: Duration,
        client: &reqwest::Client,
    ) -> JsonPost {
        let sink = Sink::new(
            channel,
            &spec.endpoint,
            spec.method.clone(),
            spec.headers.clone(),
            timeout,
            client,
        );
        JsonPost {
            kind: Kind::Webhook,
            sink,
        }
    }

    fn body<'m>(&self, message: &'m Message) -> Option<&'m serde_json::Value> {
        match (self.kind, message) {
            (Kind::Slack, Message::Slack { body })
            | (Kind::Teams, Message::Teams { body })
            | (Kind::Webhook, Message::Webhook { body }) => Some(body),
            _ => None,
        }
    }
}

impl Destination for JsonPost {
    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let body = self.body(&out.message).ok_or(wrong_message(self.kind))?;
            let bytes = serde_json::to_vec(body).map_err(|e| SendError::Permanent {
                reason: format!("cannot encode the message: {e}"),
                status: None,
            })?;
            match &self.sink {
                Sink::File(file) => file.write(&bytes, "json", out).await,
                Sink::Http(request) => outcome(&request.send(bytes).await?, self.kind.as_str()),
            }
        })
    }

    fn sent(&self, out: &Outgoing) -> Sent {
        let body = self
            .body(&out.message)
            .map(|b| b.to_string())
            .unwrap_or_default();
        self.sink.describe(self.kind, body)
    }
}

impl Sink {
    /// Where a message goes, and the headers that go with it.
    fn describe(&self, kind: Kind, body: String) -> Sent {
        match self {
            Sink::File(file) => Sent::new(kind.as_str(), file.shown(), body),
            Sink::Http(r) => {
                let to = shown_url(r.method.as_str(), r.url.expose());
                let mut sent = Sent::new(kind.as_str(), to, body);
                sent.header("Content-Type", "application/json");
                for (name, value) in &r.headers {
                    sent.header(
                        name.as_str(),
                        value.expose().to_str().unwrap_or("(not text)"),
                    );
                }
                sent
            }
        }
    }

    fn new(
        channel: &str,
        endpoint: &Endpoint,
        method: reqwest::Method,
        headers: Vec<(HeaderName, Secret<HeaderValue>)>,
        timeout: Duration,
        client: &reqwest::Client,
    ) -> Sink {
        match endpoint {
            Endpoint::File(dir) => Sink::File(FileSink::new(dir.clone(), channel)),
            Endpoint::Http(url) => Sink::Http(Request {
                client: client.clone(),
                url: url.clone(),
                method,
                headers,
                timeout,
            }),
        }
    }
}

impl Request {
    /// Sends the bytes; `Ok` carries any answer, `Err` only failures to get one.
    async fn send(&self, body: Vec<u8>) -> Result<Answer, SendError> {
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.headers {
            map.insert(name.clone(), value.expose().clone());
        }
        let response = self
            .client
            .request(self.method.clone(), self.url.expose().clone())
            .headers(map)
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retryable {
                reason: transport_error(e),
                status: None,
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let (body, _) = crate::http::read_limited(response, crate::http::EXCERPT_READ).await;
        Ok(Answer {
            status,
            body: excerpt(&body),
            retry_after,
        })
    }
}

/// What an answer means: delivered, or a failure classified by its status.
fn outcome(answer: &Answer, platform: &str) -> Result<Delivered, SendError> {
    let status = answer.status;
    let detail = if answer.body.is_empty() {
        format!("{platform} answered {status}")
    } else {
        format!("{platform} answered {status}: {}", answer.body)
    };
    match classify(status) {
        Class::Success => Ok(Delivered {
            status: Some(status),
            detail,
            thread: None,
        }),
        Class::Retryable => Err(SendError::Retryable {
            reason: detail,
            status: Some(status),
            retry_after: answer.retry_after,
        }),
        Class::Permanent => Err(SendError::Permanent {
            reason: detail,
            status: Some(status),
        }),
    }
}
