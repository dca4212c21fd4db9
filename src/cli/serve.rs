//! `herald serve`: the service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::{error, info, warn};

use crate::delivery::retry::RetryPolicy;
use crate::delivery::{Deliverer, Queue};
use crate::ingress::dedup::Dedup;
use crate::ingress::signature::Verifier;
use crate::ingress::{self, AppState};
use crate::rules;
use crate::rules::decode::parse_duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: super::RulesArg,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(
        long,
        env = "HERALD_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// A file with webhook secrets, one per line (any one verifies). Secrets may also come from
    /// HERALD_WEBHOOK_SECRET, comma-separated.
    #[arg(long, env = "HERALD_WEBHOOK_SECRET_FILE", value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Accept unsigned webhooks when no secret is set. For trials on a laptop only.
    #[arg(long, env = "HERALD_ALLOW_UNSIGNED")]
    pub allow_unsigned: bool,
    /// Largest webhook body accepted (bytes, or with KiB / MiB); larger ones get 413.
    #[arg(long, env = "HERALD_MAX_BODY", default_value = "1MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: usize,
    /// How many messages are sent at once, over all channels.
    #[arg(
        long,
        env = "HERALD_CONCURRENCY",
        default_value_t = 16,
        value_name = "N"
    )]
    pub concurrency: usize,
    /// How many messages may wait in memory; beyond it webhooks get 503 and SuperOffice retries.
    #[arg(
        long,
        env = "HERALD_QUEUE_CAPACITY",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub queue_capacity: usize,
    /// How long an EventId is remembered, so that a repeat is delivered once.
    #[arg(long, env = "HERALD_DEDUP_WINDOW", default_value = "24h", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub dedup_window: Duration,
    /// On SIGTERM or SIGINT, how long sends in flight may take to finish.
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub shutdown_grace: Duration,
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
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use KiB or MiB)")),
    };
    Ok(n * factor)
}

fn secrets(args: &Args) -> anyhow::Result<Vec<String>> {
    let mut secrets: Vec<String> = std::env::var("HERALD_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(file) = &args.webhook_secret_file {
        let text = std::fs::read_to_string(file)
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
    let config = match rules::load(&args.rules.rules) {
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
    let deliverer = Arc::new(Deliverer::new(
        config.clone(),
        RetryPolicy::default(),
        args.concurrency,
    )?);
    let queue = Queue::new(deliverer, args.queue_capacity.max(1));
    let state = Arc::new(AppState {
        config: config.clone(),
        verifier: Verifier::new(secrets),
        dedup: Dedup::new(args.dedup_window, 1_000_000),
        queue: queue.clone(),
    });
    let app = ingress::router(state, args.max_body);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    info!(
        addr = %addr,
        rules = config.rules.len(),
        channels = config.channels.len(),
        file = %config.file.display(),
        "listening"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the HTTP server failed")?;
    let pending = queue.in_flight();
    if pending > 0 {
        info!(
            pending,
            grace_ms = args.shutdown_grace.as_millis() as u64,
            "waiting for messages in flight"
        );
        if !queue.drain(args.shutdown_grace).await {
            warn!(
                lost = queue.in_flight(),
                "shutdown grace ran out; messages still in flight are dropped"
            );
        }
    }
    info!("stopped");
    Ok(ExitCode::SUCCESS)
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
    info!("shutting down: no new webhooks accepted");
}
