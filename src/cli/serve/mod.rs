//! `herald serve`: the service. Load and check the rules, open the store, start the
//! dispatcher, the reloader and the housekeeping, then serve HTTP until told to stop, and let
//! sends in flight finish.

mod args;
mod lifecycle;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::delivery::{Dispatcher, Settings};
use crate::ingress::signature::Verifier;
use crate::ingress::{self, Admin, AppState, server};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::ops::reload::Reloader;
use crate::rules::RuleSet;
use crate::store::{self, Instance, Mode, Store};
use crate::subscription::watchdog::Watchdog;

pub use args::{Args, parse_size};

/// The threads running tasks when `--workers` is not given: one fewer than the cores, at
/// least one. The SQLite writer is a thread of its own, busy under load, and the database (or
/// a load generator, in a benchmark) wants a core too: on two cores a second worker spent
/// about a tenth more CPU per event on waking and stealing for no more throughput
/// (BENCHMARKS.md, "Issue 25").
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.saturating_sub(1).max(1)
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(config) = load(&args).await else {
        return Ok(ExitCode::FAILURE);
    };
    if !tests_pass(&args, config.clone()).await {
        return Ok(ExitCode::FAILURE);
    }
    let Some(secrets) = secrets(&args)? else {
        return Ok(ExitCode::FAILURE);
    };
    let store = open_store(&args).await?;
    let settling = store.clone();
    warn_about_lease(&args, &config);
    let metrics = Arc::new(Metrics::new());
    let live = Arc::new(Live::new(config.clone(), metrics.enrichment_cache.clone())?);
    let settings = settings(&args);
    let instance = Instance::new();
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    info!(instance = %instance.id, workers, "starting");
    let dispatcher = Dispatcher::new(
        live.clone(),
        store.clone(),
        instance,
        settings,
        metrics.clone(),
    );
    let (stop_tx, stop) = watch::channel(false);
    let running = tokio::spawn(dispatcher.clone().run(stop.clone()));
    let source = args.rules.source();
    let reloader = Reloader::new(source, live.clone(), metrics.clone(), args.test_on_reload);
    watch_config(&args, &reloader, &stop);
    let wake = reloader.reloaded.clone();
    let state = app_state(
        &args,
        secrets,
        live.clone(),
        dispatcher.clone(),
        store,
        metrics.clone(),
        reloader,
    );
    tokio::spawn(
        Arc::new(Watchdog {
            seen: state.watchdog.clone(),
            live,
            dispatcher: dispatcher.clone(),
            metrics,
            wake,
            http: crate::http::client()?,
        })
        .run(stop.clone()),
    );
    listen(&args, &config, state).await?;
    let _ = stop_tx.send(true);
    let _ = running.await;
    finish(&dispatcher, &*settling, args.shutdown_grace).await;
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn settings(args: &Args) -> Settings {
    Settings {
        concurrency: args.concurrency,
        lease: args.lease,
        poll: Duration::from_millis(200),
        instance_timeout: args.instance_timeout,
        retention: args.retention.max(args.dedup_window),
        keep_sent: args.keep_sent,
        behind_after: args.behind_after,
        max_backlog: (args.max_backlog > 0).then_some(args.max_backlog),
    }
}

/// The rules, checked; `None` (with every problem logged) when they have problems or cannot
/// be read in time.
async fn load(args: &Args) -> Option<Arc<RuleSet>> {
    let source = args.rules.source();
    let deadline = crate::ops::blocking::FILE_DEADLINE;
    let loaded = match crate::ops::blocking::run(deadline, move || source.load()).await {
        Ok(loaded) => loaded,
        Err(e) => {
            error!("cannot read the rules file, its env file or its templates: {e}; not starting");
            return None;
        }
    };
    match loaded {
        Ok(c) => {
            for w in &c.warnings {
                warn!("{w}");
            }
            Some(Arc::new(c))
        }
        Err(problems) => {
            for p in &problems.items {
                error!("{p}");
            }
            error!(
                problems = problems.items.len(),
                "the rules file has problems; not starting (run `herald check` for the list)"
            );
            None
        }
    }
}

/// With `--test-on-reload`, the rules must pass their tests to start, as to reload.
async fn tests_pass(args: &Args, config: Arc<RuleSet>) -> bool {
    if !args.test_on_reload {
        return true;
    }
    let source = args.rules.source();
    if crate::ruletest::discover(&source.rules).is_empty() {
        warn!("--test-on-reload: no *.test.yaml beside the rules file; nothing to run");
    }
    let failures = crate::ops::reload::gate(config, source).await;
    for f in &failures {
        error!("{f}");
    }
    if !failures.is_empty() {
        error!("the rules fail their tests; not starting (run `herald test` for the details)");
    }
    failures.is_empty()
}

/// The webhook secrets; `None` (logged) when there are none and unsigned webhooks were not
/// allowed.
fn secrets(args: &Args) -> anyhow::Result<Option<Vec<String>>> {
    let mut secrets: Vec<String> = std::env::var("HERALD_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(file) = &args.webhook_secret_file {
        let text = crate::text::read_bounded(file, 64 * 1024)
            .with_context(|| format!("cannot read the webhook secret file {}", file.display()))?;
        secrets.extend(
            text.lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
    }
    if secrets.is_empty() && !args.allow_unsigned {
        error!(
            "no webhook secret: set HERALD_WEBHOOK_SECRET=<the secret you gave the webhook in SuperOffice> \
             (comma-separated to rotate), or --webhook-secret-file FILE; for a local trial only, --allow-unsigned"
        );
        return Ok(None);
    }
    if secrets.is_empty() {
        warn!(
            "no webhook secret and --allow-unsigned: ANY request to /webhook is accepted; never run like this in production"
        );
    }
    Ok(Some(secrets))
}

fn warn_about_lease(args: &Args, config: &RuleSet) {
    let longest_timeout = config
        .channels
        .values()
        .map(|c| c.timeout)
        .max()
        .unwrap_or_default();
    if args.lease < longest_timeout.saturating_mul(2) {
        warn!(
            lease_ms = store::millis(args.lease),
            timeout_ms = store::millis(longest_timeout),
            "--lease is less than twice a channel's timeout: a slow send may be sent twice"
        );
    }
}

/// Opens the store to serve: a SQLite file is locked for this process; PostgreSQL takes the
/// pool settings.
async fn open_store(args: &Args) -> anyhow::Result<Arc<dyn Store>> {
    let url = &args.db.db;
    let opened = if url.starts_with("sqlite:") {
        store::open(url, Mode::Serve).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let settings = store::postgres::Settings {
            max_connections: args.db_pool,
            statement_timeout: args.db_timeout,
            acquire_timeout: args.db_timeout,
        };
        store::postgres::PgStore::open(url, &settings)
            .await
            .map(|s| Arc::new(s) as Arc<dyn Store>)
    } else {
        store::open(url, Mode::Serve).await
    };
    let redacted = crate::secret::Redactor::new([url.clone()]);
    opened.with_context(|| {
        format!(
            "cannot open the database {}",
            redacted.redact(&db_shown(url))
        )
    })
}

/// The database URL without its password, for messages.
fn db_shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn watch_config(args: &Args, reloader: &Arc<Reloader>, stop: &watch::Receiver<bool>) {
    if !args.no_watch {
        tokio::spawn(reloader.clone().watch(Duration::from_secs(1), stop.clone()));
    }
    #[cfg(unix)]
    tokio::spawn(reloader.clone().on_sighup());
}

fn app_state(
    args: &Args,
    secrets: Vec<String>,
    live: Arc<Live>,
    dispatcher: Arc<Dispatcher>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    reloader: Arc<Reloader>,
) -> Arc<AppState> {
    let token = std::env::var("HERALD_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(crate::secret::Secret::new);
    let look = reloader.reloaded.clone();
    Arc::new(AppState {
        verifier: Verifier::new(secrets),
        live,
        dispatcher,
        dedup_window: args.dedup_window,
        store,
        metrics,
        reloader,
        admin: Admin {
            token,
            allow: args.admin_allow.0.clone(),
        },
        max_body: args.max_body,
        bodies: ingress::BodyBudget::new(args.max_bodies_in_flight.max(args.max_body)),
        body_timeout: args.body_timeout,
        rejected_log: crate::ops::LogThrottle::new(Duration::from_secs(10)),
        browsers: ingress::browser::Browsers::new(
            args.allowed_host
                .iter()
                .cloned()
                .chain(
                    args.public_url
                        .as_ref()
                        .and_then(|u| u.host_str().map(str::to_string)),
                )
                .collect(),
            args.trusted_proxies.0.clone(),
        ),
        superoffice_look: look,
        started: jiff::Timestamp::now(),
        probes: Default::default(),
        watchdog: Default::default(),
    })
}

/// Serves HTTP until SIGTERM or SIGINT.
async fn listen(args: &Args, config: &RuleSet, state: Arc<AppState>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let limits = server::Limits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: lifecycle::fit_connections(args.max_connections),
    };
    info!(
        addr = %listener.local_addr()?,
        rules = config.rules.len(),
        channels = config.channels.len(),
        file = %config.file.display(),
        "listening"
    );
    let app = ingress::router(state);
    let grace = args.shutdown_grace;
    server::serve(listener, app, limits, lifecycle::shutdown_signal(), grace).await;
    Ok(())
}

/// Lets sends in flight finish within the grace, then settles the store's files.
async fn finish(dispatcher: &Dispatcher, store: &dyn Store, grace: Duration) {
    drain(dispatcher, grace).await;
    if let Err(e) = store.settle().await {
        warn!(error = %e, "the store's files were not settled; the next start finishes it");
    }
}

/// Lets sends in flight finish within the grace.
async fn drain(dispatcher: &Dispatcher, grace: Duration) {
    let in_flight = dispatcher.in_flight();
    if in_flight == 0 {
        return;
    }
    info!(
        in_flight,
        grace_ms = store::millis(grace),
        "waiting for sends in flight"
    );
    if !dispatcher.drain(grace).await {
        warn!(
            in_flight = dispatcher.in_flight(),
            "shutdown grace ran out; unfinished sends are retried at the next start"
        );
    }
}
