//! Template folders: `templates/NAME/` holds one part per destination kind.
//!
//! | kind    | files                                                         |
//! |---------|---------------------------------------------------------------|
//! | email   | `email.subject.hbs`, `email.text.hbs`, `email.html.hbs`       |
//! | slack   | `slack.yaml` (or `.json`): `text`, optionally `blocks`         |
//! | teams   | `teams.yaml` (or `.json`): an Adaptive Card                    |
//! | webhook | `webhook.yaml` (or `.json`): the JSON body                     |

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::message::{
    DEFAULT_SUBJECT, EmailTemplate, FileProblem, MAX_TEMPLATE_FILE_BYTES, MessageTemplate,
    html_page,
};
use super::{Escape, Problem, Renderer, Tree};
use crate::config::channel::Kind;
use crate::config::yaml::{self, Pos};

impl MessageTemplate {
    /// Loads the part of `templates/NAME/` that a destination kind needs.
    pub fn from_folder(
        renderer: &mut Renderer,
        folder: &Path,
        kind: Kind,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<MessageTemplate, Vec<FileProblem>> {
        match kind {
            Kind::Email => email(renderer, folder, known),
            Kind::Slack | Kind::Teams | Kind::Webhook => json(renderer, folder, kind, known),
        }
    }
}

/// `email.subject.hbs` (optional), `email.text.hbs`, `email.html.hbs` (optional: without it
/// the text is sent as HTML too).
fn email(
    renderer: &mut Renderer,
    folder: &Path,
    known: &dyn Fn(&str) -> bool,
) -> Result<MessageTemplate, Vec<FileProblem>> {
    let text_file = folder.join("email.text.hbs");
    let text_src = read(&text_file)?;
    let subject_file = folder.join("email.subject.hbs");
    let subject_src = read_optional(&subject_file)?.unwrap_or_else(|| DEFAULT_SUBJECT.to_string());
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
        (Some(subject), Some(text), Some(html)) => Ok(MessageTemplate::Email(EmailTemplate {
            subject,
            text,
            html,
        })),
        _ => Err(problems),
    }
}

/// `KIND.yaml` (or `.json`): a structure whose string leaves are templates.
fn json(
    renderer: &mut Renderer,
    folder: &Path,
    kind: Kind,
    known: &dyn Fn(&str) -> bool,
) -> Result<MessageTemplate, Vec<FileProblem>> {
    let file = part_file(folder, kind);
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
    shape.map_err(|shape| {
        vec![FileProblem {
            file: file.clone(),
            pos: node.pos,
            message: shape.to_string(),
        }]
    })?;
    Ok(match kind {
        Kind::Slack => MessageTemplate::Slack(tree),
        Kind::Teams => MessageTemplate::Teams(tree),
        _ => MessageTemplate::Webhook(tree),
    })
}

/// `KIND.yaml`, or `KIND.json` when only that exists.
fn part_file(folder: &Path, kind: Kind) -> PathBuf {
    let stem = kind.as_str();
    let yaml_file = folder.join(format!("{stem}.yaml"));
    let json_file = folder.join(format!("{stem}.json"));
    if json_file.exists() && !yaml_file.exists() {
        json_file
    } else {
        yaml_file
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

/// A JSON template that is not the shape its platform takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Shape {
    #[error(
        "a Slack template needs a top-level `text` (Slack's notification text, also when `blocks` are given)"
    )]
    SlackText,
    #[error("a Teams template's Adaptive Card needs a `body` list")]
    TeamsBody,
    #[error(
        "a Teams template is an Adaptive Card: `type: AdaptiveCard` with a `body` (or a whole message with `attachments`)"
    )]
    TeamsCard,
}

fn check_slack_shape(tree: &Tree) -> Result<(), Shape> {
    match tree.get("text") {
        Some(Tree::Text(_)) | Some(Tree::Value(Value::String(_))) => Ok(()),
        _ => Err(Shape::SlackText),
    }
}

fn check_teams_shape(tree: &Tree) -> Result<(), Shape> {
    if tree.get("attachments").is_some() {
        return Ok(());
    }
    match tree.get("type") {
        Some(Tree::Value(Value::String(t))) if t == "AdaptiveCard" => match tree.get("body") {
            Some(Tree::Array(_)) => Ok(()),
            _ => Err(Shape::TeamsBody),
        },
        _ => Err(Shape::TeamsCard),
    }
}
