//! What herald sent: the request one attempt made, as each destination describes it (where to,
//! the headers that are not credentials, the body), kept with the attempt so that the status
//! page and `herald deliveries --show-sent` can show the message people received.
//!
//! It is cut to a size (`serve --keep-sent`, marked when cut) and passes the channel's
//! redactor before it is stored, like every other text herald keeps about a destination.

use serde::{Deserialize, Serialize};

use crate::secret::Redactor;

/// Words in a header's name that make its value a credential, whatever it holds: kept by
/// name only (`Authorization`, `Proxy-Authorization`, `Cookie`, `X-Api-Key`, `X-Auth-Token`…).
const CREDENTIAL_WORDS: &[&str] = &[
    "auth",
    "cookie",
    "key",
    "token",
    "secret",
    "pass",
    "sig",
    "session",
    "credential",
];

/// The value shown for a header that carries a credential.
pub const HIDDEN: &str = "(credential, not kept)";

/// One request, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The destination's kind: `slack`, `teams`, `webhook` or `email`.
    pub kind: String,
    /// Where it went: `POST https://…`, `smtp://host:port`, `file:///dir`.
    pub to: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body: JSON for HTTP destinations, the text part for an email.
    pub body: String,
    /// An email's HTML part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Something was cut to fit the size kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

impl Sent {
    pub fn new(kind: &str, to: String, body: String) -> Sent {
        Sent {
            kind: kind.to_string(),
            to,
            headers: Vec::new(),
            body,
            html: None,
            cut: false,
        }
    }

    /// Adds a header, its value hidden if the name says it is a credential.
    pub fn header(&mut self, name: &str, value: &str) {
        let lower = name.to_ascii_lowercase();
        let secret = CREDENTIAL_WORDS.iter().any(|w| lower.contains(w));
        let value = if secret { HIDDEN } else { value };
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// The text to store: every secret the redactor knows replaced, then at most `limit` bytes
    /// of body (and HTML part). Redacted before it is cut, so that a cut cannot leave the start
    /// of a secret behind, and before it is encoded, so that escaping cannot hide one.
    pub fn stored(mut self, limit: usize, redactor: &Redactor) -> String {
        self.to = redactor.redact(&self.to);
        for (_, value) in &mut self.headers {
            *value = redactor.redact(value);
        }
        self.body = redactor.redact(&self.body);
        self.cut |= cut(&mut self.body, limit);
        if let Some(html) = &mut self.html {
            *html = redactor.redact(html);
            let rest = limit.saturating_sub(self.body.len());
            self.cut |= cut(html, rest);
        }
        serde_json::to_string(&self).unwrap_or_default()
    }

    /// A stored request as the store gives it back; `None` for one that cannot be read
    /// (written by a later herald).
    pub fn from_value(value: &serde_json::Value) -> Option<Sent> {
        Sent::deserialize(value).ok()
    }

    /// The body as pretty JSON when it is JSON, else as it is.
    pub fn pretty_body(&self) -> String {
        crate::text::json::pretty(&self.body)
    }
}

/// A destination's address as kept: its origin only, since the path and query of a Slack or
/// Teams webhook are its credential (`POST https://hooks.slack.com/…`).
pub fn shown_url(method: &str, url: &url::Url) -> String {
    let origin = url.origin().ascii_serialization();
    if url.path() == "/" && url.query().is_none() {
        format!("{method} {origin}/")
    } else {
        format!("{method} {origin}/…")
    }
}

/// Cuts `text` to at most `limit` bytes on a character boundary; true if anything went.
fn cut(text: &mut String, limit: usize) -> bool {
    if text.len() <= limit {
        return false;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Sent> {
        Sent::from_value(&serde_json::from_str(text).ok()?)
    }

    #[test]
    fn credentials_are_kept_by_name_only() {
        let mut s = Sent::new("webhook", "POST https://erp.example".into(), "{}".into());
        s.header("Authorization", "Bearer abc");
        s.header("X-Erp-Token", "t0ken");
        s.header("X-Source", "herald");
        assert_eq!(s.headers[0].1, HIDDEN);
        assert_eq!(s.headers[1].1, HIDDEN);
        assert_eq!(s.headers[2].1, "herald");
    }

    #[test]
    fn a_long_body_is_cut_on_a_character_and_marked() {
        let s = Sent::new("webhook", "x".into(), "åååå".into());
        let kept = parse(&s.stored(3, &Redactor::default())).unwrap();
        assert_eq!(kept.body, "å");
        assert!(kept.cut);
        let whole = Sent::new("webhook", "x".into(), "ab".into());
        assert!(!parse(&whole.stored(64, &Redactor::default())).unwrap().cut);
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Sent::new(
            "slack",
            "POST https://hooks.slack.com/services/T0/B0/sekrit-token-1234".into(),
            "{}".into(),
        );
        let r = Redactor::new(["sekrit-token-1234".to_string()]);
        assert!(!s.stored(100, &r).contains("sekrit"));
    }
}
