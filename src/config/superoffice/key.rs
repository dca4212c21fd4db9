//! The application's RSA private key for SuperOffice's system user flow, as SuperOffice's
//! developer portal hands it out (RSA XML, `<RSAKeyValue><Modulus>…</Modulus>…<D>…</D>`) or as
//! PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`). Parsed once at load, so a public key,
//! a certificate or garbage is refused by `herald check`, never found out at the first quote.
//!
//! The key lives in ring, rustls' one crypto provider: no second RSA implementation.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use ring::rsa::{KeyPair, KeyPairComponents, PublicKeyComponents};
use rustls_pki_types::pem::{PemObject, SectionKind};

/// Why a key file cannot sign herald's system user token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "is a public key; herald signs with the application's private key (the RSA XML or PEM the developer portal gave you)"
    )]
    Public,
    #[error("is a certificate, not the application's RSA private key")]
    Certificate,
    #[error("holds a {0} section, not an RSA private key")]
    Other(String),
    #[error("is neither a PEM private key nor SuperOffice's RSA XML (<RSAKeyValue>)")]
    Unknown,
    #[error("is RSA XML without <{0}>: the private key needs every part")]
    MissingPart(&'static str),
    #[error("is RSA XML whose <{0}> is not base64")]
    NotBase64(&'static str),
    #[error("is not XML: {0}")]
    Xml(String),
    #[error("is not a usable RSA private key: {0}")]
    Rejected(String),
}

/// A parsed RSA private key. Prints as `***`.
#[derive(Clone)]
pub struct AppKey {
    pair: Arc<KeyPair>,
    /// The file's base64 lines and values, for the redactor: no line of the key is ever shown.
    lines: Vec<String>,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppKey(***)")
    }
}

impl AppKey {
    /// The key in a file's text: RSA XML when it starts with `<`, PEM otherwise.
    pub fn parse(text: &str) -> Result<AppKey, KeyError> {
        let trimmed = text.trim_start_matches('\u{feff}').trim();
        let pair = if trimmed.starts_with('<') {
            from_xml(trimmed)?
        } else {
            from_pem(trimmed)?
        };
        Ok(AppKey {
            pair: Arc::new(pair),
            lines: secret_lines(trimmed),
        })
    }

    /// `RSASSA-PKCS1-v1_5` over SHA-256, as SuperOffice verifies a signed system user token.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("an RSA key that loaded signs any message");
        signature
    }

    /// What must never be printed: each base64 line or value of the key file.
    pub fn secret_lines(&self) -> &[String] {
        &self.lines
    }
}

fn from_pem(text: &str) -> Result<KeyPair, KeyError> {
    let mut other = None;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
        let Ok((kind, der)) = section else {
            return Err(KeyError::Unknown);
        };
        let rejected = |e: ring::error::KeyRejected| KeyError::Rejected(e.to_string());
        match kind {
            SectionKind::RsaPrivateKey => return KeyPair::from_der(&der).map_err(rejected),
            SectionKind::PrivateKey => return KeyPair::from_pkcs8(&der).map_err(rejected),
            SectionKind::PublicKey => other = other.or(Some(KeyError::Public)),
            SectionKind::Certificate => other = other.or(Some(KeyError::Certificate)),
            SectionKind::EcPrivateKey => {
                other = other.or(Some(KeyError::Other("EC PRIVATE KEY".into())))
            }
            kind => other = other.or(Some(KeyError::Other(format!("{kind:?}")))),
        }
    }
    // `RSA PUBLIC KEY` is no section rustls knows: name it all the same.
    if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        return Err(KeyError::Public);
    }
    Err(other.unwrap_or(KeyError::Unknown))
}

/// The parts of an `<RSAKeyValue>`, base64 big-endian numbers, as .NET's `ToXmlString(true)`
/// writes them.
fn from_xml(text: &str) -> Result<KeyPair, KeyError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| KeyError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "RSAKeyValue" {
        return Err(KeyError::Unknown);
    }
    let part = |name: &'static str| -> Result<Vec<u8>, KeyError> {
        let text = root
            .children()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(|t| t.split_whitespace().collect::<String>())
            .filter(|t| !t.is_empty())
            .ok_or(KeyError::MissingPart(name))?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| KeyError::NotBase64(name))
    };
    if root.children().all(|n| n.tag_name().name() != "D") {
        return Err(KeyError::Public);
    }
    let components = KeyPairComponents {
        public_key: PublicKeyComponents {
            n: part("Modulus")?,
            e: part("Exponent")?,
        },
        d: part("D")?,
        p: part("P")?,
        q: part("Q")?,
        dP: part("DP")?,
        dQ: part("DQ")?,
        qInv: part("InverseQ")?,
    };
    KeyPair::from_components(&components).map_err(|e| KeyError::Rejected(e.to_string()))
}

/// Every run of base64 in the file long enough to be part of the key: PEM's body lines and
/// each XML value.
fn secret_lines(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
        .filter(|run| run.len() >= 16)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/superoffice");
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn the_same_key_reads_from_pkcs1_pkcs8_and_rsa_xml_and_signs_alike() {
        let keys: Vec<AppKey> = ["app-key.pem", "app-key.pkcs8.pem", "app-key.xml"]
            .iter()
            .map(|f| AppKey::parse(&fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect();
        // PKCS#1 v1.5 signatures are deterministic: one key, one signature.
        let signatures: Vec<Vec<u8>> = keys.iter().map(|k| k.sign(b"Token.202612031200")).collect();
        assert_eq!(signatures[0], signatures[1]);
        assert_eq!(signatures[0], signatures[2]);
        assert_eq!(signatures[0].len(), 256);
    }

    #[test]
    fn what_is_not_a_private_rsa_key_is_named() {
        let cases = [
            (fixture("app-public.pem"), KeyError::Public),
            (fixture("certificate.pem"), KeyError::Certificate),
            ("hello".to_string(), KeyError::Unknown),
            (
                "<RSAKeyValue><Modulus>AQAB</Modulus><Exponent>AQAB</Exponent></RSAKeyValue>"
                    .to_string(),
                KeyError::Public,
            ),
            (
                "<RSAKeyValue><D>AQAB</D></RSAKeyValue>".to_string(),
                KeyError::MissingPart("Modulus"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(AppKey::parse(&text).unwrap_err(), want, "{text:.40}");
        }
    }

    #[test]
    fn the_key_prints_as_stars_and_lists_its_lines_for_redaction() {
        let text = fixture("app-key.pem");
        let key = AppKey::parse(&text).unwrap();
        assert_eq!(format!("{key:?}"), "AppKey(***)");
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("-----")).collect();
        for line in body.iter().filter(|l| l.len() >= 16) {
            assert!(key.secret_lines().iter().any(|s| s == line), "{line}");
        }
    }
}
