//! `template:` names a folder in `templates/`; each folder is compiled once per destination
//! kind, and its problems reported once, at the template's own file and position.

use std::path::PathBuf;
use std::sync::Arc;

use super::Shape;
use super::document::Loader;
use super::folders::{Compiled, Reported};
use crate::config::diag::did_you_mean;
use crate::config::yaml::Node;
use crate::render::message::{FileProblem, MessageTemplate};

impl Loader {
    pub(super) fn folder_template(
        &mut self,
        name: &str,
        shape: Shape,
        node: &Node,
        label: &str,
    ) -> Option<Compiled> {
        let folder = self.template_folder(name, node, label)?;
        let key = (name.to_string(), shape);
        if let Some(done) = self.templates.compiled.get(&key) {
            if done.is_none() {
                let message =
                    format!("{label}: template `{name}` has problems (reported at the template)");
                self.sink.error(node.pos, message);
            }
            return done.clone();
        }
        let compiled = self.compile_folder(&folder, name, shape, label);
        self.templates.compiled.insert(key, compiled.clone());
        compiled
    }

    /// The folder a template name means, if it is one.
    fn template_folder(&mut self, name: &str, node: &Node, label: &str) -> Option<PathBuf> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            let message = format!("{label}: template `{name}` must be a folder name in templates/");
            self.sink.error(node.pos, message);
            return None;
        }
        let folder = self.templates.dir.join(name);
        if folder.is_dir() {
            return Some(folder);
        }
        let known: Vec<String> = std::fs::read_dir(&self.templates.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        self.sink.error(
            node.pos,
            format!(
                "{label}: template `{name}` not found: no folder {}{}",
                folder.display(),
                did_you_mean(name, known.iter().map(String::as_str))
            ),
        );
        None
    }

    fn compile_folder(
        &mut self,
        folder: &std::path::Path,
        name: &str,
        shape: Shape,
        label: &str,
    ) -> Option<Compiled> {
        let reads = self.reads(Some(shape));
        let known = |r: &str| reads.known(r);
        match MessageTemplate::from_folder(&mut self.renderer, folder, shape.kind, &known) {
            Ok(t) => Some((Arc::new(t), reads.needs())),
            Err(problems) => {
                for FileProblem { file, pos, message } in problems {
                    let id = Reported {
                        file: file.clone(),
                        line: pos.line,
                        column: pos.column,
                        message: message.clone(),
                    };
                    if self.templates.reported.insert(id) {
                        let message = format!("{message} (template `{name}`, used by {label})");
                        self.sink.error_in(&file, pos, message);
                    }
                }
                None
            }
        }
    }
}
