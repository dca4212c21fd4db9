//! Less noise, nothing lost: `digest:`, `throttle:` and `active_hours:`, on a `notify:` action
//! or on a channel (the default for every action that uses it; the action's own setting wins).
//!
//! - `digest: { window: 10m, key: "{{ContextIdentifier}}", max: 50, first: now }`, or
//!   `digest: { at: ["08:00"], timezone: Europe/Oslo, days: [mon, tue, wed, thu, fri] }`:
//!   collect, then send one message.
//! - `throttle: { key: "{{PrimaryKey}}", at_most: 1, per: 5m }`: past `at_most` messages for a
//!   key in the period, the rest are folded into one digest sent when the period ends.
//! - `active_hours: { timezone: Europe/Oslo, days: [mon, …], from: "08:00", to: "17:00" }` (or a
//!   list): outside, messages are held and sent when the next span opens.

use std::time::Duration;

use jiff::tz::TimeZone;

use super::decode::{Decoder, Entries, get};
use super::diag::did_you_mean;
use super::schedule::{ActiveHours, Clock, Days, END_OF_DAY, Span, Times, parse_clock, show_clock};
use super::yaml::{Kind as NodeKind, Node, Pos};

/// The keys noise control adds to an action or a channel.
pub const KEYS: [&str; 3] = ["digest", "throttle", "active_hours"];

#[derive(Debug, Clone, Default)]
pub struct Noise {
    pub digest: Option<Digest>,
    pub throttle: Option<Throttle>,
    pub active_hours: Option<ActiveHours>,
}

/// A `key:` template, with where it was written for the messages about it.
#[derive(Debug, Clone)]
pub struct KeyTemplate {
    pub source: String,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct Digest {
    pub due: Due,
    /// A template: one digest per distinct value. None: one per action.
    pub key: Option<KeyTemplate>,
    /// Send early once this many are collected.
    pub max: Option<u32>,
    /// `first: now`: the first event of a group goes at once, the rest are digested.
    pub first_now: bool,
}

/// When a digest is sent.
#[derive(Debug, Clone)]
pub enum Due {
    /// This long after the first event of the group.
    Window(Duration),
    /// At the next of these times.
    At(Times),
}

#[derive(Debug, Clone)]
pub struct Throttle {
    /// A template: one budget per distinct value.
    pub key: KeyTemplate,
    pub at_most: u32,
    pub per: Duration,
}

impl Noise {
    /// The action's own settings, each falling back to the channel's.
    pub fn over(self, channel: &Noise) -> Noise {
        let (digest, throttle) = match (&self.digest, &self.throttle) {
            // Either one on the action replaces both of the channel's.
            (None, None) => (channel.digest.clone(), channel.throttle.clone()),
            _ => (self.digest, self.throttle),
        };
        Noise {
            digest,
            throttle,
            active_hours: self.active_hours.or_else(|| channel.active_hours.clone()),
        }
    }

    /// True if messages of this action are shaped as digests (`events`, `count`, `key`,
    /// `window` in their context).
    pub fn digests(&self) -> bool {
        self.digest.is_some() || self.throttle.is_some()
    }

    pub fn is_quiet(&self) -> bool {
        self.digest.is_none() && self.throttle.is_none() && self.active_hours.is_none()
    }
}

/// Reads `digest:`, `throttle:` and `active_hours:` among `entries`; `None` if one is wrong
/// (reported).
pub fn decode(d: &mut Decoder<'_>, entries: &Entries, what: &str) -> Option<Noise> {
    let before = d.sink.items.len();
    let digest = get(entries, "digest").and_then(|n| digest(d, n, what));
    let throttle = get(entries, "throttle").and_then(|n| throttle(d, n, what));
    let active_hours = get(entries, "active_hours").and_then(|n| active_hours(d, n, what));
    if let (Some(_), Some(n)) = (&digest, get(entries, "throttle")) {
        let message = format!("{what}: give `digest` or `throttle`, not both");
        d.sink.error(n.pos, message);
    }
    (d.sink.items.len() == before).then_some(Noise {
        digest,
        throttle,
        active_hours,
    })
}

fn digest(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Digest> {
    let what = format!("{what}: digest");
    let entries = d.map(node, &what)?;
    let keys = ["window", "at", "timezone", "days", "key", "max", "first"];
    d.only_keys(entries, &keys, &what);
    let due = match (get(entries, "window"), get(entries, "at")) {
        (Some(w), None) => Due::Window(d.duration(w, &format!("{what}: window"))?),
        (None, Some(_)) => Due::At(times(d, entries, node, &what)?),
        _ => {
            let message =
                format!("{what} needs `window:` (a duration) or `at:` (times of day), one of them");
            d.sink.error(node.pos, message);
            return None;
        }
    };
    let key = match get(entries, "key") {
        Some(n) => Some(key_template(d, n, &what)?),
        None => None,
    };
    let max = match get(entries, "max") {
        Some(n) => Some(count(d, n, &format!("{what}: max"), 2)?),
        None => None,
    };
    let first_now = match get(entries, "first") {
        Some(n) => first(d, n, &what)?,
        None => false,
    };
    Some(Digest {
        due,
        key,
        max,
        first_now,
    })
}

fn key_template(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<KeyTemplate> {
    let source = d.text(node, &format!("{what}: key"))?;
    Some(KeyTemplate {
        source,
        pos: node.pos,
    })
}

/// `first: now`, the only value it takes.
fn first(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<bool> {
    let value = d.text(node, &format!("{what}: first"))?;
    if value != "now" {
        let message = format!(
            "{what}: first must be `now` (send the first event of a group at once), found {value:?}"
        );
        d.sink.error(node.pos, message);
        return None;
    }
    Some(true)
}

/// `at:`, `timezone:` and `days:` of a scheduled digest.
fn times(d: &mut Decoder<'_>, entries: &Entries, node: &Node, what: &str) -> Option<Times> {
    let at_node = get(entries, "at")?;
    let texts = d.texts(at_node, &format!("{what}: at"));
    if texts.as_ref().is_some_and(Vec::is_empty) {
        let message = format!("{what}: at needs at least one time of day, like [\"08:00\"]");
        d.sink.error(at_node.pos, message);
    }
    let at: Option<Vec<Clock>> = texts
        .filter(|t| !t.is_empty())
        .map(|texts| {
            texts
                .into_iter()
                .map(|(n, t)| clock(d, n, &t, &format!("{what}: at")))
                .collect::<Vec<_>>()
        })
        .and_then(|clocks| clocks.into_iter().collect());
    let (zone, zone_name) = zone(d, entries, node, what);
    let days = days(d, entries, what);
    Some(Times {
        zone: zone?,
        zone_name: zone_name?,
        days: days?,
        at: at?,
    })
}

fn throttle(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Throttle> {
    let what = format!("{what}: throttle");
    let entries = d.map(node, &what)?;
    d.only_keys(entries, &["key", "at_most", "per"], &what);
    let required = |d: &mut Decoder<'_>, key: &str| {
        let n = get(entries, key);
        if n.is_none() {
            let message = format!(
                "{what} needs `{key}:` (key: a template, at_most: a number, per: a duration)"
            );
            d.sink.error(node.pos, message);
        }
        n
    };
    let key = required(d, "key").and_then(|n| key_template(d, n, &what));
    let at_most = required(d, "at_most").and_then(|n| count(d, n, &format!("{what}: at_most"), 1));
    let per = required(d, "per").and_then(|n| d.duration(n, &format!("{what}: per")));
    Some(Throttle {
        key: key?,
        at_most: at_most?,
        per: per?,
    })
}

fn active_hours(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<ActiveHours> {
    let what = format!("{what}: active_hours");
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    if items.is_empty() {
        d.sink.error(node.pos, format!("{what} is empty"));
        return None;
    }
    let spans: Vec<Option<Span>> = items.iter().map(|n| span(d, n, &what, false)).collect();
    Some(ActiveHours {
        spans: spans.into_iter().collect::<Option<_>>()?,
    })
}

/// The `time:` of a condition: a span whose `from` and `to` may be left out (the whole day).
pub fn time_span(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Span> {
    span(d, node, what, true)
}

/// `{ timezone, days, from, to }`; with `whole_day`, `from` and `to` default to the day's
/// start and end.
fn span(d: &mut Decoder<'_>, node: &Node, what: &str, whole_day: bool) -> Option<Span> {
    let entries = d.map(node, what)?;
    d.only_keys(entries, &["timezone", "days", "from", "to"], what);
    let (zone, zone_name) = zone(d, entries, node, what);
    let days = days(d, entries, what);
    let mut next_day = false;
    let mut bound = |key: &str| match get(entries, key) {
        Some(n) => {
            let text = d.text(n, &format!("{what}: {key}"))?;
            let text = match text.trim().strip_suffix("+1") {
                Some(t) if key == "to" => {
                    next_day = true;
                    t.to_string()
                }
                _ => text,
            };
            clock(d, n, &text, &format!("{what}: {key}"))
        }
        None if whole_day => Some(if key == "from" { 0 } else { END_OF_DAY }),
        None => {
            d.sink.error(
                node.pos,
                format!("{what} needs `{key}:` (a time of day, like \"08:00\")"),
            );
            None
        }
    };
    let (from, to) = (bound("from"), bound("to"));
    if let (Some(f), Some(t)) = (from, to)
        && let Err(message) = order(f, t, next_day)
    {
        d.sink.error(node.pos, format!("{what}: {message}"));
        return None;
    }
    Some(Span {
        zone: zone?,
        zone_name: zone_name?,
        days: days?,
        from: from?,
        to: to?,
    })
}

/// A span runs forward from `from` to `to`; past midnight only when `to` says so (`+1`), so a
/// swapped pair is caught rather than taken for a night shift.
fn order(from: Clock, to: Clock, next_day: bool) -> Result<(), Order> {
    let (f, t) = (show_clock(from), show_clock(to));
    match (from.cmp(&to), next_day) {
        (std::cmp::Ordering::Equal, false) => Err(Order::Same),
        (std::cmp::Ordering::Less, false) => Ok(()),
        (std::cmp::Ordering::Greater, true) => Ok(()),
        (std::cmp::Ordering::Greater, false) => Err(Order::Swapped { from: f, to: t }),
        (_, true) => Err(Order::TooLong { from: f, to: t }),
    }
}

/// A span whose `from` and `to` do not make a span of less than a day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Order {
    #[error(
        "from and to are the same time; for the whole day write from: \"00:00\", to: \"24:00\""
    )]
    Same,
    #[error(
        "from {from} is after to {to}: for a span that runs past midnight write to: \"{to}+1\"; for {to} to {from}, swap them"
    )]
    Swapped { from: String, to: String },
    #[error("to {to}+1 is a day or more after from {from}: a span is shorter than a day")]
    TooLong { from: String, to: String },
}

/// `timezone:`, an IANA name, with a suggestion when it is close to one.
fn zone(
    d: &mut Decoder<'_>,
    entries: &Entries,
    node: &Node,
    what: &str,
) -> (Option<TimeZone>, Option<String>) {
    let Some(n) = get(entries, "timezone") else {
        d.sink.error(
            node.pos,
            format!("{what} needs `timezone:`, an IANA name like Europe/Oslo"),
        );
        return (None, None);
    };
    let Some(name) = d.text(n, &format!("{what}: timezone")) else {
        return (None, None);
    };
    match TimeZone::get(&name) {
        Ok(tz) => (Some(tz), Some(name)),
        Err(_) => {
            let known: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
            let message = format!(
                "{what}: unknown time zone `{name}`{}; use an IANA name like Europe/Oslo",
                did_you_mean(&name, known.iter().map(String::as_str))
            );
            d.sink.error(n.pos, message);
            (None, None)
        }
    }
}

/// `days: [mon, …]`; every day when absent.
fn days(d: &mut Decoder<'_>, entries: &Entries, what: &str) -> Option<Days> {
    let Some(n) = get(entries, "days") else {
        return Some(Days::ALL);
    };
    let mut out = Vec::new();
    for (item, name) in d.texts(n, &format!("{what}: days"))? {
        match Days::parse_item(&name) {
            Some(days) => out.extend(days),
            None => {
                let message = format!(
                    "{what}: days: `{name}` is not a day or a range of days; use mon, tue, wed, thu, fri, sat, sun (or monday … sunday), or a range like mon-fri"
                );
                d.sink.error(item.pos, message);
                return None;
            }
        }
    }
    Some(Days::of(out))
}

fn clock(d: &mut Decoder<'_>, node: &Node, text: &str, what: &str) -> Option<u32> {
    let parsed = parse_clock(text);
    if parsed.is_none() {
        let message =
            format!("{what} must be a time of day like \"08:00\" or \"17:30:00\", found {text:?}");
        d.sink.error(node.pos, message);
    }
    parsed
}

fn count(d: &mut Decoder<'_>, node: &Node, what: &str, least: u32) -> Option<u32> {
    let n = match node.kind {
        NodeKind::Int(n) => u32::try_from(n).ok().filter(|n| *n >= least),
        _ => None,
    };
    if n.is_none() {
        let message = format!("{what} must be a whole number of at least {least}");
        d.sink.error(node.pos, message);
    }
    n
}
