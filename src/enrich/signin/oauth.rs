//! OAuth 2.0 with a refresh token (`sign-in-user/auth-code-flow.md`): POST
//! `grant_type=refresh_token` with the client's id and secret to
//! `{login}/common/oauth/tokens` for an access token that lasts `expires_in` seconds. When the
//! answer carries a new refresh token, it replaces the old one for the life of the process;
//! herald does not write it back to the configuration.

use std::time::Duration;

use super::{Issued, SignInError, post};
use crate::config::superoffice::auth::OAuth;
use crate::enrich::wire::Tokens;
use crate::secret::Secret;

/// When the answer does not say: SuperOffice's access tokens last an hour.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

pub(super) struct Flow {
    spec: OAuth,
    client: reqwest::Client,
    refresh_token: parking_lot::Mutex<Secret<String>>,
}

impl Flow {
    pub(super) fn new(spec: OAuth, client: reqwest::Client) -> Flow {
        let refresh_token = parking_lot::Mutex::new(spec.refresh_token.clone());
        Flow {
            spec,
            client,
            refresh_token,
        }
    }

    /// A new access token.
    pub(super) async fn exchange(&self) -> Result<Issued, SignInError> {
        let client = &self.client;
        let login = self.spec.login.as_str().trim_end_matches('/');
        let url = format!("{login}/common/oauth/tokens");
        let refresh_token = self.refresh_token.lock().clone();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &self.spec.client_id)
            .append_pair("client_secret", self.spec.client_secret.expose())
            .append_pair("refresh_token", refresh_token.expose())
            .finish();
        let (status, text) = post(client, &url, "application/x-www-form-urlencoded", form).await?;
        let answer: Option<Tokens> = serde_json::from_str(&text).ok();
        let tokens = match (status, answer) {
            (_, Some(t)) if !t.error.is_empty() => {
                let detail = match t.error_description.trim() {
                    "" => t.error,
                    d => format!("{}: {d}", t.error),
                };
                return Err(SignInError::RefreshRefused(super::said(&detail)));
            }
            (200, Some(t)) if !t.access_token.trim().is_empty() => t,
            (200, _) => {
                return Err(SignInError::Answer {
                    url,
                    reason: format!("without an access_token: {}", crate::http::excerpt(&text)),
                });
            }
            (status, _) => {
                return Err(SignInError::Status {
                    url,
                    status,
                    excerpt: crate::http::excerpt(&text),
                });
            }
        };
        if !tokens.refresh_token.trim().is_empty()
            && tokens.refresh_token != *refresh_token.expose()
        {
            tracing::info!("SuperOffice sent a new refresh token: herald uses it until it stops");
            *self.refresh_token.lock() = Secret::new(tokens.refresh_token.trim().to_string());
        }
        let lifetime = tokens
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s as u64));
        Ok(Issued {
            headers: vec![(
                "Authorization",
                Secret::new(format!("Bearer {}", tokens.access_token.trim())),
            )],
            api_root: None,
            lifetime,
        })
    }
}
