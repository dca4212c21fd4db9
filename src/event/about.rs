//! What an event is about, in a line people search for: "Quote 1042 · ACME AS · Server
//! upgrade · 120000 NOK". Made from the event's own fields when it arrives (a sale's heading
//! and amount, a contact's name) and again from the data enrichment fetched (a quote's number,
//! customer, heading and total), for the status page's lists and search.

use std::ops::Index;

use serde_json::{Map, Value};

/// The most characters kept.
const MAX_CHARS: usize = 200;

/// An event's fields, or a template context's, read by name (`Null` when absent) without
/// copying them into a [`Value`].
struct Fields<'a>(&'a Map<String, Value>);

impl Index<&str> for Fields<'_> {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.0.get(key).unwrap_or(&NULL)
    }
}

/// The line for an event's fields, or a template context's with enriched data; `None` when
/// nothing beyond its name and id is known.
pub fn about(fields: &Map<String, Value>) -> Option<String> {
    let v = &Fields(fields);
    let event = text(&v["Event"]);
    let entity = super::entity_of(&event);
    let parts: Vec<String> = match entity {
        "quote" => vec![
            number("Quote", &v["version"]["Number"], &v["PrimaryKey"]),
            text(&v["contact"]["Name"]),
            first(&[&v["sale"]["Heading"], &v["alternative"]["Name"]]),
            amount(
                first(&[&v["alternative"]["TotalPrice"], &v["sale"]["Amount"]]),
                &v["sale"]["Currency"],
            ),
        ],
        "sale" => vec![
            number("Sale", &Value::Null, &v["PrimaryKey"]),
            first(&[&v["contact"]["Name"], &v["FieldValues"]["contact_name"]]),
            first(&[&v["sale"]["Heading"], &v["FieldValues"]["heading"]]),
            amount(
                first(&[&v["sale"]["Amount"], &v["FieldValues"]["amount"]]),
                &v["sale"]["Currency"],
            ),
        ],
        "contact" => vec![first(&[&v["contact"]["Name"], &v["FieldValues"]["name"]])],
        "person" => vec![first(&[
            &v["person"]["FullName"],
            &Value::String(person_name(v)),
        ])],
        "herald" => vec![text(&v["message"])],
        _ => Vec::new(),
    };
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return None;
    }
    Some(crate::text::truncate_chars(&parts.join(" · "), MAX_CHARS))
}

/// A string, or a number as written; empty for anything else.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => crate::text::escape_controls(s.trim()).into_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn first(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| text(v))
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

/// "Quote 1042", or with the number people know: "Quote 10023 (id 1042)".
fn number(word: &str, number: &Value, id: &Value) -> String {
    match (text(number), text(id)) {
        (n, id) if n.is_empty() && id.is_empty() => String::new(),
        (n, id) if n.is_empty() || n == id => format!("{word} {id}"),
        (n, id) if id.is_empty() => format!("{word} {n}"),
        (n, id) => format!("{word} {n} (id {id})"),
    }
}

/// An amount as people write it (`5000`, `118500.5`), with its currency: a code, or the API's
/// `{ "Value": "NOK" }`.
fn amount(value: String, currency: &Value) -> String {
    let value = match value.parse::<f64>() {
        Ok(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", n as i64),
        _ => value,
    };
    let currency = match currency {
        Value::Object(o) => o.get("Value").unwrap_or(&Value::Null),
        other => other,
    };
    match (value.is_empty(), text(currency)) {
        (true, _) => String::new(),
        (false, c) if c.is_empty() => value,
        (false, c) => format!("{value} {c}"),
    }
}

fn person_name(v: &Fields<'_>) -> String {
    let f = &v["FieldValues"];
    format!("{} {}", text(&f["firstname"]), text(&f["lastname"]))
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn about(v: Value) -> Option<String> {
        super::about(v.as_object().unwrap())
    }

    #[test]
    fn a_quote_event_is_its_id_until_enriched_then_its_number_customer_and_total() {
        let bare = json!({"Event": "quote.ordered", "PrimaryKey": 1042});
        assert_eq!(about(bare).unwrap(), "Quote 1042");
        let enriched = json!({"Event": "quote.ordered", "PrimaryKey": 1042,
            "version": {"Number": "Q-77"}, "contact": {"Name": "ACME AS"},
            "sale": {"Heading": "Server upgrade", "Amount": 120000, "Currency": {"Id": 1, "Value": "NOK"}},
            "alternative": {"TotalPrice": 118500.5}});
        assert_eq!(
            about(enriched).unwrap(),
            "Quote Q-77 (id 1042) · ACME AS · Server upgrade · 118500.5 NOK"
        );
    }

    #[test]
    fn a_sale_is_described_by_its_own_fields_and_nulls_are_left_out() {
        let sale = json!({"Event": "sale.sold", "PrimaryKey": 9,
            "FieldValues": {"heading": "Licence renewal", "amount": "900", "contact_name": null}});
        assert_eq!(about(sale).unwrap(), "Sale 9 · Licence renewal · 900");
        assert_eq!(about(json!({"Event": "test"})), None);
    }
}
