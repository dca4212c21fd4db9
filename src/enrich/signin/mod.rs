//! Signing in to SuperOffice's API, and staying signed in: the credential every call carries.
//!
//! With a static `bearer:` or `ticket:` that is the configured value. With `system_user:`
//! ([`system_user`]) or `oauth:` ([`oauth`]) herald gets the credential itself when a call first
//! needs it, keeps it, and gets a new one before it runs out and at once when the API answers
//! 401 to it. However many calls wait, one exchange runs at a time (single flight); when an
//! exchange fails, the next waits a growing pause (1 s doubling to 5 minutes), and calls in
//! between get the same error at once. Each process (each replica) holds its own credential.

mod jwt;
mod oauth;
mod system_user;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::superoffice::Auth;
use crate::secret::{Redactor, Secret};

pub use jwt::JwtError;

/// Why herald could not sign in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("SuperOffice refused the system user sign-in: {0}")]
    Refused(String),
    #[error("SuperOffice's login service refused the refresh token: {0}")]
    RefreshRefused(String),
    #[error("the ticket from SuperOffice's login service was refused: {0}")]
    Untrusted(JwtError),
    #[error("{url} answered {status}: {excerpt}")]
    Status {
        url: String,
        status: u16,
        excerpt: String,
    },
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered 200 but {reason}")]
    Answer { url: String, reason: String },
}

/// What a call carries to be let in.
#[derive(Clone)]
pub struct Credential {
    headers: Arc<Vec<(&'static str, Secret<String>)>>,
    /// The tenant's API root this credential names (a ticket's `webapi_url`), without `/`.
    pub api_root: Option<String>,
    /// When it runs out, as far as herald knows (`None` for a static credential).
    pub expires: Option<jiff::Timestamp>,
    generation: u64,
}

impl Credential {
    /// The request, carrying this credential.
    pub fn apply(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (name, value) in self.headers.iter() {
            request = request.header(*name, value.expose());
        }
        request
    }
}

/// What an exchange gives: the headers to send, and for how long.
pub(crate) struct Issued {
    headers: Vec<(&'static str, Secret<String>)>,
    api_root: Option<String>,
    lifetime: Duration,
}

enum Flow {
    Static(Credential),
    SystemUser(system_user::Flow),
    OAuth(oauth::Flow),
}

pub struct SignIn {
    flow: Flow,
    redactor: Redactor,
    state: parking_lot::Mutex<State>,
    /// Held for the length of one exchange: the single flight.
    exchanging: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    current: Option<(Credential, Instant)>,
    failure: Option<Failure>,
    generation: u64,
}

struct Failure {
    error: SignInError,
    retry_at: Instant,
    streak: u32,
}

/// What `whoami` and the status page say about the credential.
#[derive(Debug, Clone)]
pub struct Status {
    /// `system user ticket`, `OAuth access token`, `bearer token`, `ticket`.
    pub kind: &'static str,
    /// A credential is held: given (a bearer token), or got and not yet refused (one past its
    /// `expires` is kept until SuperOffice answers 401; the page shows `expires` beside it).
    pub signed_in: bool,
    pub expires: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
}

impl SignIn {
    /// Signs in as `auth` says, for `tenant` (the ContextIdentifier).
    pub fn new(auth: &Auth, tenant: &str, client: reqwest::Client) -> SignIn {
        let flow = match auth {
            Auth::Bearer(token) => Flow::Static(fixed(vec![(
                "Authorization",
                Secret::new(format!("Bearer {}", token.expose())),
            )])),
            Auth::Ticket { ticket, app_token } => Flow::Static(fixed(vec![
                (
                    "Authorization",
                    Secret::new(format!("SOTicket {}", ticket.expose())),
                ),
                ("SO-AppToken", app_token.clone()),
            ])),
            Auth::SystemUser(s) => {
                Flow::SystemUser(system_user::Flow::new(s.clone(), tenant, client))
            }
            Auth::OAuth(o) => Flow::OAuth(oauth::Flow::new(o.clone(), client)),
        };
        SignIn {
            flow,
            redactor: Redactor::new(auth.secrets()),
            state: parking_lot::Mutex::new(State::default()),
            exchanging: tokio::sync::Mutex::new(()),
        }
    }

    /// No credential at all: for saved answers read from files.
    pub fn none() -> SignIn {
        SignIn {
            flow: Flow::Static(fixed(Vec::new())),
            redactor: Redactor::default(),
            state: parking_lot::Mutex::new(State::default()),
            exchanging: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether herald gets its credential itself, so that a 401 is worth a new one.
    pub fn renews(&self) -> bool {
        !matches!(self.flow, Flow::Static(_))
    }

    /// The credential to send now: the one held, or a new one.
    pub async fn credential(&self) -> Result<Credential, SignInError> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let _turn = self.exchanging.lock().await;
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        if let Some(e) = self.backing_off() {
            return Err(e);
        }
        let issued = match &self.flow {
            Flow::Static(c) => return Ok(c.clone()),
            Flow::SystemUser(f) => f.exchange().await,
            Flow::OAuth(f) => f.exchange().await,
        };
        match issued {
            Ok(issued) => Ok(self.hold(issued)),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The API answered 401 to `used`: the next call gets a new credential (once, however
    /// many calls were refused with the same one).
    pub fn rejected(&self, used: &Credential) {
        let mut state = self.state.lock();
        if state
            .current
            .as_ref()
            .is_some_and(|(c, _)| c.generation == used.generation)
        {
            tracing::info!("SuperOffice answered 401 to herald's credential: getting a new one");
            state.current = None;
        }
    }

    /// The API root of the credential held, if it names one.
    pub fn api_root(&self) -> Option<String> {
        let state = self.state.lock();
        state.current.as_ref().and_then(|(c, _)| c.api_root.clone())
    }

    pub fn status(&self) -> Status {
        let state = self.state.lock();
        Status {
            kind: self.status_kind(),
            signed_in: matches!(self.flow, Flow::Static(_)) || state.current.is_some(),
            expires: state.current.as_ref().and_then(|(c, _)| c.expires),
            last_error: state.failure.as_ref().map(|f| f.error.to_string()),
        }
    }

    fn fresh(&self) -> Option<Credential> {
        if let Flow::Static(c) = &self.flow {
            return Some(c.clone());
        }
        let state = self.state.lock();
        let (credential, renew_at) = state.current.as_ref()?;
        (Instant::now() < *renew_at).then(|| credential.clone())
    }

    fn backing_off(&self) -> Option<SignInError> {
        let state = self.state.lock();
        let failure = state.failure.as_ref()?;
        (Instant::now() < failure.retry_at).then(|| failure.error.clone())
    }

    fn hold(&self, issued: Issued) -> Credential {
        let mut state = self.state.lock();
        state.generation += 1;
        state.failure = None;
        let credential = Credential {
            headers: Arc::new(issued.headers),
            api_root: issued.api_root,
            expires: jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(issued.lifetime).unwrap_or_default())
                .ok(),
            generation: state.generation,
        };
        let renew_at = Instant::now() + renew_after(issued.lifetime);
        tracing::info!(
            kind = self.status_kind(),
            expires = %credential.expires.map(|t| t.to_string()).unwrap_or_default(),
            "signed in to SuperOffice"
        );
        state.current = Some((credential.clone(), renew_at));
        credential
    }

    fn failed(&self, error: SignInError) -> SignInError {
        let error = redacted(&self.redactor, error);
        let mut state = self.state.lock();
        let streak = state.failure.as_ref().map_or(0, |f| f.streak + 1);
        let pause = Duration::from_secs(1 << streak.min(9)).min(MAX_PAUSE);
        tracing::error!(
            reason = %error,
            retry_in_s = pause.as_secs(),
            "cannot sign in to SuperOffice: enrichment and webhook checks wait for a credential"
        );
        state.failure = Some(Failure {
            error: error.clone(),
            retry_at: Instant::now() + pause,
            streak,
        });
        error
    }

    fn status_kind(&self) -> &'static str {
        match &self.flow {
            Flow::Static(_) => "static credential",
            Flow::SystemUser(_) => "system user ticket",
            Flow::OAuth(_) => "OAuth access token",
        }
    }
}

const MAX_PAUSE: Duration = Duration::from_secs(300);

fn fixed(headers: Vec<(&'static str, Secret<String>)>) -> Credential {
    Credential {
        headers: Arc::new(headers),
        api_root: None,
        expires: None,
        generation: 0,
    }
}

/// When to get a new credential: a fifth of its life early, at most five minutes early, and
/// never sooner than a second from now.
fn renew_after(lifetime: Duration) -> Duration {
    let early = (lifetime / 5).min(Duration::from_secs(300));
    lifetime.saturating_sub(early).max(Duration::from_secs(1))
}

/// The error with every configured secret masked: answers may quote what they were sent.
fn redacted(redactor: &Redactor, error: SignInError) -> SignInError {
    let r = |s: String| redactor.redact(&s);
    match error {
        SignInError::Refused(m) => SignInError::Refused(r(m)),
        SignInError::RefreshRefused(m) => SignInError::RefreshRefused(r(m)),
        SignInError::Status {
            url,
            status,
            excerpt,
        } => SignInError::Status {
            url,
            status,
            excerpt: r(excerpt),
        },
        SignInError::Unreachable { url, reason } => SignInError::Unreachable {
            url,
            reason: r(reason),
        },
        SignInError::Answer { url, reason } => SignInError::Answer {
            url,
            reason: r(reason),
        },
        e @ SignInError::Untrusted(_) => e,
    }
}

/// What SuperOffice said, fit for a log line and a terminal: one line, at most 500 characters.
fn said(text: &str) -> String {
    let cut = crate::text::truncate_chars(text.trim(), 500);
    crate::text::escape_controls(&cut).into_owned()
}

/// Posts to SuperOffice's login service; the status and text of the answer.
async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: String,
) -> Result<(u16, String), SignInError> {
    let response = client
        .post(url)
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .timeout(Duration::from_secs(15))
        .body(body)
        .send()
        .await
        .map_err(|e| SignInError::Unreachable {
            url: url.to_string(),
            reason: crate::http::transport_error(e),
        })?;
    let status = response.status().as_u16();
    let (text, _) = crate::http::read_limited(response, crate::http::PARSED_READ).await;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_renewed_early_but_not_in_a_loop() {
        let s = Duration::from_secs;
        assert_eq!(renew_after(s(6 * 3600)), s(6 * 3600 - 300));
        assert_eq!(renew_after(s(3600)), s(3600 - 300));
        assert_eq!(renew_after(s(10)), s(8));
        assert_eq!(renew_after(Duration::ZERO), s(1));
    }
}
