//! The event names SuperOffice sends, for validating `events:` patterns in rules.
//!
//! From SuperOffice's webhook documentation. Lists (`list.<name>.*`), extra tables
//! (`y_<table>.*`) and custom events have names that cannot be known in advance; patterns in
//! those namespaces are accepted as written.

/// Every documented event name.
pub const EVENTS: &[&str] = &[
    "activity.created",
    "activity.changed",
    "activity.deleted",
    "associate.created",
    "associate.changed",
    "associate.deleted",
    "chatsession.created",
    "chatsession.changed",
    "chatsession.message",
    "contact.created",
    "contact.changed",
    "contact.deleted",
    "contact.softdeleted",
    "document.created",
    "document.changed",
    "document.deleted",
    "document.edited",
    "person.created",
    "person.changed",
    "person.deleted",
    "person.softdeleted",
    "person.consented",
    "person.unconsented",
    "project.created",
    "project.changed",
    "project.deleted",
    "projectmember.created",
    "projectmember.changed",
    "projectmember.deleted",
    "quote.approved",
    "quote.rejected",
    "quote.sent",
    "quote.ordered",
    "relation.created",
    "relation.changed",
    "relation.deleted",
    "sale.created",
    "sale.changed",
    "sale.deleted",
    "sale.sold",
    "sale.lost",
    "sale.completed",
    "salestakeholder.created",
    "salestakeholder.changed",
    "salestakeholder.deleted",
    "ticket.created",
    "ticket.changed",
    "webhook.started",
    "webhook.stopped",
    "webhook.errors",
    "test",
];

/// herald's own events, raised by herald about itself and routed by ordinary rules. Only a
/// pattern that names them (`herald.*`, `herald.delivery.dead`) matches them: a glob like `*`
/// means SuperOffice's events.
pub const HERALD_EVENTS: &[&str] = &[
    "herald.delivery.dead",
    "herald.channel.failing",
    "herald.channel.recovered",
    "herald.backlog.behind",
    "herald.superoffice.stopped",
];

/// What herald's own events' names start with.
pub const HERALD_PREFIX: &str = "herald.";

/// True for the name of one of herald's own events (or one claiming to be).
pub fn is_herald_event(name: &str) -> bool {
    name.starts_with(HERALD_PREFIX)
}

/// The fields each of herald's own events carries at its top level, beside `Event`,
/// `EventId`, `Timestamp` and `message` (the whole sentence).
pub fn herald_fields(name: &str) -> &'static [&'static str] {
    match name {
        "herald.delivery.dead" => &["channel", "rule", "reason", "attempts", "source"],
        "herald.channel.failing" => &["channel", "since", "reason"],
        "herald.channel.recovered" => &["channel", "since"],
        "herald.backlog.behind" => &["channel", "oldest"],
        "herald.superoffice.stopped" => &["WebhookName", "FieldValues"],
        _ => &[],
    }
}

/// Whether a rule's `events:` pattern takes an event: as a glob, except that herald's own
/// events are taken only by patterns that start with `herald.`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    if is_herald_event(name) && !pattern.starts_with(HERALD_PREFIX) {
        return false;
    }
    glob_match(pattern, name)
}

/// Namespaces whose event names are chosen by the customer.
pub const OPEN_PREFIXES: &[&str] = &["list.", "y_", "custom."];

/// True if a pattern (a name or a glob) can match some event SuperOffice sends.
pub fn is_known_pattern(pattern: &str) -> bool {
    if OPEN_PREFIXES.iter().any(|p| pattern.starts_with(p)) {
        return true;
    }
    EVENTS
        .iter()
        .chain(HERALD_EVENTS)
        .any(|e| pattern_matches(pattern, e))
}

/// `*` matches any run of characters, `?` one character; everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point: linear for the patterns rules use.
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heralds_own_events_are_matched_only_by_patterns_that_name_them() {
        assert!(pattern_matches("herald.*", "herald.delivery.dead"));
        assert!(pattern_matches(
            "herald.channel.*",
            "herald.channel.failing"
        ));
        assert!(!pattern_matches("*", "herald.delivery.dead"));
        assert!(!pattern_matches("*.dead", "herald.delivery.dead"));
        assert!(is_known_pattern("herald.*"));
        assert!(!is_known_pattern("herald.nothing"));
    }

    #[test]
    fn globs_match_like_shell_patterns() {
        let cases = [
            ("quote.*", "quote.ordered", true),
            ("quote.*", "sale.sold", false),
            ("*", "test", true),
            ("*.deleted", "contact.deleted", true),
            ("quote.?ent", "quote.sent", true),
            ("quote.ordered", "quote.ordered", true),
            ("quote.order", "quote.ordered", false),
        ];
        for (p, n, expected) in cases {
            assert_eq!(glob_match(p, n), expected, "{p} vs {n}");
        }
    }

    #[test]
    fn knows_documented_and_open_namespaces() {
        assert!(is_known_pattern("quote.*"));
        assert!(is_known_pattern("list.category.created"));
        assert!(!is_known_pattern("quote.order"));
        assert!(!is_known_pattern("qoute.*"));
    }
}
