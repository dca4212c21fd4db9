//! What noise control makes of a message about to go: send it now, hold it until working hours
//! open, or put it in a digest (which may still send it now, as the first of its group). A pure
//! decision from the action's settings, the message's context and the time: delivery carries
//! it out against the store; `simulate` describes it.

use jiff::Timestamp;

use crate::config::noise::Due;
use crate::render::context::TemplateContext;
use crate::rules::{Action, RuleSet};

/// What to do with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Now,
    /// Outside working hours: until they open.
    Hold {
        until: Timestamp,
        zone: String,
    },
    /// Into the digest for `key`; if a new one opens, it is due at `due`, its first `immediate`
    /// messages go at once, and it is due early once it holds `max`.
    Digest {
        key: String,
        due: Timestamp,
        immediate: u32,
        max: Option<u32>,
        /// The time zone to show `due` in: the digest's `at:` one, or the working hours'.
        zone: String,
    },
}

/// Why a message's digest or conversation key cannot be had for this event.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot render the {what}'s key")]
    Render {
        what: &'static str,
        #[source]
        source: handlebars::RenderError,
    },
    #[error("the conversation's key is empty for this event")]
    Empty,
}

/// The plan for a message of `action` with context `ctx`, at `now`.
pub fn plan(
    config: &RuleSet,
    action: &Action,
    ctx: &TemplateContext,
    now: Timestamp,
) -> Result<Plan, KeyError> {
    let noise = &action.noise;
    let hours = noise.active_hours.as_ref();
    let closed = hours.is_some_and(|h| !h.is_open(now));
    // A due time outside working hours moves to when they open.
    let within_hours = |t: Timestamp| hours.and_then(|h| h.next_open(t)).unwrap_or(t);
    let mut zone = hours
        .and_then(|h| h.spans.first())
        .map(|s| s.zone_name.clone())
        .unwrap_or_default();
    let (nominal, first, max) = match (&noise.digest, &noise.throttle) {
        (Some(d), _) => {
            let due = match &d.due {
                Due::Window(w) => now + *w,
                Due::At(times) => {
                    zone = times.zone_name.clone();
                    times.next(now).unwrap_or(now)
                }
            };
            (due, u32::from(d.first_now), d.max)
        }
        (None, Some(t)) => (now + t.per, t.at_most, None),
        (None, None) if closed => {
            let until = within_hours(now);
            return Ok(Plan::Hold { until, zone });
        }
        (None, None) => return Ok(Plan::Now),
    };
    let key = match &action.key {
        Some(text) => config
            .renderer
            .render(text, &ctx.to_handlebars())
            .map_err(|source| KeyError::Render {
                what: "digest",
                source,
            })?,
        None => String::new(),
    };
    Ok(Plan::Digest {
        key,
        due: within_hours(nominal),
        // Outside working hours nothing goes at once: it waits in the digest.
        immediate: if closed { 0 } else { first },
        max,
        zone,
    })
}

/// The context one event's message is rendered with: its own, or for an action with `digest:`
/// or `throttle:` a digest of that one event (so one template serves both), collected from
/// `start` to `end`.
pub fn single(
    action: &Action,
    ctx: TemplateContext,
    key: &str,
    start: Timestamp,
    end: Timestamp,
) -> TemplateContext {
    if !action.noise.digests() {
        return ctx;
    }
    TemplateContext::digest(std::slice::from_ref(&ctx), key, start, end).unwrap_or(ctx)
}

/// The plan in a sentence, for `simulate` (assuming no digest is open yet for the key).
pub fn describe(plan: &Plan) -> String {
    let show = |t: &Timestamp, zone: &str| {
        let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let zone = if zone.is_empty() { "UTC" } else { zone };
        format!(
            "{} {zone}",
            t.to_zoned_datetime(tz).strftime("%Y-%m-%d %H:%M")
        )
    };
    match plan {
        Plan::Now => "sent at once".into(),
        Plan::Hold { until, zone } => format!("held until {} (active_hours)", show(until, zone)),
        Plan::Digest {
            key,
            due,
            immediate,
            max,
            zone,
        } => {
            let due = show(due, zone);
            if *immediate > 0 {
                let of_key = if key.is_empty() {
                    String::new()
                } else {
                    format!(" for key {key}")
                };
                let sooner = max.map_or(String::new(), |m| {
                    format!(", sooner once {m} are collected")
                });
                format!(
                    "sent at once; later ones{of_key} are collected until {due} and sent as one digest{sooner}"
                )
            } else {
                let digest = if key.is_empty() {
                    "digest".to_string()
                } else {
                    format!("digest key {key}")
                };
                let early = max.map_or(String::new(), |m| {
                    format!(" unless {} more arrive first", m.saturating_sub(1))
                });
                format!("{digest}, sent at {due}{early}")
            }
        }
    }
}
