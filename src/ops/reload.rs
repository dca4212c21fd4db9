//! Reloading the rules file and templates without a restart: on a change seen by polling
//! (debounced), on SIGHUP, and on `POST /-/reload`. The new configuration is checked whole
//! before it replaces the old one, atomically; a broken edit leaves the old one serving and
//! is reported with the same `FILE:LINE:COLUMN` messages as `herald check`.
//!
//! Polling (once a second) rather than inotify: it also sees edits on network filesystems and
//! the symlink swaps Kubernetes uses for mounted ConfigMaps, and costs a few `stat` calls.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{error, info};

use crate::delivery::Dispatcher;
use crate::metrics::Metrics;
use crate::rules::{self, Config};

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
    pub fn load(&self) -> Result<Config, rules::Diagnostics> {
        let vars = match &self.env_file {
            Some(f) => match read_env_file(f) {
                Ok(v) => v,
                Err(e) => {
                    return Err(rules::Diagnostics {
                        items: vec![rules::Diagnostic {
                            file: f.clone(),
                            pos: crate::config::yaml::Pos { line: 1, column: 1 },
                            message: format!("cannot read the environment file: {e}"),
                        }],
                    });
                }
            },
            None => Vec::new(),
        };
        rules::load_with_env(&self.rules, &|name| {
            vars.iter()
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

/// What a reload did, as `/-/reload` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `reloaded` or `failed`.
    pub status: &'static str,
    pub trigger: &'static str,
    pub changes: Vec<String>,
    pub problems: Vec<String>,
}

pub struct Reloader {
    source: Source,
    dispatcher: Arc<Dispatcher>,
    metrics: Arc<Metrics>,
    running: tokio::sync::Mutex<()>,
    last: Mutex<Option<Report>>,
}

impl Reloader {
    pub fn new(
        source: Source,
        dispatcher: Arc<Dispatcher>,
        metrics: Arc<Metrics>,
    ) -> Arc<Reloader> {
        metrics.reloaded(true);
        Arc::new(Reloader {
            source,
            dispatcher,
            metrics,
            running: tokio::sync::Mutex::new(()),
            last: Mutex::new(None),
        })
    }

    /// The last reload's report, if there was one.
    pub fn last(&self) -> Option<Report> {
        self.last.lock().expect("report lock").clone()
    }

    pub async fn reload(&self, trigger: &'static str) -> Report {
        let _one_at_a_time = self.running.lock().await;
        let source = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || source.load())
            .await
            .expect("loading does not panic");
        let report = match loaded {
            Ok(config) => {
                let changes = changes(&self.dispatcher.config(), &config);
                match self.dispatcher.swap(Arc::new(config)) {
                    Ok(()) => {
                        info!(trigger, changes = %changes.join("; "), "configuration reloaded");
                        self.dispatcher.retire_orphans().await;
                        Report {
                            status: "reloaded",
                            trigger,
                            changes,
                            problems: Vec::new(),
                        }
                    }
                    Err(e) => Report {
                        status: "failed",
                        trigger,
                        changes: Vec::new(),
                        problems: vec![e.to_string()],
                    },
                }
            }
            Err(problems) => Report {
                status: "failed",
                trigger,
                changes: Vec::new(),
                problems: problems.items.iter().map(ToString::to_string).collect(),
            },
        };
        if report.status == "failed" {
            for p in &report.problems {
                error!(trigger, "{p}");
            }
            error!(
                trigger,
                problems = report.problems.len(),
                "reload failed; the previous configuration keeps serving"
            );
        }
        self.metrics.reloaded(report.status == "reloaded");
        *self.last.lock().expect("report lock") = Some(report.clone());
        report
    }

    /// Polls the rules file, the templates and the environment file; reloads once a change has
    /// settled (two polls alike).
    pub async fn watch(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut known = self.fingerprint();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            let now = self.fingerprint();
            if now == known {
                continue;
            }
            // Debounce: an editor may write in several steps.
            let mut settled = now;
            loop {
                tokio::time::sleep(every / 3).await;
                let again = self.fingerprint();
                if again == settled {
                    break;
                }
                settled = again;
            }
            known = settled;
            self.reload("file change").await;
        }
    }

    /// Reloads on SIGHUP.
    #[cfg(unix)]
    pub async fn on_sighup(self: Arc<Self>) {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            self.reload("SIGHUP").await;
        }
    }

    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        let templates = self.dispatcher.config().templates_dir.clone();
        let mut files = vec![self.source.rules.clone()];
        files.extend(self.source.env_file.clone());
        collect(&templates, &mut files);
        files.sort();
        for f in files {
            f.hash(&mut h);
            if let Ok(m) = std::fs::metadata(&f) {
                m.len().hash(&mut h);
                m.modified().ok().hash(&mut h);
            }
        }
        h.finish()
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// What differs between two configurations, for people.
fn changes(old: &Config, new: &Config) -> Vec<String> {
    let rules = |c: &Config| c.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    let channels = |c: &Config| c.channels.keys().cloned().collect::<Vec<_>>();
    let mut out = Vec::new();
    for (what, before, after) in [
        ("rules", rules(old), rules(new)),
        ("channels", channels(old), channels(new)),
    ] {
        for (verb, from, to) in [("added", &before, &after), ("removed", &after, &before)] {
            let names: Vec<&str> = to
                .iter()
                .filter(|n| !from.contains(n))
                .map(String::as_str)
                .collect();
            if !names.is_empty() {
                out.push(format!("{what} {verb}: {}", names.join(", ")));
            }
        }
    }
    out.push(format!(
        "{} rules and {} channels in force",
        new.rules.len(),
        new.channels.len()
    ));
    out
}
