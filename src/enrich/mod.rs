//! Enrichment: SuperOffice events carry only ids, so before rendering herald asks the REST API
//! for what a message needs (the quote, its version and alternative, the sale, the customer,
//! the owner) and adds it to the template context and to rule conditions under `quote`,
//! `version`, `alternative`, `sale`, `contact`, `person`, `owner`, `changed_by`, `lines`, and
//! the people's addresses (`owner.email`...; see `people.rs`).
//!
//! Only what a rule uses is fetched: the names its conditions and templates read decide the
//! calls. `enriched` says whether the data is there (false when enrichment failed or is off).

pub mod api;
mod links;
mod people;
mod quote;
pub mod signin;
pub mod wire;

use serde_json::{Map, Value};

use crate::config::names::{Needs, enriched_for};
use crate::event::Event;
use api::{Api, ApiError, Call};

pub struct Enricher {
    api: Api,
    /// An API's error may quote what it was sent: reasons leave the enricher redacted.
    redactor: crate::secret::Redactor,
}

impl Enricher {
    pub fn new(api: Api, redactor: crate::secret::Redactor) -> Enricher {
        Enricher { api, redactor }
    }

    /// The SuperOffice credential: held or not, until when, the last sign-in error (redacted).
    pub fn signin_status(&self) -> signin::Status {
        let mut status = self.api.signin_status();
        status.last_error = status.last_error.map(|e| self.redactor.redact(&e));
        status
    }

    /// The enriched names an event gets for these needs; errors are redacted.
    pub async fn enrich(
        &self,
        event: &Event,
        needs: &Needs,
    ) -> Result<Map<String, Value>, ApiError> {
        self.fetch(event, needs).await.map_err(|e| match e {
            ApiError::Retryable(r) => ApiError::Retryable(self.redactor.redact(&r)),
            ApiError::Permanent(r) => ApiError::Permanent(self.redactor.redact(&r)),
            ApiError::Moved => ApiError::Moved,
        })
    }

    async fn fetch(&self, event: &Event, needs: &Needs) -> Result<Map<String, Value>, ApiError> {
        let mut out = Map::new();
        let Some(id) = event.fields().get("PrimaryKey").and_then(as_id) else {
            return Ok(out);
        };
        let tenant = event
            .fields()
            .get("ContextIdentifier")
            .and_then(Value::as_str)
            .unwrap_or("Default");
        let entity = event.entity();
        match entity {
            "quote" => self.quote(tenant, id, needs, &mut out).await?,
            "sale" if needs.any(enriched_for("sale")) => {
                if let Some(sale) = self.get(tenant, "Sale", id).await? {
                    add_sale(sale, &mut out);
                }
            }
            "contact" if needs.any(enriched_for("contact")) => {
                if let Some(c) = self.get(tenant, "Contact", id).await? {
                    out.insert("contact".into(), c);
                }
            }
            "person" if needs.any(enriched_for("person")) => {
                if let Some(p) = self.get(tenant, "Person", id).await? {
                    out.insert("person".into(), p);
                }
            }
            _ => {}
        }
        self.people(tenant, event, needs, &mut out).await?;
        Ok(out)
    }

    /// How many SuperOffice answers the client's cache holds now.
    pub fn cached_answers(&self) -> usize {
        self.api.cached_answers()
    }

    pub(crate) async fn get(
        &self,
        tenant: &str,
        entity: &'static str,
        id: i64,
    ) -> Result<Option<Value>, ApiError> {
        self.api.call(tenant, Call::Get { entity, id }).await
    }

    pub(crate) async fn agent(
        &self,
        tenant: &str,
        method: &'static str,
        arg: &'static str,
        id: i64,
    ) -> Result<Option<Value>, ApiError> {
        self.api.call(tenant, Call::Agent { method, arg, id }).await
    }
}

/// The sale, and the customer, contact person and owner it carries.
pub(crate) fn add_sale(sale: Value, out: &mut Map<String, Value>) {
    for (name, key) in [
        ("contact", "Contact"),
        ("person", "Person"),
        ("owner", "Associate"),
    ] {
        if let Some(v) = sale.get(key).filter(|v| v.is_object()) {
            out.insert(name.into(), v.clone());
        }
    }
    out.insert("sale".into(), sale);
}

/// Ids are positive integers, sent as numbers or text.
pub(crate) fn as_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// What filling a context with enriched data came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// The context is ready: enriched, or marked `enriched: false` when that was the choice.
    Done,
    /// The API could not answer now; try again later.
    Retry(String),
    /// The API refused (401, 403...): no retry will help.
    Dead(String),
}

/// Adds what `needs` asks for to the context. `elapsed` is how long this delivery has been
/// trying, for the `retry_for` bound.
pub async fn fill(
    enricher: Option<&Enricher>,
    on_error: Option<crate::config::superoffice::OnError>,
    event: &Event,
    needs: &Needs,
    ctx: &mut crate::render::context::TemplateContext,
    elapsed: std::time::Duration,
) -> Fill {
    use crate::config::superoffice::OnError;
    ctx.insert("enriched", Value::Bool(false));
    let Some(enricher) = enricher.filter(|_| !needs.is_empty()) else {
        return Fill::Done;
    };
    match enricher.enrich(event, needs).await {
        Ok(data) => {
            if let Some(links) = enricher.links(event, &data) {
                ctx.insert("links", links);
            }
            for (k, v) in data {
                ctx.insert(&k, v);
            }
            ctx.insert("enriched", Value::Bool(true));
            Fill::Done
        }
        Err(ApiError::Permanent(reason)) => Fill::Dead(reason),
        Err(e @ (ApiError::Retryable(_) | ApiError::Moved)) => match on_error {
            Some(OnError::Retry(bound)) if elapsed < bound => Fill::Retry(e.to_string()),
            _ => {
                let reason = e.to_string();
                tracing::warn!(event_id = event.id(), reason = %reason, "sending without enriched data");
                ctx.insert("enrichment_error", Value::String(reason));
                Fill::Done
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::superoffice::{ApiRoot, Auth, OnError, SuperOfficeSpec};
    use crate::event::sample;
    use crate::secret::{Redactor, Secret};

    /// `check` renders templates against [`sample::enriched`]: it must be what enrichment
    /// makes of the saved answers herald ships, for the sample quote event.
    #[tokio::test]
    async fn the_check_sample_is_what_enrichment_makes_of_the_saved_answers() {
        let spec = SuperOfficeSpec {
            root: ApiRoot::Fixed("https://example.invalid/api".parse().unwrap()),
            auth: Auth::Bearer(Secret::new("unused".into())),
            timeout: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(1),
            cache_size: 100,
            on_error: OnError::SendWithout,
            web_url: None,
            tenant: None,
            watch: crate::config::superoffice::WatchSpec {
                name: "herald".into(),
                every: Duration::from_secs(300),
                reactivate: false,
                sync_events: false,
            },
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/api");
        let enricher = Enricher::new(Api::from_files(spec, dir), Redactor::new(Vec::new()));
        let mut needs = Needs::default();
        for name in crate::config::names::ENRICHED
            .iter()
            .chain(crate::config::names::EMAILS)
        {
            needs.add(name);
        }
        let got = enricher
            .enrich(&sample::event("quote.ordered"), &needs)
            .await
            .unwrap();
        assert_eq!(got, sample::enriched());
    }
}
