//! A small client for the SuperOffice REST API: finds the tenant's API root, signs in (through
//! [`SignIn`], which renews what expires: a 401 gets a new credential and the call is made once
//! more), and caches answers for `cache_ttl`. Concurrent requests for the same thing share one
//! call.
//!
//! For `herald simulate --api-responses DIR` the same client reads saved answers from files
//! instead: `DIR/Agents/Quote/GetQuoteEntity/527331.json`, `DIR/Sale/88231.json`. A missing
//! file is "not found".

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod cache;
mod root;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::signin::{Credential, SignIn, SignInError};
use super::wire::TenantState;
use crate::config::superoffice::SuperOfficeSpec;
use crate::http::{Class, classify, transport_error};
use crate::metrics::CacheLabels;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Timeouts, connection errors, 429, 5xx: worth another try later.
    #[error("{0}")]
    Retryable(String),
    /// 401, 403 and other refusals: trying again will not help.
    #[error("{0}")]
    Permanent(String),
    /// 421: the tenant's API root has moved; look it up again.
    #[error("SuperOffice API answered 421: the tenant's API root has moved")]
    Moved,
}

/// One request: an entity by id (`GET Sale/88231`) or an agent method (`POST
/// Agents/Quote/GetQuoteEntity {"QuoteId": 1}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    Get {
        entity: &'static str,
        id: i64,
    },
    Agent {
        method: &'static str,
        arg: &'static str,
        id: i64,
    },
}

impl Call {
    fn path(&self) -> String {
        match self {
            Call::Get { entity, id } => format!("v1/{entity}/{id}"),
            Call::Agent { method, .. } => format!("v1/Agents/Quote/{method}"),
        }
    }

    fn file(&self) -> PathBuf {
        match self {
            Call::Get { entity, id } => PathBuf::from(entity).join(format!("{id}.json")),
            Call::Agent { method, id, .. } => PathBuf::from("Agents/Quote")
                .join(method)
                .join(format!("{id}.json")),
        }
    }
}

type Answer = Result<Option<Value>, ApiError>;

/// A tenant's API root and until when it holds.
type Lookup = Result<(String, Instant), ApiError>;

enum Backend {
    Http(reqwest::Client),
    Files(PathBuf),
}

pub struct Api {
    spec: SuperOfficeSpec,
    backend: Backend,
    signin: SignIn,
    /// Answers by tenant root and call; a failed call is not kept.
    cache: cache::Cache,
    /// API roots by ContextIdentifier, until their `ValidUntil`; concurrent lookups share one.
    roots: Mutex<HashMap<String, Arc<OnceCell<Lookup>>>>,
}

impl Api {
    pub fn new(spec: SuperOfficeSpec, client: reqwest::Client) -> Api {
        let tenant = spec.tenant.as_deref().unwrap_or("Default");
        let signin = SignIn::new(&spec.auth, tenant, client.clone());
        Api::with_backend(spec, Backend::Http(client), signin)
    }

    pub fn from_files(spec: SuperOfficeSpec, dir: PathBuf) -> Api {
        let signin = SignIn::none();
        Api::with_backend(spec, Backend::Files(dir), signin)
    }

    fn with_backend(spec: SuperOfficeSpec, backend: Backend, signin: SignIn) -> Api {
        let cache = cache::Cache::new(spec.cache_ttl, spec.cache_size, Family::default());
        Api {
            spec,
            backend,
            signin,
            cache,
            roots: Mutex::new(HashMap::new()),
        }
    }

    /// The same client, counting its cache's hits, misses and evictions into `counts` (the
    /// service's metrics, which outlive a reload).
    pub fn counting_into(mut self, counts: Family<CacheLabels, Counter>) -> Api {
        self.cache = cache::Cache::new(self.spec.cache_ttl, self.spec.cache_size, counts);
        self
    }

    /// The answer to a call for a tenant: `None` when the thing does not exist.
    pub async fn call(&self, tenant: &str, call: Call) -> Answer {
        let (root, from) = self.root(tenant).await?;
        let answer = self.cached(&root, &call).await;
        if answer == Err(ApiError::Moved) {
            // 421: this tenant lives elsewhere now. Look it up again, once.
            // Only the lookup that gave the stale root is dropped: callers that failed together
            // share the next lookup.
            if let Some(from) = from {
                let mut roots = self.roots.lock().expect("roots lock");
                if roots.get(tenant).is_some_and(|c| Arc::ptr_eq(c, &from)) {
                    roots.remove(tenant);
                }
            }
            let (root, _) = self.root(tenant).await?;
            return self.cached(&root, &call).await;
        }
        answer
    }

    async fn cached(&self, root: &str, call: &Call) -> Answer {
        let key = (root.to_string(), call.clone());
        let cell = self.cache.cell(&key);
        let answer = cell.get_or_init(|| self.send(root, call)).await.clone();
        if answer.is_err() {
            self.cache.forget(&key, &cell);
        }
        answer
    }

    /// How many answers the cache holds now.
    pub fn cached_answers(&self) -> usize {
        self.cache.len()
    }

    async fn send(&self, root: &str, call: &Call) -> Answer {
        let client = match &self.backend {
            Backend::Files(dir) => {
                let file = dir.join(call.file());
                return match crate::text::read_bounded(&file, 4 * 1024 * 1024) {
                    Ok(text) => serde_json::from_str(&text)
                        .map(|v: Value| (!v.is_null()).then_some(v))
                        .map_err(|e| {
                            ApiError::Permanent(format!("{} is not JSON: {e}", file.display()))
                        }),
                    Err(_) => Ok(None),
                };
            }
            Backend::Http(client) => client,
        };
        let url = format!("{root}/{}", call.path());
        let request = || match call {
            Call::Get { .. } => client.get(&url),
            Call::Agent { arg, id, .. } => client
                .post(&url)
                .header("Content-Type", "application/json")
                .body(serde_json::json!({ *arg: id }).to_string()),
        };
        let what = call.path();
        let (status, body) = self.authorized(request, &format!("API {what}")).await?;
        let excerpt = crate::http::excerpt(&body);
        match status {
            200 => match serde_json::from_str::<Value>(&body) {
                Ok(Value::Null) => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(e) => Err(ApiError::Retryable(format!(
                    "SuperOffice API {what}: answer is not JSON: {e}"
                ))),
            },
            204 | 404 => Ok(None),
            421 => Err(ApiError::Moved),
            401 | 403 => Err(ApiError::Permanent(format!(
                "SuperOffice API {what} answered {status}: check the credentials in `superoffice: auth` ({excerpt})"
            ))),
            s => Err(refusal(
                s,
                format!("SuperOffice API {what} answered {status}: {excerpt}"),
            )),
        }
    }

    /// The web client's address, for links back to SuperOffice: `web_url:`, the API root's, or
    /// (with a system user and no `api:`) the ticket's API address without its `/api`.
    pub fn web_url(&self) -> Option<url::Url> {
        if let Some(web) = &self.spec.web_url {
            return Some(web.clone());
        }
        let api = self.signin.api_root()?;
        url::Url::parse(api.strip_suffix("/api").unwrap_or(&api)).ok()
    }

    /// What signing in has come to: the kind of credential, its expiry, the last failure.
    pub fn signin_status(&self) -> super::signin::Status {
        self.signin.status()
    }

    /// The tenant's API root, signing in first when the root comes from the ticket.
    pub async fn api_root(&self, tenant: &str) -> Result<String, ApiError> {
        self.root(tenant).await.map(|(root, _)| root)
    }

    /// Any other request (managing webhooks): `method` on `{root}/{path}` with an optional JSON
    /// body, signed like every call; the status and body as they came. Not cached.
    pub async fn request(
        &self,
        tenant: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), ApiError> {
        let Backend::Http(client) = &self.backend else {
            return Err(ApiError::Permanent(format!(
                "SuperOffice API {path}: not available from saved answers"
            )));
        };
        let (root, _) = self.root(tenant).await?;
        let url = format!("{root}/{path}");
        let request = || {
            let request = client.request(method.clone(), &url);
            match body {
                Some(body) => request
                    .header("Content-Type", "application/json")
                    .body(body.to_string()),
                None => request,
            }
        };
        self.authorized(request, &format!("API {path}")).await
    }

    /// Sends the request with the current credential; when the API answers 401 to a credential
    /// herald got itself, gets a new one and sends it once more.
    async fn authorized(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(u16, String), ApiError> {
        let credential = self.credential().await?;
        let answer = self.exchange(credential.apply(request()), what).await?;
        if answer.0 != 401 || !self.signin.renews() {
            return Ok(answer);
        }
        self.signin.rejected(&credential);
        let credential = self.credential().await?;
        self.exchange(credential.apply(request()), what).await
    }

    async fn credential(&self) -> Result<Credential, ApiError> {
        self.signin.credential().await.map_err(ApiError::from)
    }

    /// Sends a request the way every SuperOffice call goes: JSON, with the timeout. A failure to
    /// get any answer is worth another try; the URL never appears in the reason.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(u16, String), ApiError> {
        let response = request
            .header("Accept", "application/json")
            .timeout(self.spec.timeout)
            .send()
            .await
            .map_err(|e| {
                ApiError::Retryable(format!("SuperOffice {what}: {}", transport_error(e)))
            })?;
        let status = response.status().as_u16();
        let (text, cut) = crate::http::read_limited(response, crate::http::API_READ).await;
        if cut && status == 200 {
            return Err(ApiError::Retryable(format!(
                "SuperOffice {what}: the answer is larger than the {} MiB herald reads",
                crate::http::API_READ / (1024 * 1024)
            )));
        }
        Ok((status, text))
    }
}

impl From<SignInError> for ApiError {
    /// A failed sign-in is worth another try: SuperOffice's login service may be back, or the
    /// credential fixed, by then (`on_enrichment_error` decides what waits).
    fn from(e: SignInError) -> ApiError {
        ApiError::Retryable(format!("cannot sign in to SuperOffice: {e}"))
    }
}

/// An answer that is not the thing asked for, by the one rule for HTTP statuses.
fn refusal(status: u16, reason: String) -> ApiError {
    match classify(status) {
        Class::Retryable => ApiError::Retryable(reason),
        Class::Success | Class::Permanent => ApiError::Permanent(reason),
    }
}
