//! The events herald's webhook must send: what the rules can match, globs expanded against
//! SuperOffice's event catalog, names written out kept as they are.

use std::collections::BTreeSet;

use crate::event::catalog::{EVENTS, OPEN_PREFIXES, glob_match};
use crate::rules::RuleSet;

/// The event names the rules need, sorted; and the globs that could not be expanded (in
/// namespaces whose names the customer chooses, like `list.*`), which SuperOffice cannot be
/// asked for.
pub fn needed(config: &RuleSet) -> (Vec<String>, Vec<String>) {
    let mut names = BTreeSet::new();
    let mut open = BTreeSet::new();
    // herald's own events come from herald, not from SuperOffice.
    let patterns = config.rules.iter().flat_map(|r| &r.events);
    for pattern in patterns.filter(|p| !crate::event::catalog::is_herald_event(p)) {
        let is_glob = pattern.contains(['*', '?']);
        if !is_glob {
            names.insert(pattern.clone());
        } else if OPEN_PREFIXES.iter().any(|p| pattern.starts_with(p)) {
            open.insert(pattern.clone());
        } else {
            names.extend(
                EVENTS
                    .iter()
                    .filter(|e| expandable(e) && glob_match(pattern, e))
                    .map(|e| e.to_string()),
            );
        }
    }
    names.remove("test");
    (names.into_iter().collect(), open.into_iter().collect())
}

/// SuperOffice sends `test` to every webhook, and its own webhooks' state changes only to a
/// webhook that asks for them by id: a glob like `*` means neither.
fn expandable(event: &str) -> bool {
    event != "test" && !event.starts_with("webhook.")
}

/// What `have` lacks of `want`, and what it has beyond it.
pub fn difference(want: &[String], have: &[String]) -> (Vec<String>, Vec<String>) {
    let missing = want.iter().filter(|e| !have.contains(e)).cloned().collect();
    let extra = have.iter().filter(|e| !want.contains(e)).cloned().collect();
    (missing, extra)
}
