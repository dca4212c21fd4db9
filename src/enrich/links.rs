//! Links back to SuperOffice's web client for a message: `links.sale`, `links.quote` (the
//! sale's quote tab), `links.contact`, `links.person`. SoProtocol addresses opened in the
//! browser, as SuperOffice documents them (`docs/en/ui/soprotocol/index.md`,
//! `navigation-points.md`): `{web client}/default.aspx?{where}?{what}`, for example
//! `…/Cust12345/default.aspx?sale.main?sale_id=77`.

use serde_json::{Map, Value, json};

use super::{Enricher, as_id};
use crate::event::Event;

impl Enricher {
    /// The links an event's message can have: from the enriched data, or the event's own ids;
    /// `None` without a web client address.
    pub(super) fn links(&self, event: &Event, data: &Map<String, Value>) -> Option<Value> {
        let web = self.api.web_url()?;
        let web = web.as_str().trim_end_matches('/');
        let entity = event.entity();
        let own = |kind: &str| {
            (entity == kind)
                .then(|| event.fields().get("PrimaryKey"))
                .flatten()
        };
        let field = |name: &str| event.fields().get("FieldValues").and_then(|f| f.get(name));
        let id = |found: Option<&Value>| found.and_then(as_id);
        let sale = id(data.get("sale").and_then(|s| s.get("SaleId")))
            .or_else(|| id(data.get("quote").and_then(|q| q.get("SaleId"))))
            .or_else(|| id(own("sale")))
            .or_else(|| id(field("sale_id")));
        let contact = id(data.get("contact").and_then(|c| c.get("ContactId")))
            .or_else(|| id(own("contact")))
            .or_else(|| id(field("contact_id")));
        let person = id(data.get("person").and_then(|p| p.get("PersonId")))
            .or_else(|| id(own("person")))
            .or_else(|| id(field("person_id")));
        let mut links = Map::new();
        let mut add = |name: &str, place: &str, key: &str, id: Option<i64>| {
            if let Some(id) = id {
                links.insert(
                    name.into(),
                    json!(format!("{web}/default.aspx?{place}?{key}={id}")),
                );
            }
        };
        add("sale", "sale.main", "sale_id", sale);
        add(
            "quote",
            "sale.main.quote",
            "sale_id",
            sale.filter(|_| entity == "quote"),
        );
        add("contact", "contact.main", "contact_id", contact);
        add("person", "person.main", "person_id", person);
        (!links.is_empty()).then_some(Value::Object(links))
    }
}
