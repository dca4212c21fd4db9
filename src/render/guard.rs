//! herald's own limits on templates, checked before the handlebars parser sees them, so that no
//! template `herald check` accepts can crash the service or never render:
//!
//! - a template string is at most [`MAX_TEMPLATE_BYTES`];
//! - blocks (`{{#if}}`, `{{#each}}`…) and subexpressions (`(not (eq …))`) nest at most
//!   [`MAX_NESTING`] deep: the parser and the renderer recurse once per level, and handlebars
//!   compiles deep nesting in quadratic time;
//! - partials are inline partials defined in the same template (`{{#*inline "name"}}`), never
//!   recursive, chained at most [`MAX_PARTIAL_CHAIN`] deep; a partial by any other name would
//!   be missing at render time, or worse, name one of herald's internal templates.
//!
//! With these, rendering recurses a bounded number of times, whatever the data.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::Template;
use handlebars::template::{DecoratorTemplate, Parameter, TemplateElement};

use super::Problem;
use crate::config::yaml::Pos;

pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
pub const MAX_NESTING: usize = 16;
pub const MAX_PARTIAL_CHAIN: usize = 4;

/// Size and nesting, from the text alone.
pub fn prescan(source: &str) -> Result<(), Problem> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(Problem {
            pos: Pos { line: 1, column: 1 },
            message: format!(
                "template is {} bytes, more than the {MAX_TEMPLATE_BYTES} herald takes",
                source.len()
            ),
        });
    }
    let mut blocks = 0usize;
    let mut at = 0usize;
    while let Some(found) = source[at..].find("{{") {
        let start = at + found;
        if start > 0 && source.as_bytes()[start - 1] == b'\\' {
            at = start + 2;
            continue;
        }
        let (tag, end) = tag_at(source, start);
        let kind = tag
            .trim_start_matches('{')
            .trim_start_matches('~')
            .trim_start();
        if kind.starts_with('!') {
            at = end;
            continue;
        }
        match kind.chars().next() {
            Some('#') => blocks += 1,
            Some('^') if kind.len() > 1 && !kind[1..].trim_start().starts_with('}') => blocks += 1,
            Some('/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        let parens = paren_depth(tag);
        if blocks > MAX_NESTING || parens > MAX_NESTING {
            return Err(Problem {
                pos: position(source, start),
                message: format!(
                    "template nests blocks or subexpressions more than {MAX_NESTING} deep"
                ),
            });
        }
        at = end;
    }
    Ok(())
}

/// The tag starting at `start` (at `{{`) and the index just past it. Comments run to `--}}`.
fn tag_at(source: &str, start: usize) -> (&str, usize) {
    let rest = &source[start..];
    let close = if rest.starts_with("{{!--") || rest.starts_with("{{~!--") {
        rest.find("--}}").map(|i| i + 4)
    } else {
        rest.find("}}").map(|i| i + 2)
    };
    let end = close.map_or(source.len(), |c| start + c);
    (&source[start..end], end)
}

/// The deepest nesting of parentheses in a tag, outside string literals.
fn paren_depth(tag: &str) -> usize {
    let (mut depth, mut deepest, mut quote) = (0usize, 0usize, None);
    for c in tag.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn position(source: &str, index: usize) -> Pos {
    let before = &source[..index];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(index, |nl| index - nl - 1) + 1;
    Pos {
        line: line as u64,
        column: column as u64,
    }
}

/// Partials and decorators in a compiled template: only inline partials it defines, no
/// recursion, a bounded chain.
pub fn partials(template: &Template) -> Vec<Problem> {
    let mut found = Found::default();
    found.walk(template, None);
    let mut problems = std::mem::take(&mut found.problems);
    for (name, pos) in &found.uses {
        if !found.inline.contains_key(name.as_str()) {
            problems.push(Problem {
                pos: *pos,
                message: format!(
                    "template uses partial `{name}`, which it does not define: herald knows only inline partials, {{{{#*inline \"{name}\"}}}}…{{{{/inline}}}} in the same template"
                ),
            });
        }
    }
    for name in found.inline.keys() {
        let mut path = vec![name.clone()];
        if let Some(problem) = found.chain(&mut path) {
            problems.push(problem);
            break;
        }
    }
    problems
}

#[derive(Default)]
struct Found {
    /// Inline partials defined: name → where, and the partials its body uses.
    inline: BTreeMap<String, (Pos, BTreeSet<String>)>,
    /// Partials used anywhere: name → the first place.
    uses: BTreeMap<String, Pos>,
    problems: Vec<Problem>,
}

impl Found {
    fn walk(&mut self, template: &Template, inside: Option<&str>) {
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
                TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                    self.partial(d, pos, inside)
                }
                TemplateElement::DecoratorBlock(d) | TemplateElement::DecoratorExpression(d) => {
                    self.decorator(d, pos)
                }
                TemplateElement::HelperBlock(h) => {
                    for inner in [&h.template, &h.inverse].into_iter().flatten() {
                        self.walk(inner, inside);
                    }
                }
                _ => {}
            }
        }
    }

    fn partial(&mut self, d: &DecoratorTemplate, pos: Pos, inside: Option<&str>) {
        let Some(name) = literal_name(&d.name) else {
            self.problems.push(Problem {
                pos,
                message: "template computes a partial's name: herald takes only inline partials named in the template".into(),
            });
            return;
        };
        self.uses.entry(name.clone()).or_insert(pos);
        if let Some(owner) = inside
            && let Some((_, used)) = self.inline.get_mut(owner)
        {
            used.insert(name);
        }
        if let Some(block) = &d.template {
            self.walk(block, inside);
        }
    }

    fn decorator(&mut self, d: &DecoratorTemplate, pos: Pos) {
        let is_inline = literal_name(&d.name).as_deref() == Some("inline");
        let name = d.params.first().and_then(literal_name);
        match (is_inline, name, &d.template) {
            (true, Some(name), Some(body)) => {
                self.inline.insert(name.clone(), (pos, BTreeSet::new()));
                self.walk(body, Some(&name));
            }
            _ => self.problems.push(Problem {
                pos,
                message: "template uses a decorator herald does not take: only {{#*inline \"name\"}}…{{/inline}}".into(),
            }),
        }
    }

    /// A recursive partial or a chain too long, following uses from the last of `path`.
    fn chain(&self, path: &mut Vec<String>) -> Option<Problem> {
        let last = path.last()?.clone();
        let (pos, used) = self.inline.get(&last)?;
        for next in used {
            if path.contains(next) {
                path.push(next.clone());
                return Some(Problem {
                    pos: *pos,
                    message: format!(
                        "partial `{}` includes itself ({}): it would never finish rendering",
                        path[0],
                        path.join(" → ")
                    ),
                });
            }
            path.push(next.clone());
            if path.len() > MAX_PARTIAL_CHAIN {
                return Some(Problem {
                    pos: *pos,
                    message: format!(
                        "partials include each other more than {MAX_PARTIAL_CHAIN} deep ({})",
                        path.join(" → ")
                    ),
                });
            }
            if let Some(p) = self.chain(path) {
                return Some(p);
            }
            path.pop();
        }
        None
    }
}

fn literal_name(p: &Parameter) -> Option<String> {
    match p {
        Parameter::Name(n) => Some(n.clone()),
        Parameter::Literal(serde_json::Value::String(s)) => Some(s.clone()),
        Parameter::Path(handlebars::Path::Relative((_, raw))) => Some(raw.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        "{{#if x}}".repeat(depth) + &"{{/if}}".repeat(depth)
    }

    #[test]
    fn nesting_past_the_limit_is_refused_with_its_position() {
        assert!(prescan(&nested(MAX_NESTING)).is_ok());
        let err = prescan(&format!("line one\n  {}", nested(MAX_NESTING + 1))).unwrap_err();
        assert_eq!(
            (err.pos.line, err.pos.column),
            (2, 3 + 9 * MAX_NESTING as u64)
        );
        let deep_subexpression = format!(
            "{{{{#if {}x{}}}}}y{{{{/if}}}}",
            "(not ".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(prescan(&deep_subexpression).is_err());
        assert!(prescan("{{!-- {{#if}} --}}{{x}} \\{{#if}} ((((((( ").is_ok());
    }

    #[test]
    fn the_deepest_template_allowed_renders_on_a_small_stack() {
        let inner = format!(
            "{}x{}",
            "(not ".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        let source = format!(
            "{}{{{{#if {inner}}}}}deep{{{{/if}}}}{}",
            "{{#if x}}".repeat(MAX_NESTING - 1),
            "{{/if}}".repeat(MAX_NESTING - 1)
        );
        assert!(prescan(&source).is_ok());
        let rendered = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                let mut r = crate::render::Renderer::new();
                let t = r
                    .compile(&source, crate::render::Escape::None, &|_| true)
                    .unwrap();
                let ctx = handlebars::Context::from(serde_json::json!({"x": true}));
                r.render(&t, &ctx).unwrap()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            rendered,
            if MAX_NESTING.is_multiple_of(2) {
                ""
            } else {
                "deep"
            }
        );
    }

    fn partial_problems(source: &str) -> Vec<String> {
        partials(&Template::compile(source).unwrap())
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn only_inline_partials_without_recursion_are_taken() {
        assert!(
            partial_problems(r#"{{#*inline "row"}}<b>{{x}}</b>{{/inline}}{{> row}}"#).is_empty()
        );
        for (source, says) in [
            (
                r#"{{#*inline "me"}}{{> me}}{{/inline}}{{> me}}"#,
                "includes itself",
            ),
            (
                r#"{{#*inline "a"}}{{> b}}{{/inline}}{{#*inline "b"}}{{> a}}{{/inline}}{{> a}}"#,
                "includes itself",
            ),
            ("{{> t2}}", "does not define"),
            ("{{> nope}}", "does not define"),
        ] {
            let found = partial_problems(source);
            assert!(
                found.iter().any(|m| m.contains(says)),
                "{source}: {found:?}"
            );
        }
    }
}
