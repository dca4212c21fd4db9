//! What each kind of destination receives, and the templates that make it: from a template
//! folder (see `folder`), or around an inline `text:`.

use std::path::PathBuf;

use handlebars::RenderError;
use serde::Serialize;
use serde_json::{Value, json};

use super::context::TemplateContext;
use super::{Escape, Problem, Renderer, Text, Tree, limits, mail};
use crate::config::channel::Kind;
use crate::config::yaml::Pos;

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
    /// The message says the handlebars error in words ([`explain`]), so it is not a source too.
    #[error("template failed: {}", explain(.0))]
    Template(RenderError),
    #[error("rendered message is invalid: {0}")]
    Invalid(String),
}

impl From<RenderError> for RenderFailure {
    fn from(e: RenderError) -> Self {
        RenderFailure::Template(e)
    }
}

/// A render error in words for people: where in the template, and what, without the
/// library's "Unnamed template" or Rust's `Some(…)`.
pub fn explain(e: &RenderError) -> String {
    use handlebars::RenderErrorReason as Reason;
    let what = match e.reason() {
        Reason::MissingVariable(Some(path)) => {
            format!("`{path}` is not in this event's data")
        }
        Reason::MissingVariable(None) => {
            "a name the template uses is not in this event's data".into()
        }
        other => other.to_string(),
    };
    match (e.line_no, e.column_no) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: {what}"),
        _ => what,
    }
}

/// The largest template file herald reads; each template string in it is bounded again by
/// [`super::guard::MAX_TEMPLATE_BYTES`].
pub const MAX_TEMPLATE_FILE_BYTES: usize = 256 * 1024;

pub(super) const DEFAULT_SUBJECT: &str = "{{Event}} {{PrimaryKey}}";

impl MessageTemplate {
    /// The message for a context, cut to the platform's limits where it would not fit.
    pub fn render(
        &self,
        renderer: &Renderer,
        ctx: &TemplateContext,
    ) -> Result<Rendered, RenderFailure> {
        let mut message = self.render_whole(renderer, ctx)?;
        let truncated = match &mut message {
            Message::Slack { body } => limits::slack(body),
            Message::Teams { body } => limits::teams(body),
            Message::Webhook { .. } | Message::Email(_) => Vec::new(),
        };
        Ok(Rendered { message, truncated })
    }

    /// The message as the template makes it, nothing cut: what `check` holds against the
    /// platform's limits.
    pub fn render_whole(
        &self,
        renderer: &Renderer,
        ctx: &TemplateContext,
    ) -> Result<Message, RenderFailure> {
        let hb = ctx.to_handlebars();
        Ok(match self {
            MessageTemplate::Slack(tree) => Message::Slack {
                body: tree.render(renderer, &hb)?,
            },
            MessageTemplate::Teams(tree) => Message::Teams {
                body: teams_envelope(tree.render(renderer, &hb)?)?,
            },
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
        })
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
}

/// A minimal HTML page around a plain-text template: the text keeps its line breaks.
pub(super) fn html_page(text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><body><div style=\"white-space: pre-wrap; font-family: sans-serif\">{}</div></body></html>",
        text.trim_end_matches('\n')
    )
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
