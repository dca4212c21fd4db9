//! What each kind of destination receives, and the templates that make it.
//!
//! A template folder `templates/NAME/` holds one part per destination kind:
//!
//! | kind    | files                                                         |
//! |---------|---------------------------------------------------------------|
//! | email   | `email.subject.hbs`, `email.text.hbs`, `email.html.hbs`       |
//! | slack   | `slack.yaml` (or `.json`): `text`, optionally `blocks`         |
//! | teams   | `teams.yaml` (or `.json`): an Adaptive Card                    |
//! | webhook | `webhook.yaml` (or `.json`): the JSON body                     |

use std::path::{Path, PathBuf};

use handlebars::RenderError;
use serde::Serialize;
use serde_json::{Value, json};

use super::context::TemplateContext;
use super::{Escape, Problem, Renderer, Text, Tree, limits, mail};
use crate::config::channel::Kind;
use crate::config::yaml::{self, Pos};

/// A compiled message template for one destination kind.
#[derive(Debug, Clone)]
pub enum MessageTemplate {
    Slack(Tree),
    Teams(Tree),
    Webhook(Tree),
    /// `text:` inline: `{"text": …, "rule": …, "event": {the event as received}}`.
    WebhookInline(Text),
    Email(EmailTemplate),
}

#[derive(Debug, Clone)]
pub struct EmailTemplate {
    pub subject: Text,
    pub text: Text,
    pub html: Text,
}

/// A message ready for a destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Message {
    Slack { body: Value },
    Teams { body: Value },
    Webhook { body: Value },
    Email(EmailBody),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailBody {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A rendered message, and what was cut to fit the platform's limits.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub message: Message,
    pub truncated: Vec<String>,
}

/// A problem in a template file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
}

/// Rendering failed: a variable the event lacks in strict mode, a helper given bad input, or
/// a Teams template that is not an Adaptive Card.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    #[error("template failed: {0}")]
    Template(#[from] RenderError),
    #[error("rendered message is invalid: {0}")]
    Invalid(String),
}

/// The largest template file herald reads; each template string in it is bounded again by
/// [`super::guard::MAX_TEMPLATE_BYTES`].
pub const MAX_TEMPLATE_FILE_BYTES: usize = 256 * 1024;

const DEFAULT_SUBJECT: &str = "{{Event}} {{PrimaryKey}}";

impl MessageTemplate {
    pub fn render(
        &self,
        renderer: &Renderer,
        ctx: &TemplateContext,
    ) -> Result<Rendered, RenderFailure> {
        let hb = ctx.to_handlebars();
        let mut truncated = Vec::new();
        let message = match self {
            MessageTemplate::Slack(tree) => {
                let mut body = tree.render(renderer, &hb)?;
                truncated = limits::slack(&mut body);
                Message::Slack { body }
            }
            MessageTemplate::Teams(tree) => {
                let mut body = teams_envelope(tree.render(renderer, &hb)?)?;
                truncated = limits::teams(&mut body);
                Message::Teams { body }
            }
            MessageTemplate::Webhook(tree) => Message::Webhook {
                body: tree.render(renderer, &hb)?,
            },
            MessageTemplate::WebhookInline(text) => Message::Webhook {
                body: json!({
                    "text": renderer.render(text, &hb)?,
                    "rule": ctx.rule_name(),
                    "event": ctx.event(),
                }),
            },
            MessageTemplate::Email(t) => Message::Email(EmailBody {
                // A subject is one line: a newline in data must not start a new header.
                subject: mail::subject(&renderer.render(&t.subject, &hb)?),
                text: mail::body(&renderer.render(&t.text, &hb)?),
                html: mail::body(&renderer.render(&t.html, &hb)?),
            }),
        };
        Ok(Rendered { message, truncated })
    }

    /// The default message around an inline `text:` (and `subject:` for email).
    pub fn inline(
        renderer: &mut Renderer,
        kind: Kind,
        text: &str,
        subject: Option<&str>,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<MessageTemplate, Vec<Problem>> {
        Ok(match kind {
            Kind::Slack => MessageTemplate::Slack(Tree::Object(vec![(
                "text".into(),
                Tree::Text(renderer.compile(text, Escape::Mrkdwn, known)?),
            )])),
            Kind::Teams => MessageTemplate::Teams(Tree::Object(vec![
                ("type".into(), Tree::Value(json!("AdaptiveCard"))),
                ("version".into(), Tree::Value(json!("1.4"))),
                (
                    "body".into(),
                    Tree::Array(vec![Tree::Object(vec![
                        ("type".into(), Tree::Value(json!("TextBlock"))),
                        (
                            "text".into(),
                            Tree::Text(renderer.compile(text, Escape::None, known)?),
                        ),
                        ("wrap".into(), Tree::Value(json!(true))),
                    ])]),
                ),
            ])),
            Kind::Webhook => {
                MessageTemplate::WebhookInline(renderer.compile(text, Escape::None, known)?)
            }
            Kind::Email => MessageTemplate::Email(EmailTemplate {
                subject: renderer.compile(
                    subject.unwrap_or(DEFAULT_SUBJECT),
                    Escape::None,
                    known,
                )?,
                text: renderer.compile(text, Escape::None, known)?,
                html: renderer.compile(&html_page(text), Escape::Html, known)?,
            }),
        })
    }

    /// Loads the part of `templates/NAME/` that a destination kind needs.
    pub fn from_folder(
        renderer: &mut Renderer,
        folder: &Path,
        kind: Kind,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<MessageTemplate, Vec<FileProblem>> {
        match kind {
            Kind::Email => {
                let text_file = folder.join("email.text.hbs");
                let text_src = read(&text_file)?;
                let subject_file = folder.join("email.subject.hbs");
                let subject_src =
                    read_optional(&subject_file)?.unwrap_or_else(|| DEFAULT_SUBJECT.to_string());
                let html_file = folder.join("email.html.hbs");
                let html_src = read_optional(&html_file)?;
                let mut problems = Vec::new();
                let mut compile = |file: &Path, src: &str, escape| {
                    renderer
                        .compile(src.trim_end_matches('\n'), escape, known)
                        .map_err(|ps| problems.extend(in_file(file, ps)))
                        .ok()
                };
                let subject = compile(&subject_file, &subject_src, Escape::None);
                let text = compile(&text_file, &text_src, Escape::None);
                // Without an HTML part the text is sent as HTML too; its problems were reported.
                let html = match (&html_src, &text) {
                    (Some(src), _) => compile(&html_file, src, Escape::Html),
                    (None, Some(_)) => compile(&text_file, &html_page(&text_src), Escape::Html),
                    (None, None) => None,
                };
                match (subject, text, html) {
                    (Some(subject), Some(text), Some(html)) => {
                        Ok(MessageTemplate::Email(EmailTemplate {
                            subject,
                            text,
                            html,
                        }))
                    }
                    _ => Err(problems),
                }
            }
            Kind::Slack | Kind::Teams | Kind::Webhook => {
                let stem = kind.as_str();
                let yaml_file = folder.join(format!("{stem}.yaml"));
                let json_file = folder.join(format!("{stem}.json"));
                let file = if json_file.exists() && !yaml_file.exists() {
                    json_file
                } else {
                    yaml_file
                };
                let source = read(&file)?;
                let node = yaml::parse(&source).map_err(|e| {
                    vec![FileProblem {
                        file: file.clone(),
                        pos: e.pos,
                        message: format!("invalid YAML: {e}"),
                    }]
                })?;
                let escape = if kind == Kind::Slack {
                    Escape::Mrkdwn
                } else {
                    Escape::None
                };
                let tree = renderer
                    .compile_tree(&node, escape, known)
                    .map_err(|ps| in_file(&file, ps))?;
                let shape = match kind {
                    Kind::Slack => check_slack_shape(&tree),
                    Kind::Teams => check_teams_shape(&tree),
                    _ => Ok(()),
                };
                shape.map_err(|message| {
                    vec![FileProblem {
                        file: file.clone(),
                        pos: node.pos,
                        message,
                    }]
                })?;
                Ok(match kind {
                    Kind::Slack => MessageTemplate::Slack(tree),
                    Kind::Teams => MessageTemplate::Teams(tree),
                    _ => MessageTemplate::Webhook(tree),
                })
            }
        }
    }
}

fn in_file(file: &Path, problems: Vec<Problem>) -> Vec<FileProblem> {
    problems
        .into_iter()
        .map(|p| FileProblem {
            file: file.to_path_buf(),
            pos: p.pos,
            message: p.message,
        })
        .collect()
}

fn read(file: &Path) -> Result<String, Vec<FileProblem>> {
    read_optional(file)?.ok_or_else(|| {
        vec![FileProblem {
            file: file.to_path_buf(),
            pos: Pos { line: 1, column: 1 },
            message: format!("template part {} is missing", file.display()),
        }]
    })
}

fn read_optional(file: &Path) -> Result<Option<String>, Vec<FileProblem>> {
    match crate::text::read_bounded(file, MAX_TEMPLATE_FILE_BYTES) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(vec![FileProblem {
            file: file.to_path_buf(),
            pos: Pos { line: 1, column: 1 },
            message: format!("cannot read template part: {e}"),
        }]),
    }
}

/// A minimal HTML page around a plain-text template: the text keeps its line breaks.
fn html_page(text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><body><div style=\"white-space: pre-wrap; font-family: sans-serif\">{}</div></body></html>",
        text.trim_end_matches('\n')
    )
}

fn check_slack_shape(tree: &Tree) -> Result<(), String> {
    match tree.get("text") {
        Some(Tree::Text(_)) | Some(Tree::Value(Value::String(_))) => Ok(()),
        _ => Err(
            "a Slack template needs a top-level `text` (Slack's notification text, \
                  also when `blocks` are given)"
                .into(),
        ),
    }
}

fn check_teams_shape(tree: &Tree) -> Result<(), String> {
    if tree.get("attachments").is_some() {
        return Ok(());
    }
    match tree.get("type") {
        Some(Tree::Value(Value::String(t))) if t == "AdaptiveCard" => match tree.get("body") {
            Some(Tree::Array(_)) => Ok(()),
            _ => Err("a Teams template's Adaptive Card needs a `body` list".into()),
        },
        _ => Err(
            "a Teams template is an Adaptive Card: `type: AdaptiveCard` with a `body` \
                  (or a whole message with `attachments`)"
                .into(),
        ),
    }
}

/// Wraps a card in the message envelope Teams workflows expect, fills in the schema and
/// version when missing, and sets `wrap: true` on text blocks that do not say.
fn teams_envelope(rendered: Value) -> Result<Value, RenderFailure> {
    let mut message = if rendered.get("attachments").is_some() {
        rendered
    } else {
        let mut card = rendered;
        if let Value::Object(map) = &mut card {
            map.entry("$schema")
                .or_insert_with(|| json!("http://adaptivecards.io/schemas/adaptive-card.json"));
            map.entry("version").or_insert_with(|| json!("1.4"));
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }]
        })
    };
    let cards = message["attachments"]
        .as_array_mut()
        .ok_or_else(|| RenderFailure::Invalid("Teams `attachments` must be a list".into()))?;
    for attachment in cards {
        let card = &mut attachment["content"];
        if card.get("type").and_then(Value::as_str) != Some("AdaptiveCard") {
            return Err(RenderFailure::Invalid(
                "a Teams attachment's content must be an AdaptiveCard".into(),
            ));
        }
        wrap_text_blocks(card);
    }
    Ok(message)
}

fn wrap_text_blocks(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("TextBlock") {
                map.entry("wrap").or_insert(Value::Bool(true));
            }
            map.values_mut().for_each(wrap_text_blocks);
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_text_blocks),
        _ => {}
    }
}
