//! Template helpers: dates with time zones, numbers and money, defaults, case, truncation.
//!
//! Comparisons (`eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `and`, `or`, `not`) and `len` are
//! handlebars' own. Each helper here returns a value, so it also works as a subexpression
//! (`{{#if (gt (len Changes) 3)}}`), and its output is escaped like any other value.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::Value;

use crate::event::time;
use crate::text::truncate_chars;

pub fn register(hb: &mut Handlebars<'static>) {
    hb.register_helper("date", Box::new(Date));
    hb.register_helper("number", Box::new(Number));
    hb.register_helper("money", Box::new(Money));
    hb.register_helper("default", Box::new(Default));
    hb.register_helper("upper", Box::new(Case(true)));
    hb.register_helper("lower", Box::new(Case(false)));
    hb.register_helper("truncate", Box::new(Truncate));
    hb.register_helper("slack_mention", Box::new(super::mention::SlackMention));
}

/// The names templates may call, for telling helpers from variables when checking templates.
pub const NAMES: &[&str] = &[
    "date",
    "number",
    "money",
    "default",
    "upper",
    "lower",
    "truncate",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "and",
    "or",
    "not",
    "len",
    "if",
    "unless",
    "each",
    "with",
    "lookup",
    "log",
    "else",
    "slack_mention",
];

fn fail(helper: &str, message: impl std::fmt::Display) -> RenderError {
    RenderErrorReason::Other(format!("{helper}: {message}")).into()
}

/// The value of parameter `i`, or `None` when it is absent or null.
fn param<'a>(h: &'a Helper<'_>, i: usize) -> Option<&'a Value> {
    h.param(i)
        .filter(|p| !p.is_value_missing())
        .map(|p| p.value())
        .filter(|v| !v.is_null())
}

fn hash_str<'a>(h: &'a Helper<'_>, key: &str) -> Option<&'a str> {
    h.hash_get(key).and_then(|p| p.value().as_str())
}

fn hash_u64(h: &Helper<'_>, key: &str) -> Option<u64> {
    h.hash_get(key).and_then(|p| p.value().as_u64())
}

fn derived<'rc>(v: impl Into<Value>) -> Result<ScopedJson<'rc>, RenderError> {
    Ok(ScopedJson::Derived(v.into()))
}

/// `{{date Timestamp "%Y-%m-%d %H:%M" tz="Europe/Oslo"}}`: strftime format, IANA zone
/// (default UTC). An absent value or SuperOffice's "no date" renders as empty text.
struct Date;

impl HelperDef for Date {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let Some(value) = param(h, 0) else {
            return derived("");
        };
        let format = h
            .param(1)
            .and_then(|p| p.value().as_str())
            .unwrap_or("%Y-%m-%d %H:%M %Z");
        let zone = hash_str(h, "tz").unwrap_or("UTC");
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Some(ts) = time::parse(&text) else {
            return derived("");
        };
        let tz = jiff::tz::TimeZone::get(zone)
            .map_err(|_| fail("date", format!("unknown time zone {zone:?}")))?;
        let zoned = ts.to_zoned_datetime(tz);
        let mut out = String::new();
        jiff::fmt::strtime::BrokenDownTime::from(&zoned)
            .format(format, &mut out)
            .map_err(|e| fail("date", format!("bad format {format:?}: {e}")))?;
        derived(out)
    }
}

/// Groups the integer part in threes: `1234567.891` with 2 decimals is `1,234,567.89`.
pub fn format_number(n: f64, decimals: usize, thousands: &str, point: &str) -> String {
    let fixed = format!("{:.*}", decimals, n.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push_str(thousands);
        }
        grouped.push(c);
    }
    let sign = if n < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}{point}{frac}")
    }
}

fn number_param(h: &Helper<'_>, helper: &str) -> Result<Option<f64>, RenderError> {
    match param(h, 0) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| fail(helper, format!("{s:?} is not a number"))),
        Some(other) => Err(fail(helper, format!("{other} is not a number"))),
    }
}

/// `{{number Amount decimals=0 sep="," point="."}}`.
struct Number;

impl HelperDef for Number {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let Some(n) = number_param(h, "number")? else {
            return derived("");
        };
        let decimals = hash_u64(h, "decimals").unwrap_or(0) as usize;
        let sep = hash_str(h, "sep").unwrap_or(",");
        let point = hash_str(h, "point").unwrap_or(".");
        derived(format_number(n, decimals.min(10), sep, point))
    }
}

/// `{{money Amount currency="NOK"}}` is `120,000.00 NOK`; `decimals`, `sep`, `point` as for
/// `number`.
struct Money;

impl HelperDef for Money {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let Some(n) = number_param(h, "money")? else {
            return derived("");
        };
        let decimals = hash_u64(h, "decimals").unwrap_or(2) as usize;
        let sep = hash_str(h, "sep").unwrap_or(",");
        let point = hash_str(h, "point").unwrap_or(".");
        let amount = format_number(n, decimals.min(10), sep, point);
        match hash_str(h, "currency").filter(|c| !c.is_empty()) {
            Some(c) => derived(format!("{amount} {c}")),
            None => derived(amount),
        }
    }
}

/// `{{default WebhookName "unnamed"}}`: the value unless it is absent, null or empty text.
struct Default;

impl HelperDef for Default {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let fallback = h.param(1).map(|p| p.value().clone()).unwrap_or(Value::Null);
        match param(h, 0) {
            Some(Value::String(s)) if s.is_empty() => derived(fallback),
            Some(v) => derived(v.clone()),
            None => derived(fallback),
        }
    }
}

struct Case(bool);

impl HelperDef for Case {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let text = match param(h, 0) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        derived(if self.0 {
            text.to_uppercase()
        } else {
            text.to_lowercase()
        })
    }
}

/// `{{truncate Text 100}}`: at most 100 characters, the last one an ellipsis when cut.
struct Truncate;

impl HelperDef for Truncate {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let text = match param(h, 0) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let max = h
            .param(1)
            .and_then(|p| p.value().as_u64())
            .ok_or_else(|| fail("truncate", "the second parameter must be a length"))?;
        derived(truncate_chars(&text, max as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, data: Value) -> String {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        register(&mut hb);
        hb.render_template(template, &data).unwrap()
    }

    #[test]
    fn helpers_format_values() {
        let data = json!({"t": "2018-04-24T08:13:02.8352175Z", "n": 1234567.891, "s": "Hello",
                          "none": "0001-01-01T00:00:00", "neg": -1500, "empty": ""});
        let cases = [
            (
                "{{date t \"%Y-%m-%d %H:%M\" tz=\"Europe/Oslo\"}}",
                "2018-04-24 10:13",
            ),
            ("{{date t \"%d.%m.%Y\"}}", "24.04.2018"),
            ("{{date none}}", ""),
            ("{{date missing}}", ""),
            ("{{number n}}", "1,234,568"),
            (
                "{{number n decimals=2 sep=\" \" point=\",\"}}",
                "1 234 567,89",
            ),
            ("{{money n currency=\"NOK\"}}", "1,234,567.89 NOK"),
            ("{{money neg}}", "-1,500.00"),
            ("{{default missing \"n/a\"}}", "n/a"),
            ("{{default empty \"n/a\"}}", "n/a"),
            ("{{default s \"n/a\"}}", "Hello"),
            ("{{upper s}} {{lower s}}", "HELLO hello"),
            ("{{truncate s 3}}", "He…"),
            ("{{#if (gt n 1000)}}big{{/if}}", "big"),
            ("{{#if (eq (upper s) \"HELLO\")}}yes{{/if}}", "yes"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, data.clone()), expected, "{template}");
        }
    }
}
