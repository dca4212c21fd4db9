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
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{error, info};

use crate::live::Live;
use crate::metrics::Metrics;
use crate::rules::{RuleSet, Source};

/// Whether a reload put a new configuration in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Reloaded,
    Failed,
}

/// What a reload did, as `/-/reload` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: Status,
    pub trigger: &'static str,
    pub changes: Vec<String>,
    pub problems: Vec<String>,
}

pub struct Reloader {
    source: Source,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    running: tokio::sync::Mutex<()>,
    /// The files as they were when the configuration in force was loaded (at start: taken
    /// here, before any task runs, so an edit made right after start is not missed).
    loaded: u64,
    /// Run the test files beside the rules before a new configuration is put in force.
    test_on_reload: bool,
    /// Notified after a new configuration is put in force (the SuperOffice watchdog looks
    /// whether the webhook sends what the new rules need).
    pub reloaded: Arc<tokio::sync::Notify>,
    /// The last reload's time and report, for the status page.
    last: std::sync::Mutex<Option<(jiff::Timestamp, Report)>>,
}

impl Reloader {
    pub fn new(
        source: Source,
        live: Arc<Live>,
        metrics: Arc<Metrics>,
        test_on_reload: bool,
    ) -> Arc<Reloader> {
        metrics.reloaded(true);
        let loaded = fingerprint(&source, &live.config().templates_dir);
        Arc::new(Reloader {
            source,
            live,
            metrics,
            running: tokio::sync::Mutex::new(()),
            loaded,
            test_on_reload,
            reloaded: Arc::new(tokio::sync::Notify::new()),
            last: std::sync::Mutex::new(None),
        })
    }

    pub async fn reload(&self, trigger: &'static str) -> Report {
        let _one_at_a_time = self.running.lock().await;
        let source = self.source.clone();
        let loaded = super::blocking::run(super::blocking::FILE_DEADLINE, move || {
            source.load().map(Arc::new)
        })
        .await;
        let report = match loaded {
            Ok(Ok(config)) => match self.failed_tests(config.clone()).await {
                failures if failures.is_empty() => self.put_in_force(config, trigger),
                failures => failed(trigger, failures),
            },
            Ok(Err(problems)) => failed(
                trigger,
                problems.items.iter().map(ToString::to_string).collect(),
            ),
            Err(e) => failed(
                trigger,
                vec![format!(
                    "cannot read the rules file, its env file or its templates: {e}"
                )],
            ),
        };
        if report.status == Status::Failed {
            for p in &report.problems {
                error!(trigger, "{p}");
            }
            error!(
                trigger,
                problems = report.problems.len(),
                "reload failed; the previous configuration keeps serving"
            );
        }
        self.metrics.reloaded(report.status == Status::Reloaded);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((jiff::Timestamp::now(), report.clone()));
        }
        report
    }

    /// The last reload since start, if any: when, and what it did.
    pub fn last(&self) -> Option<(jiff::Timestamp, Report)> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// With `--test-on-reload`, what the test files beside the rules say of `config`.
    async fn failed_tests(&self, config: Arc<RuleSet>) -> Vec<String> {
        if !self.test_on_reload {
            return Vec::new();
        }
        gate(config, self.source.clone()).await
    }

    fn put_in_force(&self, config: Arc<RuleSet>, trigger: &'static str) -> Report {
        for w in &config.warnings {
            tracing::warn!(trigger, "{w}");
        }
        let changes = changes(&self.live.config(), &config);
        match self.live.swap(config) {
            Ok(()) => {
                info!(trigger, changes = %changes.join("; "), "configuration reloaded");
                self.reloaded.notify_one();
                Report {
                    status: Status::Reloaded,
                    trigger,
                    changes,
                    problems: Vec::new(),
                }
            }
            Err(e) => failed(trigger, vec![e.to_string()]),
        }
    }

    /// Polls the rules file, the templates and the environment file; reloads once a change has
    /// settled (two polls alike).
    pub async fn watch(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut known = self.loaded;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            let Some(now) = self.fingerprint().await else {
                continue;
            };
            if now == known {
                continue;
            }
            // Debounce: an editor may write in several steps.
            let mut settled = now;
            loop {
                tokio::time::sleep(every / 3).await;
                let Some(again) = self.fingerprint().await else {
                    break;
                };
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

    /// The watched files' fingerprint, read off the runtime; `None` if the file system did not
    /// answer in time (the next look tries again).
    async fn fingerprint(&self) -> Option<u64> {
        let (source, templates) = (
            self.source.clone(),
            self.live.config().templates_dir.clone(),
        );
        let deadline = super::blocking::FILE_DEADLINE;
        match super::blocking::run(deadline, move || fingerprint(&source, &templates)).await {
            Ok(print) => Some(print),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look at the rules file for changes");
                None
            }
        }
    }

    /// The rules file as it is on disk now, with the secrets of that file masked; `None` when it
    /// does not load (then nothing of it is shown: its secrets are not known).
    pub async fn on_disk(&self) -> Result<Option<String>, super::blocking::TimedOut> {
        let source = self.source.clone();
        super::blocking::run(super::blocking::FILE_DEADLINE, move || {
            let config = source.load().ok()?;
            let text =
                crate::text::read_bounded(&source.rules, crate::rules::load::MAX_RULES_BYTES)
                    .ok()?;
            Some(config.redactor.redact(&text))
        })
        .await
    }
}

/// A hash of every watched file's name, size and modification time.
fn fingerprint(source: &Source, templates: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    let mut files = vec![source.rules.clone()];
    files.extend(source.env_file.clone());
    collect(templates, &mut files);
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

fn failed(trigger: &'static str, problems: Vec<String>) -> Report {
    Report {
        status: Status::Failed,
        trigger,
        changes: Vec::new(),
        problems,
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
fn changes(old: &RuleSet, new: &RuleSet) -> Vec<String> {
    let rules = |c: &RuleSet| c.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    let channels = |c: &RuleSet| c.channels.keys().cloned().collect::<Vec<_>>();
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

/// How long the test files may take, read and run, before the gate gives up on them.
const GATE_DEADLINE: Duration = Duration::from_secs(60);

/// `--test-on-reload`'s gate ([`crate::ruletest::gate`]) on a blocking thread, with a deadline:
/// it reads the test files and the events they name with the file system's blocking calls, and
/// on a hung mount, or with a FIFO in a file's place, that held a runtime thread (with
/// `serve --workers 1`, the only one) and `/webhook` with it. Now the gate fails after
/// [`GATE_DEADLINE`] instead.
pub async fn gate(config: Arc<RuleSet>, source: Source) -> Vec<String> {
    let handle = tokio::runtime::Handle::current();
    let run = move || handle.block_on(crate::ruletest::gate(&config, &source));
    super::blocking::run(GATE_DEADLINE, run)
        .await
        .unwrap_or_else(|e| vec![format!("the test files beside the rules: {e}")])
}
