//! A quote event's data: the quote, its active version, the accepted (or likely) alternative
//! and its lines, and the sale with its customer, contact person and owner. Each call is made
//! only if something the rule uses needs it.

use serde_json::{Map, Value};

use super::api::ApiError;
use super::{Enricher, add_sale, as_id};
use crate::config::names::{Needs, enriched_for};

type Found = Result<Option<Value>, ApiError>;

impl Enricher {
    pub(super) async fn quote(
        &self,
        tenant: &str,
        id: i64,
        needs: &Needs,
        out: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        if !needs.any(enriched_for("quote")) {
            return Ok(());
        }
        let (Some(quote), mut version) = self.find_quote(tenant, id).await? else {
            return Ok(());
        };
        if needs.any(&["version", "alternative", "lines"]) && version.is_none() {
            version = self.active_version(tenant, &quote).await?;
        }
        if let Some(v) = &version
            && needs.any(&["alternative", "lines"])
        {
            self.alternative(tenant, &quote, v, needs, out).await?;
        }
        if needs.any(&["sale", "contact", "person", "owner", "links"])
            && let Some(sale_id) = quote.get("SaleId").and_then(as_id)
            && let Some(sale) = self.get(tenant, "Sale", sale_id).await?
        {
            add_sale(sale, out);
        }
        if let Some(v) = version {
            out.insert("version".into(), v);
        }
        out.insert("quote".into(), quote);
        Ok(())
    }

    /// The quote, and the version when that is what the id named. The docs do not say whether
    /// PrimaryKey is the quote or the quote version: try the quote, then read it as a version
    /// and go to its quote.
    async fn find_quote(
        &self,
        tenant: &str,
        id: i64,
    ) -> Result<(Option<Value>, Option<Value>), ApiError> {
        if let Some(q) = self.agent(tenant, "GetQuoteEntity", "QuoteId", id).await? {
            return Ok((Some(q), None));
        }
        let Some(v) = self
            .agent(tenant, "GetQuoteVersion", "QuoteVersionId", id)
            .await?
        else {
            return Ok((None, None));
        };
        let quote = match v.get("QuoteId").and_then(as_id) {
            Some(q) => self.agent(tenant, "GetQuoteEntity", "QuoteId", q).await?,
            None => None,
        };
        Ok((quote, Some(v)))
    }

    async fn active_version(&self, tenant: &str, quote: &Value) -> Found {
        match quote.get("ActiveQuoteVersionId").and_then(as_id) {
            Some(vid) => {
                self.agent(tenant, "GetQuoteVersion", "QuoteVersionId", vid)
                    .await
            }
            None => Ok(None),
        }
    }

    /// The accepted alternative, or the version's likely one (or its first), and its lines.
    async fn alternative(
        &self,
        tenant: &str,
        quote: &Value,
        version: &Value,
        needs: &Needs,
        out: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        let alternatives = match version.get("QuoteVersionId").and_then(as_id) {
            Some(vid) => {
                self.agent(tenant, "GetQuoteAlternatives", "QuoteVersionId", vid)
                    .await?
            }
            None => None,
        };
        let wanted = quote
            .get("AcceptedQuoteAlternativeId")
            .and_then(as_id)
            .or_else(|| version.get("LikelyQuoteAlternativeId").and_then(as_id));
        let list = alternatives
            .and_then(|a| a.as_array().cloned())
            .unwrap_or_default();
        let Some(alt) = list
            .iter()
            .find(|a| a.get("QuoteAlternativeId").and_then(as_id) == wanted)
            .or(list.first())
            .cloned()
        else {
            return Ok(());
        };
        if needs.any(&["lines"])
            && let Some(aid) = alt.get("QuoteAlternativeId").and_then(as_id)
        {
            let lines = self
                .agent(tenant, "GetQuoteLines", "QuoteAlternativeId", aid)
                .await?;
            out.insert("lines".into(), lines.unwrap_or(Value::Array(Vec::new())));
        }
        out.insert("alternative".into(), alt);
        Ok(())
    }
}
