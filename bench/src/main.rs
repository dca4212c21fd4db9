//! herald-bench: load for a running herald, with figures.
//!
//! Starts `herald serve` on a fresh SQLite database with one unpaced webhook channel pointing
//! at a local sink, fires N distinct signed events from C concurrent senders (as fast as they
//! are accepted, or at a set rate), and prints events acknowledged per second, deliveries per
//! second, event-to-delivery latency, lost and duplicate counts and herald's peak RSS. In the
//! same run it fires the same requests at a bare axum endpoint that only verifies the
//! signature: the floor on this machine.
//!
//!     cargo build --release && cargo run --release -p herald-bench -- --events 20000

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use clap::Parser;
use herald::ingress::signature::{Verifier, sign};

const SECRET: &str = "bench-secret";

#[derive(Parser, Debug)]
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
    /// herald's --concurrency (sends at once).
    #[arg(long, default_value_t = 64)]
    sends: usize,
}

/// When each event id arrived at the sink, in arrival order.
type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald::install_crypto_provider();
    let args = Args::parse();
    let herald_bin = args.herald.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("own path")
            .with_file_name("herald")
    });
    println!(
        "herald-bench: {} cores, herald {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        herald_bin.display()
    );

    // The floor: a bare endpoint that verifies the signature and answers 200.
    let floor_addr = serve(
        Router::new()
            .route("/webhook", post(floor))
            .with_state(Arc::new(Verifier::new([SECRET.to_string()]))),
    )
    .await;
    let bodies = make_events(args.events, "floor");
    let floor = fire(
        &format!("http://{floor_addr}/webhook"),
        &bodies,
        args.concurrency,
        None,
    )
    .await;
    println!(
        "\nfloor (axum + signature check only): {} requests in {:.2}s = {:.0} req/s",
        floor.acked,
        floor.elapsed.as_secs_f64(),
        floor.per_second()
    );

    // The sink, standing in for a webhook destination.
    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::with_capacity(args.events * 2)));
    let sink_addr = serve(
        Router::new()
            .route("/sink", post(sink))
            .with_state(arrivals.clone()),
    )
    .await;

    let dir = tempfile_dir()?;
    std::fs::write(
        dir.join("rules.yaml"),
        format!(
            "channels:\n  sink:\n    type: webhook\n    url: http://{sink_addr}/sink\n    pace: off\nrules:\n  - name: all\n    events: quote.ordered\n    notify:\n      - {{ channel: sink, text: \"{{{{EventId}}}}\" }}\n"
        ),
    )?;
    let mut child = Command::new(&herald_bin)
        .current_dir(&dir)
        .args([
            "serve",
            "--rules",
            "rules.yaml",
            "--listen",
            "127.0.0.1:0",
            "--db",
            "sqlite://bench.db",
        ])
        .args(["--concurrency", &args.sends.to_string()])
        .env("HERALD_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn,herald::cli::serve=info")
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let addr = listening_addr(child.stderr.take().expect("piped"))?;
    let url = format!("http://{addr}/webhook");

    // Throughput: as fast as herald acknowledges.
    let bodies = make_events(args.events, "throughput");
    let started = Instant::now();
    let run = fire(&url, &bodies, args.concurrency, None).await;
    let delivered = wait_for_deliveries(&arrivals, run.acked, Duration::from_secs(120)).await;
    let last_delivery = arrivals
        .lock()
        .unwrap()
        .last()
        .map(|(_, t)| *t)
        .unwrap_or(started);
    let report = Report::new(&run, &arrivals.lock().unwrap());
    println!(
        "\nthroughput run: {} events, {} senders, as fast as accepted",
        args.events, args.concurrency
    );
    println!(
        "  acknowledged      {:>8} in {:.2}s = {:.0} events/s ({:.0}% of the floor)",
        run.acked,
        run.elapsed.as_secs_f64(),
        run.per_second(),
        100.0 * run.per_second() / floor.per_second()
    );
    println!(
        "  delivered         {:>8} in {:.2}s = {:.0} deliveries/s (first request to last delivery)",
        delivered,
        (last_delivery - started).as_secs_f64(),
        delivered as f64 / (last_delivery - started).as_secs_f64()
    );
    report.print();
    println!("  peak RSS          {:>8.1} MB", peak_rss_mb(pid));

    // Latency: a steady rate, well under capacity.
    arrivals.lock().unwrap().clear();
    let n = (args.rate * args.seconds) as usize;
    let bodies = make_events(n, "latency");
    let run = fire(&url, &bodies, args.concurrency, Some(args.rate)).await;
    wait_for_deliveries(&arrivals, run.acked, Duration::from_secs(60)).await;
    let report = Report::new(&run, &arrivals.lock().unwrap());
    println!("\nlatency run: {n} events at {} events/s", args.rate);
    println!(
        "  acknowledged      {:>8} in {:.2}s",
        run.acked,
        run.elapsed.as_secs_f64()
    );
    report.print();
    println!(
        "  peak RSS          {:>8.1} MB (whole run)",
        peak_rss_mb(pid)
    );

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn floor(State(v): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let sig = headers.get("x-superoffice-signature").map(|h| h.as_bytes());
    match v.verify(sig, body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

async fn sink(State(arrivals): State<Arrivals>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_string))
        .unwrap_or_default();
    arrivals.lock().unwrap().push((id, at));
    "ok"
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("herald-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn listening_addr(stderr: std::process::ChildStderr) -> anyhow::Result<SocketAddr> {
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split(" listening addr=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default().parse()?;
            // Keep draining herald's output so it never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok(addr);
        }
    }
    anyhow::bail!("herald exited before listening")
}

/// Signed bodies of distinct events: (event id, body, signature).
fn make_events(n: usize, run: &str) -> Vec<(String, Vec<u8>, String)> {
    (0..n)
        .map(|i| {
            let id = format!("{run}-{i:08}-{:x}", std::process::id());
            let body = serde_json::to_vec(&serde_json::json!({
                "EventId": id, "Timestamp": "2026-11-20T13:05:44.8352175Z", "Changes": [],
                "Event": "quote.ordered", "PrimaryKey": i, "Entity": "quote",
                "ContextIdentifier": "Cust12345", "ChangedByAssociateId": 37201, "WebhookName": "bench"
            }))
            .expect("json");
            let sig = sign(SECRET, &body);
            (id, body, sig)
        })
        .collect()
}

struct Run {
    acked: usize,
    elapsed: Duration,
    sent_at: HashMap<String, Instant>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }
}

/// Posts every body from `concurrency` senders; at `rate` events/s if given.
async fn fire(
    url: &str,
    bodies: &[(String, Vec<u8>, String)],
    concurrency: usize,
    rate: Option<u64>,
) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bodies = Arc::new(bodies.to_vec());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, bodies, url) = (
            client.clone(),
            next.clone(),
            bodies.clone(),
            url.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((id, body, sig)) = bodies.get(i) else {
                    break;
                };
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let at = Instant::now();
                let ok = client
                    .post(&url)
                    .header("X-SuperOffice-Signature", sig)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ok {
                    sent.push((id.clone(), at));
                }
            }
            sent
        }));
    }
    let mut sent_at = HashMap::new();
    for t in tasks {
        sent_at.extend(t.await.expect("sender"));
    }
    Run {
        acked: sent_at.len(),
        elapsed: started.elapsed(),
        sent_at,
    }
}

async fn wait_for_deliveries(arrivals: &Arrivals, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let got = arrivals.lock().unwrap().len();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Report {
    lost: usize,
    duplicates: usize,
    latencies: Vec<Duration>,
}

impl Report {
    fn new(run: &Run, arrivals: &[(String, Instant)]) -> Report {
        let mut seen: HashMap<&str, Instant> = HashMap::new();
        let mut duplicates = 0;
        for (id, at) in arrivals {
            if seen.insert(id, *at).is_some() {
                duplicates += 1;
            }
        }
        let mut latencies: Vec<Duration> = run
            .sent_at
            .iter()
            .filter_map(|(id, sent)| {
                seen.get(id.as_str())
                    .map(|at| at.saturating_duration_since(*sent))
            })
            .collect();
        latencies.sort();
        Report {
            lost: run
                .sent_at
                .keys()
                .filter(|id| !seen.contains_key(id.as_str()))
                .count(),
            duplicates,
            latencies,
        }
    }

    fn print(&self) {
        let pct = |p: f64| {
            self.latencies
                .get(
                    ((self.latencies.len() as f64 * p) as usize)
                        .min(self.latencies.len().saturating_sub(1)),
                )
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "  latency (event sent to delivered)  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
        println!("  lost {}  duplicates {}", self.lost, self.duplicates);
    }
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
