//! JSON bodies (Slack, Teams, webhook) as [`Tree`]s: the structure comes from the template file
//! and only string leaves are templates, so data can never break or extend the JSON; serde
//! encodes the result.
//!
//! Two constructs shape structure, each a mapping in a list. With the key `$each: NAME` it
//! stands for one item per element of the list `NAME` (a digest's `events`), each rendered
//! with that element as its context; with `$if: PATH` it is there only when the value at
//! `PATH` is (not absent, null, false, empty or zero):
//!
//! ```yaml
//! facts:
//!   - $each: events
//!     title: "{{PrimaryKey}}"
//!     value: "{{default contact.Name \"-\"}}"
//! actions:
//!   - $if: links.sale
//!     type: Action.OpenUrl
//!     url: "{{links.sale}}"
//! ```

use handlebars::{Context, RenderError, RenderErrorReason};
use serde_json::Value;

use super::{Escape, Problem, Renderer, Text};
use crate::config::yaml::{Kind as NodeKind, Node, Pos};

/// The key that makes a list item repeat.
pub const EACH: &str = "$each";

/// The key that makes a list item depend on a value.
pub const IF: &str = "$if";

/// A JSON structure whose string leaves are templates.
#[derive(Debug, Clone)]
pub enum Tree {
    Value(Value),
    Text(Text),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
    /// In an array: `item` once per element of the list at the context's top-level `list`.
    Each {
        list: String,
        item: Box<Tree>,
    },
    /// In an array: `item`, when the value at `path` in the context is there.
    When {
        path: Vec<String>,
        item: Box<Tree>,
    },
}

impl Tree {
    pub fn render(&self, renderer: &Renderer, ctx: &Context) -> Result<Value, RenderError> {
        Ok(match self {
            Tree::Value(v) => v.clone(),
            Tree::Text(t) => Value::String(renderer.render(t, ctx)?),
            Tree::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Tree::Each { list, item } => out.extend(each(renderer, ctx, list, item)?),
                        Tree::When { path, item } => {
                            if present(ctx.data(), path) {
                                out.push(item.render(renderer, ctx)?);
                            }
                        }
                        other => out.push(other.render(renderer, ctx)?),
                    }
                }
                Value::Array(out)
            }
            Tree::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), t.render(renderer, ctx)?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
            // Only made as an array's item; anywhere else it would have nothing to repeat in.
            Tree::Each { .. } | Tree::When { .. } => Value::Null,
        })
    }

    /// The value at a top-level key of an object tree.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, t)| t),
            _ => None,
        }
    }
}

/// True when the value at `path` is there: not absent, null, false, empty or zero.
fn present(data: &Value, path: &[String]) -> bool {
    let found = path.iter().try_fold(data, |v, key| v.get(key.as_str()));
    match found {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(_) => true,
    }
}

/// `item` rendered once per element of the list `list`.
fn each(
    renderer: &Renderer,
    ctx: &Context,
    list: &str,
    item: &Tree,
) -> Result<Vec<Value>, RenderError> {
    let Some(Value::Array(elements)) = ctx.data().get(list) else {
        let why = format!("`{EACH}: {list}`: `{list}` is not a list here");
        return Err(RenderErrorReason::Other(why).into());
    };
    elements
        .iter()
        .map(|e| item.render(renderer, &Context::wraps(e)?))
        .collect()
}

impl Renderer {
    /// Compiles a JSON structure whose string leaves are templates.
    pub fn compile_tree(
        &mut self,
        node: &Node,
        escape: Escape,
        known_root: &dyn Fn(&str) -> bool,
    ) -> Result<Tree, Vec<Problem>> {
        let mut problems = Vec::new();
        let tree = self.tree(node, escape, known_root, &mut problems);
        if problems.is_empty() {
            Ok(tree)
        } else {
            Err(problems)
        }
    }

    fn tree(
        &mut self,
        node: &Node,
        escape: Escape,
        known_root: &dyn Fn(&str) -> bool,
        problems: &mut Vec<Problem>,
    ) -> Tree {
        match &node.kind {
            NodeKind::Str(s) if !s.contains("{{") => Tree::Value(Value::String(s.clone())),
            NodeKind::Str(s) => self.leaf(node, s, escape, known_root, problems),
            NodeKind::Seq(items) => Tree::Array(
                items
                    .iter()
                    .map(|n| match (repeated(n), marked(n, IF)) {
                        (Some((list, pos)), _) => {
                            self.each(n, list, pos, escape, known_root, problems)
                        }
                        (None, Some((path, pos))) => {
                            self.when(n, path, pos, escape, known_root, problems)
                        }
                        (None, None) => self.tree(n, escape, known_root, problems),
                    })
                    .collect(),
            ),
            NodeKind::Map(entries) => {
                if let Some((k, _)) = entries.iter().find(|(k, _)| k.name == EACH || k.name == IF) {
                    problems.push(Problem {
                        pos: k.pos,
                        message: format!("`{}` shapes an item of a list: it belongs in a mapping that is a list item", k.name),
                    });
                }
                Tree::Object(
                    entries
                        .iter()
                        .map(|(k, v)| (k.name.clone(), self.tree(v, escape, known_root, problems)))
                        .collect(),
                )
            }
            _ => Tree::Value(node.to_json()),
        }
    }

    /// A list item with `$each: list`: the rest of its mapping, once per element.
    fn each(
        &mut self,
        node: &Node,
        list: &str,
        pos: Pos,
        escape: Escape,
        known_root: &dyn Fn(&str) -> bool,
        problems: &mut Vec<Problem>,
    ) -> Tree {
        if !known_root(list) {
            problems.push(Problem {
                pos,
                message: format!(
                    "`{EACH}: {list}`: there is no list `{list}` here (a digest's is `events`)"
                ),
            });
        }
        let NodeKind::Map(entries) = &node.kind else {
            return Tree::Value(Value::Null);
        };
        let rest: Vec<(String, Tree)> = entries
            .iter()
            .filter(|(k, _)| k.name != EACH)
            .map(|(k, v)| (k.name.clone(), self.tree(v, escape, known_root, problems)))
            .collect();
        Tree::Each {
            list: list.to_string(),
            item: Box::new(Tree::Object(rest)),
        }
    }

    /// A list item with `$if: path`: the rest of its mapping, when the value is there.
    fn when(
        &mut self,
        node: &Node,
        path: &str,
        pos: Pos,
        escape: Escape,
        known_root: &dyn Fn(&str) -> bool,
        problems: &mut Vec<Problem>,
    ) -> Tree {
        let path: Vec<String> = path.split('.').map(str::to_string).collect();
        // An enriched name is absent without enrichment: the item is left out then, so it may
        // read enriched names with or without a `superoffice:` section.
        let enriched = crate::config::names::ENRICHED.contains(&path[0].as_str());
        if path.iter().any(String::is_empty) || !(enriched || known_root(&path[0])) {
            problems.push(Problem {
                pos,
                message: format!("`{IF}: {}`: no such name here", path.join(".")),
            });
        }
        let NodeKind::Map(entries) = &node.kind else {
            return Tree::Value(Value::Null);
        };
        let widened = |r: &str| {
            known_root(r)
                || (enriched
                    && crate::config::names::ENRICHED.contains(&crate::config::names::root_of(r)))
        };
        let rest: Vec<(String, Tree)> = entries
            .iter()
            .filter(|(k, _)| k.name != IF)
            .map(|(k, v)| (k.name.clone(), self.tree(v, escape, &widened, problems)))
            .collect();
        Tree::When {
            path,
            item: Box::new(Tree::Object(rest)),
        }
    }

    /// A string leaf that is a template.
    fn leaf(
        &mut self,
        node: &Node,
        source: &str,
        escape: Escape,
        known_root: &dyn Fn(&str) -> bool,
        problems: &mut Vec<Problem>,
    ) -> Tree {
        match self.compile(source, escape, known_root) {
            Ok(t) => Tree::Text(t),
            Err(found) => {
                // Positions inside a one-line leaf are relative to the leaf's start.
                problems.extend(found.into_iter().map(|p| Problem {
                    pos: Pos {
                        line: node.pos.line + p.pos.line - 1,
                        column: if p.pos.line == 1 {
                            node.pos.column + p.pos.column - 1
                        } else {
                            p.pos.column
                        },
                    },
                    message: p.message,
                }));
                Tree::Value(Value::Null)
            }
        }
    }
}

/// The list a list item repeats over, if it is a mapping with `$each:` (and where that is).
fn repeated(node: &Node) -> Option<(&str, Pos)> {
    marked(node, EACH)
}

/// The value of the `key` (`$each`, `$if`) of a mapping, and where it is.
fn marked<'n>(node: &'n Node, key: &str) -> Option<(&'n str, Pos)> {
    let NodeKind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.name == key)
        .map(|(_, v)| match &v.kind {
            NodeKind::Str(s) => (s.as_str(), v.pos),
            _ => ("", v.pos),
        })
}

#[cfg(test)]
mod tests {
    use handlebars::Context;
    use serde_json::json;

    use crate::render::{Escape, Renderer};

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn each_repeats_a_list_item_per_element_with_it_as_the_context() {
        let mut r = Renderer::new();
        let yaml = "head: \"{{count}}\"\nitems:\n  - first\n  - $each: events\n    id: \"{{PrimaryKey}}\"\n  - last\n";
        let node = crate::config::yaml::parse(yaml).unwrap();
        let tree = r.compile_tree(&node, Escape::None, &any).unwrap();
        let data = json!({"count": 2, "events": [{"PrimaryKey": 1}, {"PrimaryKey": "\"}"}]});
        let out = tree.render(&r, &Context::from(data)).unwrap();
        assert_eq!(
            out,
            json!({"head": "2", "items": ["first", {"id": "1"}, {"id": "\"}"}, "last"]})
        );
    }

    #[test]
    fn each_is_refused_outside_a_list_and_over_an_unknown_name() {
        let mut r = Renderer::new();
        let only_count = |name: &str| name == "count";
        let node =
            crate::config::yaml::parse("a:\n  $each: events\nb:\n  - $each: events\n    x: y\n")
                .unwrap();
        let problems = r
            .compile_tree(&node, Escape::None, &only_count)
            .unwrap_err();
        let messages: Vec<String> = problems
            .iter()
            .map(|p| format!("{}:{} {}", p.pos.line, p.pos.column, p.message))
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].starts_with("2:3 `$each` shapes an item of a list"),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("4:12 `$each: events`: there is no list"),
            "{messages:?}"
        );
    }
}
