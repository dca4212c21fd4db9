//! The REST calls that read and change webhooks, with errors that say what to do.

use reqwest::Method;
use serde_json::Value;

use super::{Usage, Webhook};
use crate::config::superoffice::{ApiRoot, SuperOfficeSpec};
use crate::enrich::api::{Api, ApiError};

/// Why a webhook call failed, in words for the person running herald.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManageError {
    #[error(
        "SuperOffice answered 401 to {0}: it refused the credentials in `superoffice: auth` (check the token, ticket or system user settings there; `herald superoffice whoami` shows what signing in gives)"
    )]
    Credentials(String),
    #[error(
        "SuperOffice answered 403 to {0}: the user behind `superoffice: auth` may not manage webhooks (it needs the administrator's right to webhooks; a system user has it)"
    )]
    Rights(String),
    #[error(
        "SuperOffice answered 403 to {0}: the Webhook agent is restricted. In SuperOffice Online it is \"not available in Online by default. Access must be requested specifically when app is registered\": ask for Webhook agent access for your application in SuperOffice's developer portal, then have the tenant's administrator approve the app again"
    )]
    Restricted(String),
    #[error(
        "SuperOffice would not save the webhook: it saves one only if {url} answers its signed `test` event with 200, and it answered: {detail}. Check that `herald serve` is reachable from the internet over https at that address (the proxy passes POST /webhook, the certificate is valid), and that it runs with the same HERALD_WEBHOOK_SECRET"
    )]
    TestFailed { url: String, detail: String },
    #[error("{0}")]
    Other(String),
}

pub struct Client {
    api: Api,
    tenant: String,
}

impl Client {
    /// A client for the webhooks of the tenant `superoffice:` names.
    pub fn new(spec: &SuperOfficeSpec, http: reqwest::Client) -> Result<Client, ManageError> {
        let tenant = match (&spec.root, &spec.tenant) {
            (_, Some(t)) => t.clone(),
            (ApiRoot::Fixed(_), None) => "Default".to_string(),
            (ApiRoot::Lookup(_) | ApiRoot::FromTicket, None) => {
                return Err(ManageError::Other(
                    "with `tenant_lookup:`, herald needs `superoffice: tenant:` (your ContextIdentifier, like Cust12345) to manage its webhook".into(),
                ));
            }
        };
        Ok(Client {
            api: Api::new(spec.clone(), http),
            tenant,
        })
    }

    pub async fn list(&self) -> Result<Vec<Webhook>, ManageError> {
        let value = self.call(Method::GET, "v1/Webhook", None).await?;
        // A `null` list is empty; a `null` in it is no webhook.
        serde_json::from_value::<Option<Vec<Option<Webhook>>>>(value)
            .map(|list| list.into_iter().flatten().flatten().collect())
            .map_err(|e| ManageError::Other(format!("SuperOffice's list of webhooks: {e}")))
    }

    /// A new definition with SuperOffice's defaults.
    pub async fn defaults(&self) -> Result<Webhook, ManageError> {
        let value = self.call(Method::GET, "v1/Webhook/default", None).await?;
        webhook(value)
    }

    pub async fn create(&self, w: &Webhook) -> Result<Webhook, ManageError> {
        let body = serde_json::to_value(w).unwrap_or_default();
        let value = self
            .save(Method::POST, "v1/Webhook".into(), &body, w)
            .await?;
        webhook(value)
    }

    pub async fn update(&self, w: &Webhook) -> Result<Webhook, ManageError> {
        let body = serde_json::to_value(w).unwrap_or_default();
        let path = format!("v1/Webhook/{}", w.webhook_id);
        let value = self.save(Method::PUT, path, &body, w).await?;
        webhook(value)
    }

    /// The webhook's usage statistics; zeros when the archive has none.
    pub async fn usage(&self, id: i64) -> Result<Usage, ManageError> {
        let path = format!(
            "v1/Archive/dynamic?$select=webhook_usage.total_calls,webhook_usage.total_errors,webhook_usage.consecutive_errors,webhook_usage.last_error&$filter=webhook_usage.webhook_usage_id%20eq%20{id}"
        );
        let value = self.call(Method::GET, &path, None).await?;
        let rows = match &value {
            Value::Array(rows) => rows.clone(),
            v => v["value"].as_array().cloned().unwrap_or_default(),
        };
        Ok(rows.first().map(usage).unwrap_or_default())
    }

    /// POST or PUT a definition: a refusal other than 401/403 is SuperOffice's test event
    /// not being answered 200.
    async fn save(
        &self,
        method: Method,
        path: String,
        body: &Value,
        w: &Webhook,
    ) -> Result<Value, ManageError> {
        match self.call(method, &path, Some(body)).await {
            Err(ManageError::Other(detail)) if detail.starts_with("SuperOffice answered") => {
                Err(ManageError::TestFailed {
                    url: w.target_url.clone(),
                    detail,
                })
            }
            other => other,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ManageError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let (status, text) = self
            .api
            .request(&self.tenant, method, path, body)
            .await
            .map_err(|e| match e {
                ApiError::Moved => ManageError::Other(format!("{what}: {e}")),
                ApiError::Retryable(r) | ApiError::Permanent(r) => ManageError::Other(r),
            })?;
        match status {
            200..=299 => serde_json::from_str(&text)
                .or_else(|_| Ok(Value::Null))
                .map_err(|e: serde_json::Error| ManageError::Other(e.to_string())),
            401 => Err(ManageError::Credentials(what)),
            403 if text.to_ascii_lowercase().contains("restricted") => {
                Err(ManageError::Restricted(what))
            }
            403 => Err(ManageError::Rights(what)),
            s => Err(ManageError::Other(format!(
                "SuperOffice answered {s} to {what}: {}",
                crate::http::excerpt(&text)
            ))),
        }
    }
}

fn webhook(value: Value) -> Result<Webhook, ManageError> {
    serde_json::from_value(value)
        .map_err(|e| ManageError::Other(format!("SuperOffice's webhook definition: {e}")))
}

/// A row of `webhook_usage`, its columns with or without the table's prefix.
fn usage(row: &Value) -> Usage {
    let field = |name: &str| {
        row.get(format!("webhook_usage.{name}"))
            .or_else(|| row.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let number = |name: &str| match field(name) {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    Usage {
        total_calls: number("total_calls"),
        total_errors: number("total_errors"),
        consecutive_errors: number("consecutive_errors"),
        last_error: field("last_error").as_str().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_row_reads_with_every_field_null() {
        let row = serde_json::json!({
            "webhook_usage.total_calls": null, "webhook_usage.total_errors": null,
            "webhook_usage.consecutive_errors": null, "webhook_usage.last_error": null,
            "PrimaryKey": null, "EntityName": null
        });
        assert_eq!(usage(&row), Usage::default());
    }
}
