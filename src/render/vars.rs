//! Finds variables a template uses that no event can have, so `herald check` catches
//! `{{PrimaryKy}}` before an event does.
//!
//! Only the top-level scope is checked: inside `#each` and `#with` the context changes to
//! data whose shape herald cannot know.

use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{Path, Template};

use super::Problem;
use crate::config::yaml::Pos;

pub fn unknown_variables(template: &Template, known_root: &dyn Fn(&str) -> bool) -> Vec<Problem> {
    let mut out = Vec::new();
    walk(template, known_root, &mut out);
    out
}

fn walk(template: &Template, known: &dyn Fn(&str) -> bool, out: &mut Vec<Problem>) {
    for (i, element) in template.elements.iter().enumerate() {
        let pos = template
            .mapping
            .get(i)
            .map(|m| Pos {
                line: m.0 as u64,
                column: m.1 as u64,
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                // `{{name}}` alone is a variable unless a helper has that name.
                if ht.params.is_empty() && ht.hash.is_empty() {
                    if let Some(name) = plain_name(&ht.name) {
                        if !super::helpers::NAMES.contains(&name) {
                            check_root(name, known, pos, out);
                        }
                    } else {
                        check_param(&ht.name, known, pos, out);
                    }
                }
                check_args(ht, known, pos, out);
            }
            TemplateElement::HelperBlock(ht) => walk_block(ht, known, pos, out),
            _ => {}
        }
    }
}

/// A block: `#if` and `#unless` keep the scope, `#if` on an enriched name widens it, `#each
/// events` walks a digest's events in an event's scope; other blocks' insides are data herald
/// cannot know.
fn walk_block(ht: &HelperTemplate, known: &dyn Fn(&str) -> bool, pos: Pos, out: &mut Vec<Problem>) {
    let same_scope = matches!(plain_name(&ht.name), Some("if" | "unless"));
    let guarded = plain_name(&ht.name) == Some("if") && guards_enriched(ht);
    if !guarded {
        check_args(ht, known, pos, out);
    }
    if guarded {
        // `{{#if enriched}}…{{/if}}` (or `{{#if links.sale}}`: any enriched name)
        // reads enriched names safely, with or without a `superoffice:` section;
        // its `{{else}}` does not.
        let widened = |r: &str| {
            known(r) || crate::config::names::ENRICHED.contains(&crate::config::names::root_of(r))
        };
        if let Some(inner) = &ht.template {
            walk(inner, &widened, out);
        }
        if let Some(inverse) = &ht.inverse {
            walk(inverse, known, out);
        }
    } else if same_scope {
        for inner in [&ht.template, &ht.inverse].into_iter().flatten() {
            walk(inner, known, out);
        }
    } else {
        if each_event(ht)
            && let Some(inner) = &ht.template
        {
            // A digest's `{{#each events}}`: each item is an event's own context.
            walk(inner, known, out);
        }
        if let Some(inverse) = &ht.inverse {
            // `{{else}}` of `#each` / `#with` runs in the outer scope.
            walk(inverse, known, out);
        }
    }
}

/// `{{#if NAME}}` where NAME is an enriched name or a path in one: it is absent without
/// enrichment, so the block is skipped.
fn guards_enriched(ht: &HelperTemplate) -> bool {
    match ht.params.as_slice() {
        [Parameter::Path(Path::Relative((_, raw)))] => {
            let root = raw.split(['.', '/']).next().unwrap_or(raw);
            crate::config::names::ENRICHED.contains(&root)
        }
        _ => false,
    }
}

/// `{{#each events}}`: a digest's events, each with the names a single message has.
fn each_event(ht: &HelperTemplate) -> bool {
    plain_name(&ht.name) == Some("each")
        && matches!(ht.params.as_slice(), [Parameter::Path(Path::Relative((_, raw)))] if raw == "events")
}

fn plain_name(p: &Parameter) -> Option<&str> {
    match p {
        Parameter::Name(n) => Some(n.as_str()),
        _ => None,
    }
}

fn check_args(ht: &HelperTemplate, known: &dyn Fn(&str) -> bool, pos: Pos, out: &mut Vec<Problem>) {
    for p in ht.params.iter().chain(ht.hash.values()) {
        check_param(p, known, pos, out);
    }
}

fn check_param(p: &Parameter, known: &dyn Fn(&str) -> bool, pos: Pos, out: &mut Vec<Problem>) {
    match p {
        Parameter::Path(Path::Relative((_, raw))) => check_root(raw, known, pos, out),
        Parameter::Subexpression(sub) => {
            if let Some(params) = sub.params() {
                for inner in params {
                    check_param(inner, known, pos, out);
                }
            }
            if let Some(hash) = sub.hash() {
                for inner in hash.values() {
                    check_param(inner, known, pos, out);
                }
            }
        }
        _ => {}
    }
}

fn check_root(raw: &str, known: &dyn Fn(&str) -> bool, pos: Pos, out: &mut Vec<Problem>) {
    let raw = raw.trim_start_matches("this.").trim_start_matches("./");
    if raw == "this" || raw.starts_with("../") || raw.starts_with('@') || raw.is_empty() {
        return;
    }
    let root = crate::config::names::root_of(raw);
    if !known(raw) {
        let message = if crate::config::names::ENRICHED.contains(&root) {
            format!(
                "template uses `{raw}`, an enriched field: add a `superoffice:` section so herald can fetch it"
            )
        } else if crate::config::names::DIGEST.contains(&root) {
            format!(
                "template uses `{raw}`, a digest's name: it is there when the action (or its channel) has `digest:` or `throttle:`"
            )
        } else if crate::config::names::CONVERSATION.contains(&root) {
            format!("template uses `{raw}`: it is there when the action has `conversation:`")
        } else {
            format!("template uses `{raw}`, but no event has a field `{root}`")
        };
        out.push(Problem { pos, message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(source: &str) -> Vec<String> {
        let t = Template::compile(source).unwrap();
        let known = |r: &str| {
            ["PrimaryKey", "FieldValues", "Changes", "events"]
                .contains(&crate::config::names::root_of(r))
        };
        unknown_variables(&t, &known)
            .into_iter()
            .map(|p| format!("{}:{} {}", p.pos.line, p.pos.column, p.message))
            .collect()
    }

    #[test]
    fn finds_unknown_roots_in_every_position() {
        assert!(
            unknown("{{PrimaryKey}} {{FieldValues.x}} {{#each Changes}}{{this}}{{nope}}{{/each}}")
                .is_empty()
        );
        let found =
            unknown("a\n {{PrimaryKy}} {{#if Nope}}{{Bad}}{{/if}} {{default (upper Sub) \"x\"}}");
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("2:2 template uses `PrimaryKy`"),
            "{found:?}"
        );
    }

    #[test]
    fn a_digests_events_are_checked_as_events() {
        let found = unknown("{{#each events}}{{PrimaryKey}} {{Nope}}{{/each}}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`Nope`"), "{found:?}");
    }

    #[test]
    fn helpers_are_not_variables() {
        assert!(
            unknown("{{#if (gt PrimaryKey 3)}}{{else}}x{{/if}} {{date PrimaryKey}}").is_empty()
        );
    }
}
