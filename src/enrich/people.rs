//! The people an event concerns, with their addresses: the sale's owner (`owner`), its contact
//! person (`person`) and the associate who made the change (`changed_by`, from the event's
//! `ChangedByAssociateId`). An associate's address is its person's: `GET v1/Associate/{id}` →
//! `PersonId` → `GET v1/Person/{id}`, the entry of `Emails` with the lowest `Rank`. Each call
//! is made only when a rule reads what it gives (`owner.email`, `changed_by`...).

use serde_json::{Map, Value};

use super::api::ApiError;
use super::{Enricher, as_id};
use crate::config::names::Needs;
use crate::event::Event;

impl Enricher {
    /// Adds `changed_by`, and `email` to `owner`, `person` and `changed_by`, as `needs` asks.
    pub(super) async fn people(
        &self,
        tenant: &str,
        event: &Event,
        needs: &Needs,
        out: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        if needs.any(&["changed_by", "changed_by.email"])
            && let Some(id) = event.fields().get("ChangedByAssociateId").and_then(as_id)
            && let Some(associate) = self.get(tenant, "Associate", id).await?
        {
            out.insert("changed_by".into(), associate);
        }
        for (name, email) in [("owner", "owner.email"), ("changed_by", "changed_by.email")] {
            if needs.any(&[email]) {
                self.associate_email(tenant, name, out).await?;
            }
        }
        if needs.any(&["person.email"]) {
            self.person_email(tenant, out).await?;
        }
        Ok(())
    }

    /// `out[name].email`: the address of the associate's person (`null` when it has none).
    async fn associate_email(
        &self,
        tenant: &str,
        name: &str,
        out: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(id) = out
            .get(name)
            .and_then(|a| a.get("AssociateId"))
            .and_then(as_id)
        else {
            return Ok(());
        };
        let person_id = match out[name].get("PersonId").and_then(as_id) {
            Some(p) => Some(p),
            None => self
                .get(tenant, "Associate", id)
                .await?
                .and_then(|a| a.get("PersonId").and_then(as_id)),
        };
        let email = match person_id {
            Some(p) => self
                .get(tenant, "Person", p)
                .await?
                .and_then(|p| primary_email(&p)),
            None => None,
        };
        set_email(out, name, email);
        Ok(())
    }

    /// `person.email`: from the person's own `Emails` when the event fetched it whole, else
    /// from `GET v1/Person/{id}`.
    async fn person_email(
        &self,
        tenant: &str,
        out: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(person) = out.get("person") else {
            return Ok(());
        };
        let email = match (person.get("Emails"), person.get("PersonId").and_then(as_id)) {
            (Some(Value::Array(_)), _) => primary_email(person),
            (_, Some(id)) => self
                .get(tenant, "Person", id)
                .await?
                .and_then(|p| primary_email(&p)),
            _ => None,
        };
        set_email(out, "person", email);
        Ok(())
    }
}

fn set_email(out: &mut Map<String, Value>, name: &str, email: Option<String>) {
    if let Some(Value::Object(o)) = out.get_mut(name) {
        o.insert(
            "email".into(),
            email.map(Value::String).unwrap_or(Value::Null),
        );
    }
}

/// A person's address: of `Emails`, the entry with the lowest `Rank` that has a value
/// (entries without a rank come last). SuperOffice may send `null` for any of it.
pub(crate) fn primary_email(person: &Value) -> Option<String> {
    let emails = person.get("Emails")?.as_array()?;
    emails
        .iter()
        .filter_map(|e| {
            let value = e.get("Value")?.as_str()?.trim();
            let rank = e.get("Rank").and_then(Value::as_i64).unwrap_or(i64::MAX);
            (!value.is_empty()).then(|| (rank, value.to_string()))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_lowest_ranked_address_with_a_value_wins_and_nulls_are_no_address() {
        let p = json!({"Emails": [
            {"Value": "second@example.com", "Rank": 2},
            {"Value": null, "Rank": 0},
            {"Value": "  ", "Rank": 0},
            {"Value": "first@example.com", "Rank": 1},
            {"Value": "unranked@example.com", "Rank": null},
        ]});
        assert_eq!(primary_email(&p).as_deref(), Some("first@example.com"));
        assert_eq!(primary_email(&json!({"Emails": null})), None);
        assert_eq!(primary_email(&json!({"Emails": []})), None);
        assert_eq!(primary_email(&json!({})), None);
        let only = json!({"Emails": [{"Value": "u@example.com"}]});
        assert_eq!(primary_email(&only).as_deref(), Some("u@example.com"));
    }
}
