//! The names a template context and a condition can use at the top level, in one place: the
//! event's own fields (their wire names live with the event, [`crate::event::FIELDS`]), the
//! names herald adds, and the names enrichment adds. [`Needs`] is which enriched names a rule
//! or template reads: that decides which SuperOffice API calls are made.

use std::collections::BTreeSet;

/// Names herald adds beside the event's fields. `enriched` is always there: true when
/// SuperOffice data was fetched for the message.
pub const HERALD: &[&str] = &["rule", "received_at", "enriched"];

/// The top-level names enrichment adds. `links` are addresses in SuperOffice's web client
/// (`links.sale`, `links.quote`, `links.contact`, `links.person`).
pub const ENRICHED: &[&str] = &[
    "quote",
    "version",
    "alternative",
    "sale",
    "contact",
    "person",
    "owner",
    "changed_by",
    "lines",
    "links",
    "enriched",
];

/// The people's addresses enrichment can add (`owner.email`, ...): each costs a call or two
/// more (Associate → Person, whose `Emails` of lowest `Rank` wins), so they are fetched only
/// when a template, condition or recipient reads them.
pub const EMAILS: &[&str] = &["owner.email", "person.email", "changed_by.email"];

/// A name's top-level part: `owner` of `owner.email`, `lines` of `lines/0`.
pub fn root_of(path: &str) -> &str {
    path.split(['.', '/', '['])
        .next()
        .unwrap_or(path)
        .trim_matches(['[', ']'])
}

/// The fields herald's own events (`herald.delivery.dead`, …) carry beside an event's: a rule
/// that takes them may use these (see [`crate::event::catalog::herald_fields`]).
pub const HERALD_EVENT_FIELDS: &[&str] = &[
    "message", "channel", "rule", "reason", "attempts", "source", "since", "oldest",
];

/// The names a digest's message adds: the events it holds (each with the context its own
/// message would have), how many, the digest's key, and its window (`window.start`,
/// `window.end`). A single message of an action with `digest:` or `throttle:` has them too.
pub const DIGEST: &[&str] = &["events", "count", "key", "window"];

/// The name a conversation's message adds: `conversation.key`, `conversation.state`,
/// `conversation.steps` (each `event`, `state`, `at`), `conversation.first`.
pub const CONVERSATION: &[&str] = &["conversation"];

/// True if a template or condition may use this top-level name without enrichment.
pub fn is_known_root(name: &str) -> bool {
    crate::event::FIELDS.contains(&name) || HERALD.contains(&name)
}

/// The enriched names an event of this entity (`quote` of `quote.ordered`, …) can get: what
/// enrichment fetches for it, and what a sample of it carries when rules are checked.
pub fn enriched_for(entity: &str) -> &'static [&'static str] {
    match entity {
        "quote" => &[
            "quote",
            "version",
            "alternative",
            "lines",
            "sale",
            "contact",
            "person",
            "owner",
            "changed_by",
            "links",
        ],
        "sale" => &["sale", "contact", "person", "owner", "changed_by", "links"],
        "contact" => &["contact", "changed_by", "links"],
        "person" => &["person", "changed_by", "links"],
        _ => &[],
    }
}

/// True if this top-level name comes from enrichment.
pub fn is_enriched(name: &str) -> bool {
    ENRICHED.contains(&name)
}

/// Which enriched names something uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs(BTreeSet<&'static str>);

impl Needs {
    /// Notes what a name (`owner.email`, `contact.Name`, `quote`) needs fetched.
    pub fn add(&mut self, path: &str) {
        let root = root_of(path);
        if let Some(known) = ENRICHED.iter().find(|r| **r == root) {
            self.0.insert(known);
        }
        let rest = path.trim_start_matches("this.");
        if let Some(email) = EMAILS.iter().find(|e| {
            rest.strip_prefix(**e)
                .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '/']))
        }) {
            self.0.insert(email);
        }
    }

    pub fn union(&self, other: &Needs) -> Needs {
        Needs(self.0.union(&other.0).copied().collect())
    }

    /// True when nothing needs fetching (`enriched` alone is always there).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|r| *r == "enriched")
    }

    /// True if any of these names is needed.
    pub fn any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.0.contains(n))
    }
}
