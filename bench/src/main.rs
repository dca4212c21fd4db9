//! herald-bench: load for herald, with figures.
//!
//! Starts herald (one replica on SQLite, or N replicas on PostgreSQL) with one unpaced webhook
//! channel pointing at a local sink, fires N distinct signed events from C concurrent senders
//! (as fast as they are accepted, then at a set rate), and prints events acknowledged per
//! second, deliveries per second, event-to-delivery latency, lost and duplicate counts and
//! herald's peak RSS. The floor is a bare axum endpoint that only verifies the signature.
//!
//!     cargo build --release --workspace
//!     cargo run --release -p herald-bench -- --events 20000
//!     cargo run --release -p herald-bench -- --compare-stores postgres://postgres@127.0.0.1:5432/postgres
//!     cargo run --release -p herald-bench -- --versus-alertmanager --rounds 3

mod load;
mod sink;
mod system;
mod versus;

/// The webhook secret herald and the load share (and the floor's endpoint checks).
pub const SECRET: &str = "bench-secret";

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

use load::{Report, fire, make_events, wait_for_deliveries};
use sink::Arrivals;
use system::{Db, Herald, Launch, cpu_seconds};

#[derive(Parser, Debug, Clone)]
#[command(about = "Load herald and print throughput, latency and memory figures")]
struct Args {
    /// Events in the throughput run.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Events per second in the latency run.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds the latency run lasts.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The herald binary (default: beside this one).
    #[arg(long)]
    herald: Option<PathBuf>,
    /// herald's --concurrency (sends at once, per replica).
    #[arg(long, default_value_t = 64)]
    sends: usize,
    /// `sqlite`, or a PostgreSQL server's URL (a fresh database is made for the run).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Replicas (PostgreSQL only); the senders spread events over them.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Runs SQLite, PostgreSQL with 1 replica and with 2 replicas, in that order, in the same
    /// run, on the PostgreSQL server at this URL, and prints them side by side.
    #[arg(long, value_name = "POSTGRES_URL")]
    compare_stores: Option<String>,
    /// Runs herald (SQLite) and Prometheus Alertmanager interleaved, --rounds times each, on the
    /// same load and sink, and prints medians and per-round ratios.
    #[arg(long)]
    versus_alertmanager: bool,
    /// Rounds of each system with --versus-alertmanager, or of each setting with
    /// --compare-keep-sent.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A flag for every herald started (repeat it): `--herald-arg=--keep-sent=0`.
    #[arg(long, allow_hyphen_values = true, value_name = "ARG")]
    herald_arg: Vec<String>,
    /// Where the sink runs with --versus-alertmanager: `task` on the load generator's runtime,
    /// beside the senders, or `thread`, a thread and runtime of its own.
    #[arg(long, value_enum, default_value = "task")]
    sink: sink::Placement,
    /// Runs herald (SQLite) keeping what it sent (the default 64 KiB) and with
    /// `--keep-sent 0`, interleaved, --rounds times each, and prints them side by side.
    #[arg(long)]
    compare_keep_sent: bool,
}

/// The figures of one configuration.
struct Figures {
    name: String,
    acked_per_s: f64,
    delivered_per_s: f64,
    saturated: Report,
    steady: Report,
    rss_mb: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ::herald::install_crypto_provider();
    let args = Args::parse();
    let bin = args.herald.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("own path")
            .with_file_name("herald")
    });
    println!(
        "herald-bench: {} cores, herald {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bin.display()
    );
    if args.versus_alertmanager {
        let settings = versus::Settings {
            events: args.events,
            concurrency: args.concurrency,
            rate: args.rate,
            seconds: args.seconds,
            sends: args.sends,
            rounds: args.rounds,
            sink: args.sink,
        };
        return versus::compare(&settings, &bin).await;
    }
    let floor = floor(&args).await;
    if args.compare_keep_sent {
        return keep_sent(&args, &bin, floor).await;
    }
    let configs = match &args.compare_stores {
        Some(pg) => vec![
            (Db::Sqlite, 1),
            (Db::Postgres(pg.clone()), 1),
            (Db::Postgres(pg.clone()), 2),
        ],
        None if args.db == "sqlite" => vec![(Db::Sqlite, 1)],
        None => vec![(Db::Postgres(args.db.clone()), args.replicas)],
    };
    let mut all = Vec::new();
    for (db, replicas) in configs {
        all.push(measure(&args, &bin, &db, replicas, floor).await?);
    }
    if all.len() > 1 {
        table(&all);
    }
    Ok(())
}

/// Requests per second a bare endpoint that only checks signatures takes.
async fn floor(args: &Args) -> f64 {
    let addr = sink::floor().await;
    let bodies = make_events(args.events, "floor");
    let run = fire(
        &[format!("http://{addr}/webhook")],
        &bodies,
        args.concurrency,
        None,
    )
    .await;
    println!(
        "\nfloor (axum + signature check only): {} requests in {:.2}s = {:.0} req/s",
        run.acked,
        run.elapsed.as_secs_f64(),
        run.per_second()
    );
    run.per_second()
}

async fn measure(
    args: &Args,
    bin: &std::path::Path,
    db: &Db,
    replicas: usize,
    floor: f64,
) -> anyhow::Result<Figures> {
    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::with_capacity(args.events * 2)));
    let sink = sink::sink(arrivals.clone()).await;
    let launch = Launch {
        sends: args.sends,
        extra: args.herald_arg.clone(),
    };
    let herald = Herald::start(bin, db, replicas, &launch, sink).await?;
    let name = match args.herald_arg.is_empty() {
        true => db.name(replicas),
        false => format!("{} ({})", db.name(replicas), args.herald_arg.join(" ")),
    };

    let bodies = make_events(args.events, "throughput");
    let started = Instant::now();
    let cpu_before: f64 = herald.pids().into_iter().map(cpu_seconds).sum();
    let run = fire(&herald.urls, &bodies, args.concurrency, None).await;
    let delivered = wait_for_deliveries(&arrivals, run.acked, Duration::from_secs(180)).await;
    let cpu: f64 = herald.pids().into_iter().map(cpu_seconds).sum::<f64>() - cpu_before;
    let last = arrivals
        .lock()
        .unwrap()
        .last()
        .map(|(_, t)| *t)
        .unwrap_or(started);
    let saturated = Report::new(&run, &arrivals.lock().unwrap());
    let delivered_per_s = delivered as f64 / (last - started).as_secs_f64();
    println!(
        "\n{name}: {} events, {} senders, as fast as accepted",
        args.events, args.concurrency
    );
    println!(
        "  acknowledged      {:>8} in {:.2}s = {:.0} events/s ({:.0}% of the floor)",
        run.acked,
        run.elapsed.as_secs_f64(),
        run.per_second(),
        100.0 * run.per_second() / floor
    );
    println!(
        "  delivered         {delivered:>8} = {delivered_per_s:.0} deliveries/s (first request to last delivery)"
    );
    println!(
        "  herald's CPU      {:>8.0} µs per event (all replicas, user and system)",
        1e6 * cpu / run.acked.max(1) as f64
    );
    saturated.print();

    arrivals.lock().unwrap().clear();
    let n = (args.rate * args.seconds) as usize;
    let steady_run = fire(
        &herald.urls,
        &make_events(n, "latency"),
        args.concurrency,
        Some(args.rate),
    )
    .await;
    wait_for_deliveries(&arrivals, steady_run.acked, Duration::from_secs(60)).await;
    let steady = Report::new(&steady_run, &arrivals.lock().unwrap());
    println!("  at {} events/s for {} s:", args.rate, args.seconds);
    steady.print();
    let rss_mb = herald.peak_rss_mb();
    println!("  peak RSS          {rss_mb:>8.1} MB (largest replica)");
    Ok(Figures {
        name,
        acked_per_s: run.per_second(),
        delivered_per_s,
        saturated,
        steady,
        rss_mb,
    })
}

fn table(all: &[Figures]) {
    println!(
        "\n| store | acknowledged/s | delivered/s | p50 / p99 at the steady rate | lost | duplicates | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for f in all {
        println!(
            "| {} | {:.0} | {:.0} | {:.1} / {:.1} ms | {} | {} | {:.1} MB |",
            f.name,
            f.acked_per_s,
            f.delivered_per_s,
            f.steady.ms(0.5),
            f.steady.ms(0.99),
            f.saturated.lost + f.steady.lost,
            f.saturated.duplicates + f.steady.duplicates,
            f.rss_mb
        );
    }
}

/// What keeping each request herald sends costs: the same load with it (the default) and
/// without (`--keep-sent 0`), interleaved so that a noisy machine weighs on both alike.
async fn keep_sent(args: &Args, bin: &std::path::Path, floor: f64) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for round in 1..=args.rounds {
        println!("\nround {round}");
        for extra in [vec![], vec!["--keep-sent".to_string(), "0".to_string()]] {
            let herald_arg = args.herald_arg.iter().cloned().chain(extra).collect();
            let with = Args {
                herald_arg,
                ..args.clone()
            };
            all.push(measure(&with, bin, &Db::Sqlite, 1, floor).await?);
        }
    }
    table(&all);
    Ok(())
}
