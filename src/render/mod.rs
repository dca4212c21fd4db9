//! Templates and per-destination escaping.
//!
//! Every template string is compiled once, at load, into one of three handlebars registries
//! that differ only in how substituted values are escaped: HTML for email HTML, `&<>` for Slack
//! mrkdwn, nothing for plain text. JSON bodies (Slack, Teams, webhook) are [`Tree`]s: the
//! structure comes from the template file and only string leaves are templates, so data can
//! never break or extend the JSON; serde encodes the result (see `tree.rs`).

pub mod context;
mod folder;
pub mod guard;
pub mod helpers;
pub mod limits;
pub mod lint;
pub mod mail;
pub mod mention;
pub mod message;
pub mod recipients;
mod tree;
pub mod vars;

pub use tree::Tree;

use handlebars::{Context, Handlebars, RenderError, Template};

use crate::config::yaml::Pos;

/// How substituted values are escaped: this belongs to the destination, not the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Plain text (email text and subject, Teams cards, webhook JSON): nothing.
    None,
    /// Email HTML.
    Html,
    /// Slack mrkdwn: `&`, `<`, `>`; this also defuses `<!channel>` and `<@U123>`.
    Mrkdwn,
}

pub fn escape_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A compiled template string.
#[derive(Debug, Clone)]
pub struct Text {
    kind: TextKind,
}

#[derive(Debug, Clone)]
enum TextKind {
    /// No `{{` in it: used as written.
    Literal(String),
    Compiled {
        id: String,
        escape: Escape,
    },
}

/// A template failed to compile, or uses a variable no event can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line and column inside the template text (1-based).
    pub pos: Pos,
    pub message: String,
}

/// handlebars lists every token it expected; say what usually causes it instead.
fn describe(reason: &handlebars::TemplateErrorReason) -> String {
    let text = reason.to_string();
    if text.contains("expected escape, expression") {
        "invalid handlebars syntax: look for an unclosed `{{#block}}`, a stray `{{` or `}}`".into()
    } else {
        text
    }
}

/// The three registries, filled at load and read-only afterwards.
pub struct Renderer {
    plain: Handlebars<'static>,
    html: Handlebars<'static>,
    mrkdwn: Handlebars<'static>,
    count: usize,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Renderer({} templates)", self.count)
    }
}

impl Renderer {
    pub fn new() -> Self {
        fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
            let mut hb = Handlebars::new();
            hb.set_strict_mode(true);
            hb.register_escape_fn(escape);
            helpers::register(&mut hb);
            hb
        }
        Renderer {
            plain: registry(handlebars::no_escape),
            html: registry(handlebars::html_escape),
            mrkdwn: registry(escape_mrkdwn),
            count: 0,
        }
    }

    fn registry(&self, escape: Escape) -> &Handlebars<'static> {
        match escape {
            Escape::None => &self.plain,
            Escape::Html => &self.html,
            Escape::Mrkdwn => &self.mrkdwn,
        }
    }

    /// Compiles one template string. `known_root` says which top-level names exist in the
    /// context; a variable outside them is a problem.
    pub fn compile(
        &mut self,
        source: &str,
        escape: Escape,
        known_root: &dyn Fn(&str) -> bool,
    ) -> Result<Text, Vec<Problem>> {
        if !source.contains("{{") {
            return Ok(Text {
                kind: TextKind::Literal(source.to_string()),
            });
        }
        guard::prescan(source).map_err(|p| vec![p])?;
        let template = Template::compile(source).map_err(|e| {
            let (line, column) = e.pos().unwrap_or((1, 1));
            vec![Problem {
                pos: Pos {
                    line: line as u64,
                    column: column as u64,
                },
                message: format!("template does not compile: {}", describe(e.reason())),
            }]
        })?;
        let mut problems = guard::partials(&template);
        problems.extend(vars::unknown_variables(&template, known_root));
        if !problems.is_empty() {
            return Err(problems);
        }
        self.count += 1;
        let id = format!("t{}", self.count);
        let registry = match escape {
            Escape::None => &mut self.plain,
            Escape::Html => &mut self.html,
            Escape::Mrkdwn => &mut self.mrkdwn,
        };
        registry.register_template(&id, template);
        Ok(Text {
            kind: TextKind::Compiled { id, escape },
        })
    }

    pub fn render(&self, text: &Text, ctx: &Context) -> Result<String, RenderError> {
        match &text.kind {
            TextKind::Literal(s) => Ok(s.clone()),
            TextKind::Compiled { id, escape } => {
                self.registry(*escape).render_with_context(id, ctx)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn each_destination_escapes_its_own_way() {
        let mut r = Renderer::new();
        let data = Context::from(json!({"x": "<b>&\"</b>"}));
        let cases = [
            (Escape::None, "<b>&\"</b>"),
            (Escape::Html, "&lt;b&gt;&amp;&quot;&lt;/b&gt;"),
            (Escape::Mrkdwn, "&lt;b&gt;&amp;\"&lt;/b&gt;"),
        ];
        for (escape, expected) in cases {
            let t = r.compile("{{x}}", escape, &any).unwrap();
            assert_eq!(r.render(&t, &data).unwrap(), expected, "{escape:?}");
        }
    }

    #[test]
    fn a_tree_keeps_its_structure_whatever_the_data() {
        let mut r = Renderer::new();
        let node =
            crate::config::yaml::parse("text: \"{{x}}\"\nn: 3\nlist: [\"a {{x}}\"]\n").unwrap();
        let tree = r.compile_tree(&node, Escape::None, &any).unwrap();
        let out = tree
            .render(&r, &Context::from(json!({"x": "\" }, \"evil\": {"})))
            .unwrap();
        assert_eq!(
            out,
            json!({"text": "\" }, \"evil\": {", "n": 3, "list": ["a \" }, \"evil\": {"]})
        );
    }

    #[test]
    fn strict_mode_refuses_a_missing_variable() {
        let mut r = Renderer::new();
        let t = r.compile("{{nope}}", Escape::None, &any).unwrap();
        assert!(r.render(&t, &Context::from(json!({}))).is_err());
    }

    #[test]
    fn reports_compile_errors_with_position() {
        let mut r = Renderer::new();
        let problems = r.compile("ok\n{{#if x}}", Escape::None, &any).unwrap_err();
        assert_eq!(problems[0].pos.line, 2, "{problems:?}");
    }
}
