//! `X-SuperOffice-Signature`: standard base64 of HMAC-SHA256 over the raw body bytes, keyed
//! with the webhook's secret. Checked in constant time, before the body is parsed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Body bytes whose signature matched one of the secrets (or that were accepted unsigned
/// because no secret is configured and `--allow-unsigned` was given).
#[derive(Debug)]
pub struct VerifiedBody(axum::body::Bytes);

impl VerifiedBody {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-SuperOffice-Signature header")]
    Missing,
    #[error("X-SuperOffice-Signature is not base64")]
    NotBase64,
    #[error("signature does not match the body")]
    Mismatch,
}

/// Holds the webhook secrets. Several are allowed so that a secret can be rotated: any one
/// verifies.
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<Secret<Vec<u8>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({} secrets)", self.secrets.len())
    }
}

impl Verifier {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Verifier {
            secrets: secrets
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|s| Secret::new(s.into_bytes()))
                .collect(),
        }
    }

    /// True when no secret is configured: every body passes (only with `--allow-unsigned`).
    pub fn is_open(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        body: axum::body::Bytes,
    ) -> Result<VerifiedBody, SignatureError> {
        if self.is_open() {
            return Ok(VerifiedBody(body));
        }
        let signature = signature.ok_or(SignatureError::Missing)?;
        let expected = STANDARD
            .decode(signature.trim_ascii())
            .map_err(|_| SignatureError::NotBase64)?;
        for secret in &self.secrets {
            let mut mac =
                HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes keys of any length");
            mac.update(&body);
            // `verify_slice` compares in constant time.
            if mac.verify_slice(&expected).is_ok() {
                return Ok(VerifiedBody(body));
            }
        }
        Err(SignatureError::Mismatch)
    }
}

/// The signature SuperOffice would send for `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    #[test]
    fn any_of_the_secrets_verifies() {
        let v = Verifier::new(["old-secret".to_string(), "new-secret".to_string()]);
        let body = Bytes::from_static(b"{\"a\":1}");
        for secret in ["old-secret", "new-secret"] {
            let sig = sign(secret, &body);
            assert!(v.verify(Some(sig.as_bytes()), body.clone()).is_ok());
        }
    }

    #[test]
    fn rejects_missing_wrong_and_tampered() {
        let v = Verifier::new(["s3cret".to_string()]);
        let body = Bytes::from_static(b"{\"a\":1}");
        let good = sign("s3cret", &body);
        assert_eq!(
            v.verify(None, body.clone()).unwrap_err(),
            SignatureError::Missing
        );
        assert_eq!(
            v.verify(Some(b"%%%"), body.clone()).unwrap_err(),
            SignatureError::NotBase64
        );
        let wrong = sign("other", &body);
        assert_eq!(
            v.verify(Some(wrong.as_bytes()), body).unwrap_err(),
            SignatureError::Mismatch
        );
        let tampered = Bytes::from_static(b"{\"a\":2}");
        assert_eq!(
            v.verify(Some(good.as_bytes()), tampered).unwrap_err(),
            SignatureError::Mismatch
        );
    }

    #[test]
    fn matches_superoffice_documented_format() {
        // Standard base64 with padding, no prefix: 32 bytes encode to 44 characters.
        let sig = sign("secret", b"{}");
        assert_eq!(sig.len(), 44);
        assert!(sig.ends_with('='));
    }
}
