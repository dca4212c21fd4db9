//! Secrets: values that must never reach a log line, an error message or `Debug` output.
//!
//! Two tools: [`Secret`] wraps one value so that printing it shows `***`, and [`Redactor`]
//! scrubs known secret strings out of text that came from elsewhere (an error from an SMTP
//! server or an HTTP library may quote a URL or a login).

use std::fmt;
use std::sync::Arc;

/// A value that prints as `***`. Use [`Secret::expose`] at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every known secret in a text by `***`, in every form it can reappear in: as
/// written, JSON- or YAML-escaped, escaped the way Rust's `{:?}` does, and URL-encoded. Parts
/// of secrets that a destination may echo on their own (a URL's path segments and query
/// values, a token after `Bearer`, the base64 of SMTP credentials) are registered by the
/// loader as secrets of their own, see [`Redactor::url_parts`] and friends.
///
/// Secrets shorter than [`Redactor::MIN_LEN`] are not registered: redacting `1` or `ab` would
/// garble every message and such values protect nothing anyway.
#[derive(Clone, Default)]
pub struct Redactor {
    matcher: Option<Arc<aho_corasick::AhoCorasick>>,
    count: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms of secrets)", self.count)
    }
}

impl Redactor {
    pub const MIN_LEN: usize = 4;

    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut forms: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= Self::MIN_LEN)
            .flat_map(|s| forms(&s))
            .filter(|f| f.len() >= Self::MIN_LEN)
            .collect();
        forms.sort();
        forms.dedup();
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&forms)
            .ok()
            .filter(|_| !forms.is_empty());
        Redactor {
            matcher: matcher.map(Arc::new),
            count: forms.len(),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, out| {
                    out.push_str("***");
                    true
                });
                out
            }
            None => text.to_string(),
        }
    }

    /// The parts of a secret URL a destination may echo alone: each path segment and query
    /// value that is long enough to be a credential (Slack's token, Teams' `sig`).
    pub fn url_parts(url: &url::Url) -> Vec<String> {
        let segments = url
            .path_segments()
            .into_iter()
            .flatten()
            .map(str::to_string);
        let values = url.query_pairs().map(|(_, v)| v.into_owned());
        segments.chain(values).filter(|p| looks_secret(p)).collect()
    }

    /// The parts of a header value that may be a credential: `Bearer abc…` gives `abc…`.
    pub fn header_parts(value: &str) -> Vec<String> {
        value
            .split_whitespace()
            .filter(|p| looks_secret(p))
            .map(str::to_string)
            .collect()
    }

    /// What SMTP AUTH sends over the wire for a login, which a server may quote in an error:
    /// base64 of `\0user\0password` (PLAIN) and of the password alone (LOGIN).
    pub fn smtp_parts(user: &str, password: &str) -> Vec<String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        vec![
            b64.encode(format!("\0{user}\0{password}")),
            b64.encode(password),
        ]
    }
}

/// Long enough to be a credential rather than a word: 16 characters, or 8 with a digit.
/// (`services` in a Slack URL stays readable; `T0123ABCD` and the token do not.)
fn looks_secret(part: &str) -> bool {
    let n = part.chars().count();
    n >= 16 || (n >= 8 && part.chars().any(|c| c.is_ascii_digit()))
}

/// The forms a secret can take in text herald prints or stores.
fn forms(secret: &str) -> Vec<String> {
    let quoted = |s: String| s[1..s.len() - 1].to_string();
    let json = serde_json::to_string(secret)
        .map(quoted)
        .unwrap_or_default();
    let debug = quoted(format!("{secret:?}"));
    let form_encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut all = vec![
        secret.to_string(),
        json,
        debug,
        form_encoded.replace('+', "%20"),
        form_encoded,
        html_escaped(secret),
    ];
    all.extend(base64_forms(secret));
    all
}

/// The secret as an HTML page or an XML answer may echo it.
fn html_escaped(secret: &str) -> String {
    secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The secret base64-encoded (standard and URL alphabets), and the run of characters that
/// stays the same wherever it starts in a longer encoded text: base64 of `user:secret` (Basic
/// authentication) contains, for each of the three alignments, a run that gives it away.
fn base64_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for pad in 0..3 {
        let mut bytes = vec![0u8; pad];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = STANDARD.encode(&bytes);
        // Drop the characters the padding bytes and the last partial group touch.
        let skip = (pad * 4).div_ceil(3);
        let keep = (bytes.len() / 3) * 4;
        if keep > skip + 4 {
            let stable = &encoded[skip..keep];
            forms.push(stable.to_string());
            forms.push(stable.replace('+', "-").replace('/', "_"));
        }
    }
    forms.push(STANDARD.encode(secret));
    forms.push(URL_SAFE_NO_PAD.encode(secret));
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_stars() {
        let s = Secret::new("hunter22".to_string());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[test]
    fn the_redactor_replaces_longest_first_and_skips_short_values() {
        let r = Redactor::new(["abcd".to_string(), "abcdefgh".to_string(), "x".to_string()]);
        assert_eq!(r.redact("k=abcdefgh j=abcd x"), "k=*** j=*** x");
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn escaped_and_encoded_forms_are_redacted_too() {
        let secret = "Quote\"SECRET/ä b";
        let r = Redactor::new([secret.to_string()]);
        for shown in [
            secret.to_string(),
            format!("{secret:?}"),
            serde_json::to_string(secret).unwrap(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            "Quote&quot;SECRET/ä b".to_string(),
            base64_of(secret),
            base64_of(&format!("user:{secret}")),
            base64_of(&format!("ab:{secret}:cd")),
        ] {
            let out = r.redact(&format!("value: {shown}!"));
            assert!(
                out.contains("***") && !out.contains("SECRET"),
                "{shown} -> {out}"
            );
        }
    }

    #[test]
    fn the_parts_a_destination_may_echo_are_secrets_of_their_own() {
        let url: url::Url = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx?sig=Zm9vYmFyYmF6cXV4cXV1eA"
            .parse()
            .unwrap();
        let parts = Redactor::url_parts(&url);
        assert!(!parts.contains(&"services".to_string()), "{parts:?}");
        assert_eq!(parts.len(), 4, "{parts:?}");
        assert_eq!(
            Redactor::header_parts("Bearer tok3n-abcdef"),
            ["tok3n-abcdef"]
        );
        let r = Redactor::new(Redactor::smtp_parts("user", "pa55word"));
        assert_eq!(
            r.redact("535 AHVzZXIAcGE1NXdvcmQ= refused"),
            "535 *** refused"
        );
    }
}
