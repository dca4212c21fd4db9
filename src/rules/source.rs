//! Where the configuration comes from: the rules file, and optionally a file of `KEY=VALUE`
//! lines that `${VAR}` reads before the process environment. `serve`, `check`, `simulate` and
//! every reload load through this one source, so what `check` accepts is what `serve` runs.

use std::path::{Path, PathBuf};

use super::RuleSet;
use crate::config::diag::{Diagnostic, Diagnostics};
use crate::config::yaml::Pos;

/// Where configuration comes from: the rules file, and optionally a file of `KEY=VALUE` lines
/// that `${VAR}` reads before the process environment, re-read at every reload (the way to
/// change a secret without a restart).
#[derive(Debug, Clone)]
pub struct Source {
    pub rules: PathBuf,
    pub env_file: Option<PathBuf>,
}

impl Source {
    /// Loads and checks the whole configuration.
    pub fn load(&self) -> Result<RuleSet, Diagnostics> {
        self.load_with(&[])
    }

    /// Loads with `extra` values for `${VAR}`, read before the environment file and the process
    /// environment (a test case's `env:`).
    pub fn load_with(&self, extra: &[(String, String)]) -> Result<RuleSet, Diagnostics> {
        let vars = match &self.env_file {
            Some(f) => match read_env_file(f) {
                Ok(v) => v,
                Err(e) => {
                    return Err(Diagnostics {
                        items: vec![Diagnostic {
                            file: f.clone(),
                            pos: Pos { line: 1, column: 1 },
                            message: format!("cannot read the environment file: {e}"),
                        }],
                    });
                }
            },
            None => Vec::new(),
        };
        super::load_with_env(&self.rules, &|name| {
            extra
                .iter()
                .chain(vars.iter())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
        })
    }
}

/// The largest environment file herald reads.
pub const MAX_ENV_FILE_BYTES: usize = 1024 * 1024;

/// `KEY=VALUE` per line; blank lines and `#` comments skipped; `export ` and quotes allowed.
pub fn read_env_file(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let text = crate::text::read_bounded(path, MAX_ENV_FILE_BYTES)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect())
}
