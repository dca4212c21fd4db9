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

/// Replaces every known secret in a text by `***`.
///
/// Secrets shorter than [`Redactor::MIN_LEN`] are not registered: redacting `1` or `ab` would
/// garble every message and such values protect nothing anyway.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub const MIN_LEN: usize = 4;

    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut list: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= Self::MIN_LEN)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        list.dedup();
        Redactor {
            secrets: Arc::new(list),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
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
}
