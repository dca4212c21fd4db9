//! Problems found while loading the rules file, each with its position.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Pos;

/// One problem: `FILE:LINE:COLUMN: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.column,
            self.message
        )
    }
}

/// Every problem in a configuration, in file order. Loading never stops at the first.
#[derive(Debug, Clone, Default, thiserror::Error)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects problems against one file: errors, which refuse the configuration, and warnings,
/// which are shown (by `check`, and logged by `serve`) but refuse nothing.
pub struct Sink {
    file: PathBuf,
    pub items: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: &Path) -> Self {
        Sink {
            file: file.to_path_buf(),
            items: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Something that works but is likely not what was meant.
    pub fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            file: self.file.clone(),
            pos,
            message: format!("warning: {}", message.into()),
        });
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.items.push(Diagnostic {
            file: self.file.clone(),
            pos,
            message: message.into(),
        });
    }

    /// A problem in another file (a template), reported at its own position.
    pub fn error_in(&mut self, file: &Path, pos: Pos, message: impl Into<String>) {
        self.items.push(Diagnostic {
            file: file.to_path_buf(),
            pos,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The file the problems are about (the rules file): what relative paths in it start from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn finish(mut self) -> Diagnostics {
        sort(&mut self.items);
        Diagnostics { items: self.items }
    }

    /// The warnings, in file order.
    pub fn take_warnings(&mut self) -> Vec<Diagnostic> {
        let mut warnings = std::mem::take(&mut self.warnings);
        sort(&mut warnings);
        warnings.dedup();
        warnings
    }
}

fn sort(items: &mut [Diagnostic]) {
    items.sort_by(|a, b| {
        (&a.file, a.pos.line, a.pos.column, &a.message).cmp(&(
            &b.file,
            b.pos.line,
            b.pos.column,
            &b.message,
        ))
    });
}

/// "did you mean `x`?" for a misspelt name, when one of `known` is close enough.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let best = known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!(" (did you mean `{k}`?)"),
        None => String::new(),
    }
}
