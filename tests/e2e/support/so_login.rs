//! A stand-in for SuperOffice's login service, verifying what SuperOffice verifies
//! (`auth-application/get-system-user-ticket.md`, `sign-in-user/auth-code-flow.md`): a signed
//! system user token's RSA signature against the application's public key and its time within
//! five minutes, the client secret, the ContextIdentifier; a refresh token with its client id
//! and secret. It signs its JWTs with a key of its own, published as JWKS, and remembers what it
//! issued and until when, so the API stand-in can answer 401 to an expired ticket or token.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rsa::{KeyPair, PublicKeyComponents};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

/// The test application and tenant, as SuperOffice's developer portal and tenant would have it.
pub const SYSTEM_TOKEN: &str = "HeraldTests-8f3c2a9d41b7e6";
pub const CLIENT_SECRET: &str = "client-secret-5d2e9f81c04a";
pub const CLIENT_ID: &str = "client-id-1234abcd";
pub const REFRESH_TOKEN: &str = "refresh-token-77aa90be3c1f";
pub const TENANT: &str = "Cust12345";
const SERIAL: &str = "9120331";
const KID: &str = "stand-in-signing-key-1";

pub fn fixtures() -> PathBuf {
    super::repo().join("tests/fixtures/superoffice")
}

fn key(name: &str) -> KeyPair {
    let der = PrivateKeyDer::from_pem_file(fixtures().join(name)).unwrap();
    match der {
        PrivateKeyDer::Pkcs1(k) => KeyPair::from_der(k.secret_pkcs1_der()).unwrap(),
        other => KeyPair::from_pkcs8(other.secret_der()).unwrap(),
    }
}

/// What the login service issued: a ticket or access token, until when.
#[derive(Debug, Default)]
pub struct Issued {
    pub until: HashMap<String, Instant>,
    /// In the order issued.
    pub order: Vec<String>,
}

#[derive(Default)]
pub struct Behaviour {
    /// Sign JWTs with a key that is not in the JWKS.
    pub rogue: bool,
    /// Answer `IsSuccessful: false` with this `ErrorMessage`.
    pub refuse: Option<String>,
}

pub struct Login {
    pub lifetime: Duration,
    app: PublicKeyComponents<Vec<u8>>,
    signer: KeyPair,
    rogue: KeyPair,
    pub behaviour: Mutex<Behaviour>,
    pub issued: Mutex<Issued>,
    /// Every request body the login service got, for checking what was sent.
    pub requests: Mutex<Vec<String>>,
    pub exchanges: Mutex<usize>,
}

impl Login {
    pub fn new(lifetime: Duration) -> Login {
        Login {
            lifetime,
            app: PublicKeyComponents::from(key("app-key.pem").public()),
            signer: key("login-key.pem"),
            rogue: key("rogue-key.pem"),
            behaviour: Mutex::new(Behaviour::default()),
            issued: Mutex::new(Issued::default()),
            requests: Mutex::new(Vec::new()),
            exchanges: Mutex::new(0),
        }
    }

    pub fn exchanges(&self) -> usize {
        *self.exchanges.lock().unwrap()
    }

    /// The credentials issued so far, oldest first.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().order.clone()
    }

    /// Whether every credential issued so far has run out.
    pub fn all_expired(&self) -> bool {
        let issued = self.issued.lock().unwrap();
        !issued.order.is_empty() && issued.until.values().all(|u| Instant::now() >= *u)
    }

    /// The JWKS document: the signing key's public numbers.
    pub fn jwks(&self) -> Value {
        let public = PublicKeyComponents::<Vec<u8>>::from(self.signer.public());
        json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
            "x5c": null, "x5t": null}]})
    }

    /// `POST /Login/api/PartnerSystemUser/Authenticate`.
    pub fn authenticate(&self, body: &str, api: &str) -> Value {
        self.requests.lock().unwrap().push(body.to_string());
        *self.exchanges.lock().unwrap() += 1;
        let refuse = |m: &str| json!({"IsSuccessful": false, "ErrorMessage": m, "Token": null});
        if let Some(m) = &self.behaviour.lock().unwrap().refuse {
            return refuse(m);
        }
        let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if request["ApplicationToken"] != CLIENT_SECRET {
            return refuse("Unknown application token");
        }
        if request["ContextIdentifier"] != TENANT {
            return refuse("Unknown context identifier");
        }
        if request["ReturnTokenType"] != "JWT" {
            return refuse("ReturnTokenType must be JWT or SAML");
        }
        if let Err(m) = self.check_signed(request["SignedSystemToken"].as_str().unwrap_or("")) {
            return refuse(&m);
        }
        let ticket = format!("7T:{}", fastrand_hex());
        self.issue(&ticket);
        json!({"IsSuccessful": true, "ErrorMessage": null, "Token": self.jwt(&ticket, api)})
    }

    /// `TOKEN.yyyyMMddHHmm.SIGNATURE`, signed by the application's key within five minutes.
    fn check_signed(&self, signed: &str) -> Result<(), String> {
        let mut parts = signed.rsplitn(3, '.');
        let (Some(sig), Some(stamp), Some(token)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("Invalid signed system token".into());
        };
        if token != SYSTEM_TOKEN {
            return Err("Unknown system user token".into());
        }
        let signature = STANDARD
            .decode(sig)
            .map_err(|_| "Signature is not base64")?;
        let data = format!("{token}.{stamp}");
        PublicKeyComponents {
            n: &self.app.n,
            e: &self.app.e,
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            data.as_bytes(),
            &signature,
        )
        .map_err(|_| "Signature does not verify".to_string())?;
        let now = jiff::Timestamp::now();
        let when = jiff::civil::DateTime::strptime("%Y%m%d%H%M", stamp)
            .map_err(|_| "Bad time stamp".to_string())?
            .in_tz("UTC")
            .map_err(|_| "Bad time stamp".to_string())?
            .timestamp();
        if now.duration_since(when).abs() > jiff::SignedDuration::from_mins(5) {
            return Err("Signed system token has expired".into());
        }
        Ok(())
    }

    fn issue(&self, credential: &str) {
        let mut issued = self.issued.lock().unwrap();
        issued
            .until
            .insert(credential.to_string(), Instant::now() + self.lifetime);
        issued.order.push(credential.to_string());
    }

    fn jwt(&self, ticket: &str, api: &str) -> String {
        let claim = |n: &str| format!("http://schemes.superoffice.net/identity/{n}");
        let now = jiff::Timestamp::now().as_second();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
        let claims = json!({
            "iss": "SuperOffice AS", "aud": format!("spn:{SERIAL}"),
            "nbf": now, "iat": now, "exp": now + self.lifetime.as_secs() as i64,
            claim("ticket"): ticket, claim("webapi_url"): format!("{api}/"),
            claim("netserver_url"): format!("{api}/../Remote/Services88/"),
            claim("ctx"): TENANT, claim("serial"): SERIAL, claim("is_administrator"): null,
        });
        let data = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = match self.behaviour.lock().unwrap().rogue {
            true => &self.rogue,
            false => &self.signer,
        };
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            data.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{data}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// `POST /login/common/oauth/tokens` with `grant_type=refresh_token`.
    pub fn tokens(&self, form: &str) -> (u16, Value) {
        self.requests.lock().unwrap().push(form.to_string());
        *self.exchanges.lock().unwrap() += 1;
        let fields: HashMap<String, String> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
        if field("grant_type") != "refresh_token"
            || field("client_id") != CLIENT_ID
            || field("client_secret") != CLIENT_SECRET
            || field("refresh_token") != REFRESH_TOKEN
        {
            return (
                400,
                json!({"error": "invalid_grant", "error_description": "The refresh token is not valid"}),
            );
        }
        let access = format!("8A:{TENANT}.{}", fastrand_hex());
        self.issue(&access);
        (
            200,
            json!({"token_type": "Bearer", "access_token": access,
                   "expires_in": self.lifetime.as_secs(), "id_token": null}),
        )
    }

    /// Whether a call to the API carries a credential this service issued and that holds:
    /// `Err("expired")` or `Err("unknown")` otherwise.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
        let authorization = header("authorization");
        let credential = match authorization.split_once(' ') {
            Some(("SOTicket", t)) if header("so-apptoken") == CLIENT_SECRET => t,
            Some(("Bearer", t)) => t,
            _ => return Err("unknown"),
        };
        match self.issued.lock().unwrap().until.get(credential) {
            Some(until) if Instant::now() < *until => Ok(()),
            Some(_) => Err("expired"),
            None => Err("unknown"),
        }
    }
}

fn fastrand_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}
