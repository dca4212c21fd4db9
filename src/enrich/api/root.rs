//! Where a tenant's API is: fixed by `api:`, named by the system user's ticket, or looked up
//! at `{tenant_lookup}/api/state/{ContextIdentifier}` and kept until its `ValidUntil`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::{Api, ApiError, Backend, Lookup, TenantState, refusal};
use crate::config::superoffice::ApiRoot;

impl Api {
    /// The API root for a tenant: fixed, or looked up and kept until its `ValidUntil`.
    pub(super) async fn root(
        &self,
        tenant: &str,
    ) -> Result<(String, Option<Arc<OnceCell<Lookup>>>), ApiError> {
        let lookup = match &self.spec.root {
            ApiRoot::Fixed(url) => {
                return Ok((url.as_str().trim_end_matches('/').to_string(), None));
            }
            ApiRoot::FromTicket => return self.ticket_root().await.map(|root| (root, None)),
            ApiRoot::Lookup(url) => url,
        };
        let client = match &self.backend {
            Backend::Http(client) => client,
            Backend::Files(_) => return Ok((String::new(), None)),
        };
        let cell = {
            let mut roots = self.roots.lock().expect("roots lock");
            let expired = roots.get(tenant).and_then(|c| c.get()).is_some_and(|r| {
                r.as_ref()
                    .map_or(true, |(_, until)| Instant::now() >= *until)
            });
            if expired {
                roots.remove(tenant);
            }
            roots.entry(tenant.to_string()).or_default().clone()
        };
        let found = cell
            .get_or_init(|| self.lookup(client, lookup, tenant))
            .await
            .clone();
        if found.is_err() {
            let mut roots = self.roots.lock().expect("roots lock");
            if roots.get(tenant).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                roots.remove(tenant);
            }
        }
        found.map(|(root, _)| (root, Some(cell)))
    }

    /// Asks SuperOffice where a tenant's API is: `GET {lookup}/api/state/{tenant}`.
    async fn lookup(&self, client: &reqwest::Client, lookup: &url::Url, tenant: &str) -> Lookup {
        let url = state_url(lookup, tenant)?;
        let what = format!("tenant lookup for {tenant}");
        let (status, text) = self.exchange(client.get(url), &what).await?;
        if status != 200 {
            let reason = format!("SuperOffice {what} answered {status}");
            return Err(refusal(status, reason));
        }
        let state: TenantState = serde_json::from_str(&text).map_err(|e| {
            ApiError::Retryable(format!(
                "SuperOffice tenant lookup: answer is not JSON: {e}"
            ))
        })?;
        let root = state.api.trim().trim_end_matches('/').to_string();
        if root.is_empty() {
            return Err(ApiError::Permanent(format!(
                "SuperOffice tenant lookup for {tenant} gave no `Api` (State: {:?})",
                state.state
            )));
        }
        let valid = Some(state.valid_until.as_str())
            .filter(|s| !s.is_empty())
            .and_then(crate::event::time::parse)
            .map(|until| until.duration_since(jiff::Timestamp::now()))
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or(Duration::from_secs(3600));
        Ok((root, Instant::now() + valid))
    }
    /// With a system user and no `api:`: the `webapi_url` of the ticket.
    async fn ticket_root(&self) -> Result<String, ApiError> {
        let credential = self.credential().await?;
        credential.api_root.ok_or_else(|| {
            ApiError::Permanent(
                "SuperOffice's ticket names no API address (`webapi_url`): set `superoffice: api:`"
                    .into(),
            )
        })
    }
}

/// `{lookup}/api/state/{tenant}`, the tenant one path segment (percent-encoded), and only a
/// tenant that looks like a ContextIdentifier (`Cust12345`: letters, digits, `-`, `_`): a
/// webhook's body must not steer herald to another path on the lookup host.
fn state_url(lookup: &url::Url, tenant: &str) -> Result<url::Url, ApiError> {
    let plausible = (1..=64).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        let shown =
            crate::text::escape_controls(&crate::text::truncate_chars(tenant, 80)).into_owned();
        return Err(ApiError::Permanent(format!(
            "the event's ContextIdentifier {shown:?} is not one SuperOffice gives (letters, digits, - and _): no tenant lookup made"
        )));
    }
    let mut url = lookup.clone();
    url.path_segments_mut()
        .map_err(|_| ApiError::Permanent("tenant_lookup is not a base URL".into()))?
        .pop_if_empty()
        .extend(["api", "state", tenant]);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_identifier_is_one_path_segment_or_refused() {
        let lookup: url::Url = "https://online.superoffice.com".parse().unwrap();
        let url = state_url(&lookup, "Cust12345").unwrap();
        assert_eq!(
            url.as_str(),
            "https://online.superoffice.com/api/state/Cust12345"
        );
        for hostile in [
            "../../evil/path?q=1#",
            "Cust1/x",
            "",
            "Cust 1",
            "Cust\u{1b}1",
        ] {
            assert!(state_url(&lookup, hostile).is_err(), "{hostile:?}");
        }
    }
}
