//! Slack's Web API, the calls a bot makes: `chat.postMessage`, `chat.update` and
//! `conversations.list`. Every answer is HTTP 200 with `ok` and, when false, an `error` code;
//! rate limits are HTTP 429 with `Retry-After`. Each error code is classified here, with what
//! to do about it.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use super::SendError;
use crate::http::{Class, classify, excerpt, parse_retry_after, transport_error};
use crate::secret::Secret;

/// A Web API client for one bot token.
pub(super) struct Api {
    pub(super) client: reqwest::Client,
    /// The API's base, such as `https://slack.com/api`.
    pub(super) base: Secret<url::Url>,
    pub(super) token: Secret<String>,
    pub(super) timeout: Duration,
}

/// Why a call failed.
#[derive(Debug)]
pub(super) enum ApiError {
    /// What the call names is not there: the message to edit is gone or can no longer be
    /// edited (post a new one), or no user has the address looked up (`users_not_found`).
    Gone(String),
    Failed(SendError),
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        ApiError::Failed(e)
    }
}

impl Api {
    /// Calls `method` with a JSON body; the answer when `ok` is true.
    pub(super) async fn post(&self, method: &str, body: &Value) -> Result<Value, ApiError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let request = self.client.post(self.url(method)?).body(bytes);
        self.answer(method, request).await
    }

    /// Calls `method` with query parameters (the reading methods take them).
    pub(super) async fn get(
        &self,
        method: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let mut url = self.url(method)?;
        url.query_pairs_mut().extend_pairs(query);
        let request = self.client.get(url);
        self.answer(method, request).await
    }

    fn url(&self, method: &str) -> Result<url::Url, SendError> {
        let base = self.base.expose().as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}/{method}")).map_err(|e| SendError::Permanent {
            reason: format!("slack: api_url does not make a URL for {method}: {e}"),
            status: None,
        })
    }

    async fn answer(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ApiError> {
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .map_err(|_| SendError::Permanent {
                reason: "slack: the bot token has characters a header cannot carry".into(),
                status: None,
            })?;
        bearer.set_sensitive(true);
        let response = request
            .header(AUTHORIZATION, bearer)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| SendError::Retryable {
                reason: format!("slack {method}: {}", transport_error(e)),
                status: None,
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let (text, cut) = crate::http::read_limited(response, crate::http::PARSED_READ).await;
        if cut && classify(status) == Class::Success {
            return Err(ApiError::Failed(SendError::Retryable {
                reason: format!(
                    "slack {method} answered with more than {} KiB: {}",
                    crate::http::PARSED_READ / 1024,
                    excerpt(&text)
                ),
                status: Some(status),
                retry_after: None,
            }));
        }
        read(method, status, retry_after, &text)
    }
}

/// What an answer means.
fn read(
    method: &str,
    status: u16,
    retry_after: Option<Duration>,
    text: &str,
) -> Result<Value, ApiError> {
    let said = || format!("slack {method} answered {status}: {}", excerpt(text));
    match classify(status) {
        Class::Success => {}
        Class::Retryable => {
            return Err(ApiError::Failed(SendError::Retryable {
                reason: said(),
                status: Some(status),
                retry_after,
            }));
        }
        Class::Permanent => {
            return Err(ApiError::Failed(SendError::Permanent {
                reason: said(),
                status: Some(status),
            }));
        }
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        let reason = format!(
            "slack {method} answered with something that is not JSON: {}",
            excerpt(text)
        );
        return Err(ApiError::Failed(SendError::Retryable {
            reason,
            status: Some(status),
            retry_after: None,
        }));
    };
    if value["ok"] == Value::Bool(true) {
        return Ok(value);
    }
    // Slack's codes are short words; anything longer is cut before it reaches a log or a row.
    let code = value["error"].as_str().unwrap_or("unknown_error");
    let code = crate::text::escape_controls(&crate::text::truncate_chars(code, 64)).into_owned();
    Err(error(method, &code, status, retry_after))
}

/// Slack's error codes: which are worth another try, which mean what the call names is not
/// there, and what an operator should do about the rest.
fn error(method: &str, code: &str, status: u16, retry_after: Option<Duration>) -> ApiError {
    let advice = match code {
        "message_not_found" | "cant_update_message" | "edit_window_closed" | "users_not_found" => {
            return ApiError::Gone(code.to_string());
        }
        "ratelimited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => {
            return ApiError::Failed(SendError::Retryable {
                reason: format!("slack {method}: {code}"),
                status: Some(status),
                retry_after,
            });
        }
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" => {
            "the bot token is not valid: set a current bot token (xoxb-…) from the app's OAuth & Permissions page"
        }
        "account_inactive" => {
            "the app's bot was deactivated or the app uninstalled: reinstall the app to the workspace"
        }
        "channel_not_found" => {
            "the bot cannot see this channel: check the channel ID, and invite the bot to a private channel"
        }
        "not_in_channel" => "the bot is not in the channel: in Slack, /invite @your-app there",
        "is_archived" => "the channel is archived: unarchive it or choose another",
        "msg_too_long" => "the message is too long for Slack: shorten the template",
        "missing_scope" => {
            "the app lacks a scope: add chat:write (and channels:read, groups:read for #names; users:read.email for slack_mention), then reinstall"
        }
        "no_text" | "invalid_blocks" | "invalid_blocks_format" | "invalid_arguments" => {
            "Slack refused the message's shape: check the template with herald simulate"
        }
        _ => "see Slack's documentation of this error code",
    };
    ApiError::Failed(SendError::Permanent {
        reason: format!("slack {method}: {code}: {advice}"),
        status: Some(status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: u16, body: &str) -> &'static str {
        match read("chat.postMessage", status, None, body) {
            Ok(_) => "ok",
            Err(ApiError::Gone(_)) => "gone",
            Err(ApiError::Failed(SendError::Retryable { .. })) => "retry",
            Err(ApiError::Failed(SendError::Permanent { .. })) => "permanent",
        }
    }

    #[test]
    fn a_huge_error_code_is_cut_before_it_reaches_a_log_or_a_row() {
        let body = format!(
            r#"{{"ok":false,"error":"{}\u001b[31m"}}"#,
            "x".repeat(5 << 20)
        );
        let Err(ApiError::Failed(e)) = read("chat.postMessage", 200, None, &body) else {
            panic!("expected a failure")
        };
        let reason = e.to_string();
        assert!(reason.len() < 600, "{} bytes", reason.len());
        assert!(!reason.contains('\u{1b}'), "{reason}");
    }

    #[test]
    fn slack_answers_are_classified_by_their_error_codes() {
        let cases = [
            (200, r#"{"ok":true,"ts":"1.2"}"#, "ok"),
            (429, "", "retry"),
            (503, "", "retry"),
            (200, r#"{"ok":false,"error":"ratelimited"}"#, "retry"),
            (200, r#"{"ok":false,"error":"internal_error"}"#, "retry"),
            (200, r#"{"ok":false,"error":"invalid_auth"}"#, "permanent"),
            (
                200,
                r#"{"ok":false,"error":"channel_not_found"}"#,
                "permanent",
            ),
            (200, r#"{"ok":false,"error":"not_in_channel"}"#, "permanent"),
            (
                200,
                r#"{"ok":false,"error":"account_inactive"}"#,
                "permanent",
            ),
            (200, r#"{"ok":false,"error":"msg_too_long"}"#, "permanent"),
            (200, r#"{"ok":false,"error":"message_not_found"}"#, "gone"),
            (200, r#"{"ok":false,"error":"users_not_found"}"#, "gone"),
            (200, r#"{"ok":false,"error":"edit_window_closed"}"#, "gone"),
            (200, "<html>", "retry"),
            (404, "", "permanent"),
        ];
        for (status, body, expected) in cases {
            assert_eq!(class(status, body), expected, "{status} {body}");
        }
    }
}
