//! SuperOffice Online's system user flow (`auth-application/get-system-user-ticket.md`): sign
//! `TOKEN.yyyyMMddHHmm` (UTC) with the application's RSA key, POST it with the client secret
//! and the tenant to `{login}/api/PartnerSystemUser/Authenticate`, check the JWT that comes
//! back ([`super::jwt`]) and take its `ticket` and `webapi_url` claims. Calls then carry
//! `Authorization: SOTicket {ticket}` and `SO-AppToken: {client secret}`.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::jwt::{CLAIM, Jwks};
use super::{Issued, SignInError, post};
use crate::config::superoffice::auth::SystemUser;
use crate::enrich::wire::Authenticated;
use crate::secret::Secret;

/// A ticket is valid for 6 hours, sliding with use; herald renews it before then.
const TICKET_LIFETIME: Duration = Duration::from_secs(6 * 3600);

pub(super) struct Flow {
    spec: SystemUser,
    client: reqwest::Client,
    tenant: String,
    jwks: Jwks,
}

impl Flow {
    pub(super) fn new(spec: SystemUser, tenant: &str, client: reqwest::Client) -> Flow {
        let login = spec.login.as_str().trim_end_matches('/');
        let jwks = Jwks::new(format!("{login}/.well-known/jwks"));
        Flow {
            spec,
            client,
            tenant: tenant.to_string(),
            jwks,
        }
    }

    fn url(&self) -> String {
        let login = self.spec.login.as_str().trim_end_matches('/');
        format!("{login}/api/PartnerSystemUser/Authenticate")
    }

    /// A new ticket.
    pub(super) async fn exchange(&self) -> Result<Issued, SignInError> {
        let url = self.url();
        let body = json!({
            "SignedSystemToken": self.signed(jiff::Timestamp::now()),
            "ApplicationToken": self.spec.client_secret.expose(),
            "ContextIdentifier": self.tenant,
            "ReturnTokenType": "JWT",
        });
        let (status, text) = post(&self.client, &url, "application/json", body.to_string()).await?;
        let jwt = token(&url, status, &text)?;
        let claims = self
            .jwks
            .verify(&self.client, &jwt, &self.tenant)
            .await
            .map_err(SignInError::Untrusted)?;
        let claim = |name: &str| {
            claims
                .get(&format!("{CLAIM}{name}"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let Some(ticket) = claim("ticket") else {
            return Err(SignInError::Answer {
                url,
                reason: format!("its JWT has no `{CLAIM}ticket` claim"),
            });
        };
        Ok(Issued {
            headers: vec![
                ("Authorization", Secret::new(format!("SOTicket {ticket}"))),
                ("SO-AppToken", self.spec.client_secret.clone()),
            ],
            api_root: claim("webapi_url").map(|u| u.trim_end_matches('/').to_string()),
            lifetime: lifetime(claims.get("exp")),
        })
    }

    /// `TOKEN.yyyyMMddHHmm.SIGNATURE`: the token and the time in UTC, signed (RSA PKCS#1 v1.5,
    /// SHA-256, base64).
    fn signed(&self, now: jiff::Timestamp) -> String {
        let data = format!(
            "{}.{}",
            self.spec.token.expose(),
            now.strftime("%Y%m%d%H%M")
        );
        let signature = self.spec.key.sign(data.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        format!("{data}.{signature}")
    }
}

/// The JWT in the login service's answer, or why there is none: SuperOffice's own
/// `ErrorMessage` when it gives one.
fn token(url: &str, status: u16, text: &str) -> Result<String, SignInError> {
    let answer: Option<Authenticated> = serde_json::from_str(text).ok();
    let answer = match (status, answer) {
        (_, Some(a)) if !a.is_successful && !a.error_message.trim().is_empty() => {
            return Err(SignInError::Refused(super::said(&a.error_message)));
        }
        (200, Some(a)) => a,
        (200, None) => {
            return Err(SignInError::Answer {
                url: url.to_string(),
                reason: format!("not with JSON: {}", crate::http::excerpt(text)),
            });
        }
        (status, _) => {
            return Err(SignInError::Status {
                url: url.to_string(),
                status,
                excerpt: crate::http::excerpt(text),
            });
        }
    };
    if !answer.is_successful {
        return Err(SignInError::Refused(
            "IsSuccessful is false, with no ErrorMessage".into(),
        ));
    }
    match answer.token.trim() {
        "" => Err(SignInError::Answer {
            url: url.to_string(),
            reason: "its Token is empty".into(),
        }),
        jwt => Ok(jwt.to_string()),
    }
}

/// Six hours, or less when the JWT's `exp` says its ticket runs out sooner. An `exp` already
/// past (SuperOffice's own sample ignores it) leaves the six hours.
fn lifetime(exp: Option<&Value>) -> Duration {
    let now = jiff::Timestamp::now().as_second();
    match exp.and_then(Value::as_i64) {
        Some(exp) if exp > now => Duration::from_secs((exp - now) as u64).min(TICKET_LIFETIME),
        _ => TICKET_LIFETIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_lives_six_hours_unless_its_jwt_says_less() {
        let now = jiff::Timestamp::now().as_second();
        assert_eq!(lifetime(None), TICKET_LIFETIME);
        assert_eq!(lifetime(Some(&json!(now - 60))), TICKET_LIFETIME);
        assert_eq!(lifetime(Some(&json!(now + 10 * 3600))), TICKET_LIFETIME);
        let short = lifetime(Some(&json!(now + 30)));
        assert!(short <= Duration::from_secs(30) && short >= Duration::from_secs(28));
    }
}
