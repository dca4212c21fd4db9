//! `herald serve`: the service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::{error, info, warn};

use crate::config::decode::parse_duration;
use crate::delivery::{Dispatcher, Settings};
use crate::ingress::signature::Verifier;
use crate::ingress::{self, Admin, AppState, server};
use crate::metrics::Metrics;
use crate::ops::Net;
use crate::ops::reload::{Reloader, Source};
use crate::store::{self, writer::Writer};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: super::RulesArg,
    #[command(flatten)]
    pub db: super::DbArg,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(
        long,
        env = "HERALD_LISTEN",
        hide_env_values = true,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// A file with webhook secrets, one per line (any one verifies). Secrets may also come from
    /// HERALD_WEBHOOK_SECRET, comma-separated.
    #[arg(
        long,
        env = "HERALD_WEBHOOK_SECRET_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub webhook_secret_file: Option<PathBuf>,
    /// Accept unsigned webhooks when no secret is set. For trials on a laptop only.
    #[arg(long, env = "HERALD_ALLOW_UNSIGNED", hide_env_values = true)]
    pub allow_unsigned: bool,
    /// Largest webhook body accepted (bytes, or with KiB / MiB); larger ones get 413.
    #[arg(long, env = "HERALD_MAX_BODY", hide_env_values = true, default_value = "1MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: usize,
    /// How many messages are sent at once, over all channels.
    #[arg(
        long,
        env = "HERALD_CONCURRENCY",
        hide_env_values = true,
        default_value_t = 16,
        value_name = "N"
    )]
    pub concurrency: usize,
    /// How long an EventId is remembered, so that a repeat is delivered once.
    #[arg(long, env = "HERALD_DEDUP_WINDOW", hide_env_values = true, default_value = "7d", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub dedup_window: Duration,
    /// How long events and finished deliveries are kept (at least the dedup window).
    #[arg(long, env = "HERALD_RETENTION", hide_env_values = true, default_value = "30d", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub retention: Duration,
    /// How long a delivery being sent is reserved; if herald dies, it is sent again after this.
    /// Keep it well above the channels' timeouts.
    #[arg(long, env = "HERALD_LEASE", hide_env_values = true, default_value = "60s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub lease: Duration,
    /// A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment;
    /// re-read at every reload, so a changed value takes effect without a restart.
    #[arg(
        long,
        env = "HERALD_ENV_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub env_file: Option<PathBuf>,
    /// Addresses allowed to call POST /-/reload without the admin token (HERALD_ADMIN_TOKEN),
    /// comma-separated networks.
    /// An empty list allows no address: only the token.
    #[arg(
        long,
        env = "HERALD_ADMIN_ALLOW",
        hide_env_values = true,
        default_value = "127.0.0.0/8,::1/128",
        value_parser = parse_nets,
        value_name = "NETS"
    )]
    pub admin_allow: Nets,
    /// Do not watch the rules file and templates for changes (SIGHUP and /-/reload still work).
    #[arg(long, env = "HERALD_NO_WATCH", hide_env_values = true)]
    pub no_watch: bool,
    /// On SIGTERM or SIGINT, how long sends in flight may take to finish.
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers; also how long an idle
    /// keep-alive connection is kept.
    #[arg(long, env = "HERALD_HEADER_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub header_timeout: Duration,
    /// How long a client may take to send a webhook's body; a slower one gets 408.
    #[arg(long, env = "HERALD_BODY_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub body_timeout: Duration,
    /// A connection on which nothing moves either way for this long is closed.
    #[arg(long, env = "HERALD_IDLE_TIMEOUT", hide_env_values = true, default_value = "30s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub idle_timeout: Duration,
    /// Connections served at once; more wait until one closes. Lowered to fit the process's
    /// file-descriptor limit.
    #[arg(
        long,
        env = "HERALD_MAX_CONNECTIONS",
        hide_env_values = true,
        default_value_t = 4096,
        value_name = "N"
    )]
    pub max_connections: usize,
    /// Bytes of webhook bodies held at once, over all requests (bytes, or with KiB / MiB); a
    /// request that finds no room within the body timeout gets 503.
    #[arg(long, env = "HERALD_MAX_BODIES_IN_FLIGHT", hide_env_values = true, default_value = "32MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_bodies_in_flight: usize,
}

/// Comma-separated networks; empty for none.
#[derive(Debug, Clone)]
pub struct Nets(pub Vec<Net>);

fn parse_nets(s: &str) -> Result<Nets, String> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map(Nets)
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration like 500ms, 10s, 2m or 24h"))
}

/// `1048576`, `512KiB`, `1MiB`, `2MB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 1048576, 512KiB or 1MiB"))?;
    let too_big = || format!("{s:?} is too large");
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use KiB or MiB)")),
    };
    n.checked_mul(factor).ok_or_else(too_big)
}

fn secrets(args: &Args) -> anyhow::Result<Vec<String>> {
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
    Ok(secrets)
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = Source {
        rules: args.rules.rules.clone(),
        env_file: args.env_file.clone(),
    };
    let config = match source.load() {
        Ok(c) => Arc::new(c),
        Err(problems) => {
            for p in &problems.items {
                error!("{p}");
            }
            error!(
                problems = problems.items.len(),
                "the rules file has problems; not starting (run `herald check` for the list)"
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let secrets = secrets(&args)?;
    if secrets.is_empty() && !args.allow_unsigned {
        error!(
            "no webhook secret: set HERALD_WEBHOOK_SECRET=<the secret you gave the webhook in SuperOffice> \
             (comma-separated to rotate), or --webhook-secret-file FILE; for a local trial only, --allow-unsigned"
        );
        return Ok(ExitCode::FAILURE);
    }
    if secrets.is_empty() {
        warn!(
            "no webhook secret and --allow-unsigned: ANY request to /webhook is accepted; never run like this in production"
        );
    }
    let store = store::open(&args.db.db)
        .await
        .with_context(|| format!("cannot open the database {}", args.db.db))?;
    let writer = Writer::spawn(store.clone(), 512);
    let settings = Settings {
        concurrency: args.concurrency,
        lease: args.lease,
        poll: Duration::from_millis(200),
    };
    let longest_timeout = config
        .channels
        .values()
        .map(|c| c.timeout)
        .max()
        .unwrap_or_default();
    if args.lease < longest_timeout * 2 {
        warn!(
            lease_ms = args.lease.as_millis() as u64,
            timeout_ms = longest_timeout.as_millis() as u64,
            "--lease is less than twice a channel's timeout: a slow send may be sent twice"
        );
    }
    let metrics = Arc::new(Metrics::new());
    let dispatcher = Dispatcher::new(
        config.clone(),
        store.clone(),
        writer.clone(),
        settings,
        metrics.clone(),
    )?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(dispatcher.clone().run(stop_rx.clone()));
    let reloader = Reloader::new(source, dispatcher.clone(), metrics.clone());
    if !args.no_watch {
        tokio::spawn(
            reloader
                .clone()
                .watch(Duration::from_secs(1), stop_rx.clone()),
        );
    }
    #[cfg(unix)]
    tokio::spawn(reloader.clone().on_sighup());
    tokio::spawn(purge_loop(
        store.clone(),
        args.retention.max(args.dedup_window),
        stop_rx,
    ));
    let admin_token = std::env::var("HERALD_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(crate::secret::Secret::new);
    let state = Arc::new(AppState {
        verifier: Verifier::new(secrets),
        writer,
        dispatcher: dispatcher.clone(),
        dedup_window: args.dedup_window,
        store: store.clone(),
        metrics,
        reloader,
        admin: Admin {
            token: admin_token,
            allow: args.admin_allow.0.clone(),
        },
        max_body: args.max_body,
        bodies: ingress::BodyBudget::new(args.max_bodies_in_flight.max(args.max_body)),
        body_timeout: args.body_timeout,
        rejected_log: crate::ops::Throttle::new(Duration::from_secs(10)),
    });
    let app = ingress::router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let limits = server::Limits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: fit_connections(args.max_connections),
    };
    let addr = listener.local_addr()?;
    info!(
        addr = %addr,
        rules = config.rules.len(),
        channels = config.channels.len(),
        file = %config.file.display(),
        "listening"
    );
    server::serve(
        listener,
        app,
        limits,
        shutdown_signal(),
        args.shutdown_grace,
    )
    .await;
    let _ = stop_tx.send(true);
    let _ = running.await;
    let in_flight = dispatcher.in_flight();
    if in_flight > 0 {
        info!(
            in_flight,
            grace_ms = args.shutdown_grace.as_millis() as u64,
            "waiting for sends in flight"
        );
        if !dispatcher.drain(args.shutdown_grace).await {
            warn!(
                in_flight = dispatcher.in_flight(),
                "shutdown grace ran out; unfinished sends are retried at the next start"
            );
        }
    }
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Deletes old events and their finished deliveries, hourly.
async fn purge_loop(
    store: Arc<dyn store::Store>,
    keep: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let before = store::now_ms() - keep.as_millis() as i64;
        match store.purge(before).await {
            Ok(0) => {}
            Ok(n) => info!(events = n, "purged old events"),
            Err(e) => warn!(error = %e, "cannot purge old events"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// File descriptors kept for the store, outgoing connections and files, beyond client
/// connections.
const RESERVED_FDS: u64 = 256;

/// Raises the soft file-descriptor limit to the hard one, and lowers `wanted` connections to
/// what then fits, so that a flood of connections cannot starve the store of descriptors.
fn fit_connections(wanted: usize) -> usize {
    let limit = raise_fd_limit();
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if wanted > fits {
        warn!(
            wanted,
            serving = fits,
            fd_limit = limit,
            "--max-connections lowered to fit the file-descriptor limit (raise LimitNOFILE / ulimit -n)"
        );
    }
    wanted.min(fits)
}

#[cfg(unix)]
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

#[cfg(not(unix))]
fn raise_fd_limit() -> u64 {
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_networks_may_be_none_for_a_token_only_policy() {
        assert!(parse_nets("").unwrap().0.is_empty());
        assert_eq!(parse_nets("127.0.0.0/8, ::1/128").unwrap().0.len(), 2);
        assert!(parse_nets("not-a-net").is_err());
    }

    #[test]
    fn sizes_parse_with_units_and_never_overflow() {
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert!(parse_size("99999999999999999999MiB").is_err());
        assert!(parse_size("18446744073709551615MiB").is_err());
    }
}
