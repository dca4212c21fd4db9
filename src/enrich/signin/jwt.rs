//! Checking the JWT that carries a system user's ticket before herald uses the ticket, as
//! SuperOffice's `validate-security-tokens.md` asks: RS256, signed by a key from
//! `{login}/.well-known/jwks` (picked by `kid`; the set is fetched again once for a `kid` it
//! lacks), issuer `SuperOffice AS`, audience `spn:{serial}`.
//!
//! The lifetime claims are read, not enforced: SuperOffice's own sample validates with
//! `ignoreExpiration`, and the JWT comes straight from the login service over TLS in answer to
//! herald's request. `exp` only tells herald to renew sooner (see `super`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::enrich::wire::KeySet;

/// The claims herald reads, all under this prefix.
pub const CLAIM: &str = "http://schemes.superoffice.net/identity/";
const ISSUER: &str = "SuperOffice AS";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("it is not a JWT ({0})")]
    Malformed(&'static str),
    #[error("it is signed with {0}, not RS256")]
    Algorithm(String),
    #[error("its signature does not verify against any key at {url}")]
    Signature { url: String },
    #[error("its key `{kid}` is not among the keys at {url}")]
    UnknownKey { kid: String, url: String },
    #[error("the keys at {url} could not be read: {reason}")]
    Keys { url: String, reason: String },
    #[error("its issuer is {found:?}, not \"SuperOffice AS\"")]
    Issuer { found: String },
    #[error("its audience is {found}, not \"spn:{serial}\" for its serial")]
    Audience { found: String, serial: String },
    #[error("it is for tenant {found:?}, not {wanted:?}")]
    Tenant { found: String, wanted: String },
}

/// One signing key: its id and public numbers.
struct Key {
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// SuperOffice's signing keys, fetched when first needed and again for an unknown `kid`.
pub struct Jwks {
    url: String,
    keys: parking_lot::Mutex<Option<(Instant, Arc<Vec<Key>>)>>,
}

/// Keys are read again at most this often for an unknown `kid`, and kept this long at most.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
const KEEP: Duration = Duration::from_secs(3600);

impl Jwks {
    pub fn new(url: String) -> Jwks {
        Jwks {
            url,
            keys: parking_lot::Mutex::new(None),
        }
    }

    /// The token's claims, if it is signed by one of SuperOffice's keys and meant for herald.
    pub async fn verify(
        &self,
        client: &reqwest::Client,
        token: &str,
        tenant: &str,
    ) -> Result<Map<String, Value>, JwtError> {
        let parts = Parts::split(token)?;
        let kid = parts.header["kid"].as_str().unwrap_or("").to_string();
        let keys = self.keys_for(client, &kid).await?;
        let message = &token[..token.rfind('.').expect("split found three parts")];
        let verified = keys
            .iter()
            .filter(|k| kid.is_empty() || k.kid == kid)
            .any(|k| {
                ring::rsa::PublicKeyComponents { n: &k.n, e: &k.e }
                    .verify(
                        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                        message.as_bytes(),
                        &parts.signature,
                    )
                    .is_ok()
            });
        if !verified {
            return Err(JwtError::Signature {
                url: self.url.clone(),
            });
        }
        check_claims(&parts.claims, tenant)?;
        Ok(parts.claims)
    }

    /// The key set, fetched again when `kid` is not in it (at most every few seconds).
    async fn keys_for(
        &self,
        client: &reqwest::Client,
        kid: &str,
    ) -> Result<Arc<Vec<Key>>, JwtError> {
        let cached = self.keys.lock().clone();
        if let Some((at, keys)) = &cached {
            let known = kid.is_empty() || keys.iter().any(|k| k.kid == kid);
            if at.elapsed() < KEEP && (known || at.elapsed() < REFETCH_AFTER) {
                return self.known(keys.clone(), kid);
            }
        }
        let keys = Arc::new(self.fetch(client).await?);
        *self.keys.lock() = Some((Instant::now(), keys.clone()));
        self.known(keys, kid)
    }

    fn known(&self, keys: Arc<Vec<Key>>, kid: &str) -> Result<Arc<Vec<Key>>, JwtError> {
        if kid.is_empty() || keys.iter().any(|k| k.kid == kid) {
            return Ok(keys);
        }
        Err(JwtError::UnknownKey {
            kid: kid.to_string(),
            url: self.url.clone(),
        })
    }

    async fn fetch(&self, client: &reqwest::Client) -> Result<Vec<Key>, JwtError> {
        let failed = |reason: String| JwtError::Keys {
            url: self.url.clone(),
            reason,
        };
        let response = client
            .get(&self.url)
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| failed(crate::http::transport_error(e)))?;
        let status = response.status().as_u16();
        let (text, _) = crate::http::read_limited(response, crate::http::PARSED_READ).await;
        if status != 200 {
            return Err(failed(format!("answered {status}")));
        }
        let set: KeySet =
            serde_json::from_str(&text).map_err(|e| failed(format!("not a key set: {e}")))?;
        let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok();
        Ok(set
            .keys
            .into_iter()
            .flatten()
            .filter(|k| k.kty.is_empty() || k.kty == "RSA")
            .filter_map(|k| {
                Some(Key {
                    n: b64(&k.n)?,
                    e: b64(&k.e)?,
                    kid: k.kid,
                })
            })
            .collect())
    }
}

/// A JWT's three parts, decoded.
struct Parts {
    header: Value,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl Parts {
    fn split(token: &str) -> Result<Parts, JwtError> {
        let mut it = token.trim().split('.');
        let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(JwtError::Malformed("it does not have three parts"));
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok();
        let json = |part: &str| decode(part).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let header = json(h).ok_or(JwtError::Malformed("its header is not base64url JSON"))?;
        let Some(Value::Object(claims)) = json(c) else {
            return Err(JwtError::Malformed("its claims are not base64url JSON"));
        };
        let signature = decode(s).ok_or(JwtError::Malformed("its signature is not base64url"))?;
        match header["alg"].as_str() {
            Some("RS256") => Ok(Parts {
                header,
                claims,
                signature,
            }),
            other => Err(JwtError::Algorithm(
                other.unwrap_or("no algorithm").to_string(),
            )),
        }
    }
}

fn check_claims(claims: &Map<String, Value>, tenant: &str) -> Result<(), JwtError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
    if text("iss") != ISSUER {
        return Err(JwtError::Issuer {
            found: text("iss").to_string(),
        });
    }
    let serial = match claims.get(&format!("{CLAIM}serial")) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let wanted = format!("spn:{serial}");
    let audience_ok = !serial.is_empty()
        && match claims.get("aud") {
            Some(Value::String(a)) => *a == wanted,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&wanted)),
            _ => false,
        };
    if !audience_ok {
        return Err(JwtError::Audience {
            found: claims.get("aud").map_or("missing".into(), Value::to_string),
            serial,
        });
    }
    let ctx = text(&format!("{CLAIM}ctx"));
    if !ctx.is_empty() && !ctx.eq_ignore_ascii_case(tenant) {
        return Err(JwtError::Tenant {
            found: ctx.to_string(),
            wanted: tenant.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn issuer_audience_and_tenant_are_checked() {
        let serial = format!("{CLAIM}serial");
        let ctx = format!("{CLAIM}ctx");
        let good = json!({"iss": "SuperOffice AS", "aud": "spn:1234", serial.clone(): "1234", ctx.clone(): "Cust1"});
        assert_eq!(check_claims(&claims(good.clone()), "Cust1"), Ok(()));
        let mut c = claims(good.clone());
        c.insert("iss".into(), json!("Someone"));
        assert!(matches!(
            check_claims(&c, "Cust1"),
            Err(JwtError::Issuer { .. })
        ));
        let mut c = claims(good.clone());
        c.insert("aud".into(), json!(["spn:9"]));
        assert!(matches!(
            check_claims(&c, "Cust1"),
            Err(JwtError::Audience { .. })
        ));
        let mut c = claims(good.clone());
        c.insert("aud".into(), json!(["x", "spn:1234"]));
        assert_eq!(check_claims(&c, "Cust1"), Ok(()));
        assert!(matches!(
            check_claims(&claims(good), "Cust2"),
            Err(JwtError::Tenant { .. })
        ));
    }

    #[test]
    fn only_rs256_jwts_are_read() {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", enc(json!({"alg": "none"})), enc(json!({})));
        assert!(matches!(Parts::split(&none), Err(JwtError::Algorithm(a)) if a == "none"));
        assert!(matches!(Parts::split("a.b"), Err(JwtError::Malformed(_))));
    }
}
