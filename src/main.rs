//! The `herald` binary: parse the command line, set up logging, run, map to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: herald allocates many small, short-lived buffers per request; glibc's allocator
/// spent a fifth of the service's CPU on them under load (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use herald::cli::{
    Cli, Command, check, deliveries, docs, events, health, replay, schema, send, send_test, serve,
    simulate, superoffice, test,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs what it does; the tools only what goes wrong.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = std::io::stderr().is_terminal() && cli.log_format != "json";
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(herald::ops::logs::Stderr { ansi });
    if cli.log_format == "json" {
        logs.json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        logs.with_ansi(ansi).init();
    }
    herald::install_crypto_provider();

    let result = match cli.command {
        Command::Check(args) => check::run(args, &mut std::io::stdout()),
        Command::Simulate(args) => block_on(simulate::run(args, &mut std::io::stdout())),
        Command::Test(args) => block_on(test::run(args, &mut std::io::stdout())),
        Command::Serve(args) => {
            let workers = args
                .workers
                .map_or_else(serve::default_workers, usize::from);
            run_on(Some(workers), serve::run(*args))
        }
        Command::Send(args) => block_on(send::run(args)),
        Command::SendTest(args) => block_on(send_test::run(args, &mut std::io::stdout())),
        Command::Events(args) => block_on(events::run(args)),
        Command::Deliveries(args) => block_on(deliveries::run(args)),
        Command::Replay(args) => block_on(replay::run(args)),
        Command::Health(args) => block_on(health::run(args)),
        Command::Superoffice(args) => block_on(superoffice::run(args, &mut std::io::stdout())),
        Command::Schema(args) => schema::run(args, &mut std::io::stdout()),
        Command::Completions(args) => docs::completions(args, &mut std::io::stdout()),
        Command::Manpage(args) => docs::manpage(args, &mut std::io::stdout()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("herald: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command on a runtime of its own. At the end, a blocking thread stuck on a hung
/// mount is left behind instead of waited for, so that the process always exits.
fn block_on(
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    run_on(None, command)
}

/// [`block_on`] with `workers` threads running tasks (tokio's default, one per core, if none).
fn run_on(
    workers: Option<usize>,
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build()?;
    let result = rt.block_on(command);
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
