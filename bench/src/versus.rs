//! herald against Prometheus Alertmanager, side by side: the same N distinct events (for
//! Alertmanager one alert each, `group_by: ['...']`, `group_wait: 0s`, a webhook receiver),
//! the same sink, the same senders, run interleaved (herald, Alertmanager, herald, …) because
//! this machine is shared and noisy; each figure's median over the rounds, and the median and
//! spread of the per-round ratios.
//!
//! Alertmanager comes from Debian's `prometheus-alertmanager` package; it is installed when
//! missing (as root, with apt-get), and the harness says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::load::{Body, Report, fire, make_events, wait_for_deliveries};
use crate::sink::{self, Arrivals};
use crate::system::{Db, Herald, Launch, cpu_seconds, peak_rss_mb};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// One system's figures in one round.
#[derive(Clone, Copy, Default)]
pub struct Round {
    pub acked_per_s: f64,
    pub delivered_per_s: f64,
    pub steady_p99_ms: f64,
    pub steady_p50_ms: f64,
    pub lost: usize,
    pub duplicates: usize,
    pub rss_mb: f64,
    /// The system's own CPU time per acknowledged event in the saturated run, µs.
    pub cpu_us_per_event: f64,
    /// The same for this process: the senders and the sink, which share the machine.
    pub load_cpu_us_per_event: f64,
}

pub struct Settings {
    pub events: usize,
    pub concurrency: usize,
    pub rate: u64,
    pub seconds: u64,
    pub sends: usize,
    pub rounds: usize,
    pub sink: sink::Placement,
}

pub async fn compare(s: &Settings, bin: &Path) -> anyhow::Result<()> {
    ensure_installed()?;
    let (mut herald, mut am) = (Vec::new(), Vec::new());
    for round in 1..=s.rounds {
        println!("\nround {round} of {}", s.rounds);
        herald.push(herald_round(s, bin).await?);
        print_round("herald", herald.last().unwrap());
        am.push(alertmanager_round(s).await?);
        print_round("Alertmanager", am.last().unwrap());
    }
    summary(&herald, &am);
    Ok(())
}

fn ensure_installed() -> anyhow::Result<()> {
    if Path::new(ALERTMANAGER).exists() {
        return Ok(());
    }
    println!("prometheus-alertmanager is missing: installing Debian's package (apt-get)");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager"])
        .status()?
        .success();
    anyhow::ensure!(ok, "could not install prometheus-alertmanager");
    Ok(())
}

/// A throughput run and a steady-rate run against one system, measured at the sink.
async fn run(
    s: &Settings,
    urls: &[String],
    arrivals: &Arrivals,
    bodies: (Vec<Body>, Vec<Body>),
    pid: u32,
) -> Round {
    let started = Instant::now();
    let (cpu_before, load_before) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let burst = fire(urls, &bodies.0, s.concurrency, None).await;
    let delivered = wait_for_deliveries(arrivals, burst.acked, Duration::from_secs(180)).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    let load_cpu = cpu_seconds(std::process::id()) - load_before;
    let last = arrivals.lock().unwrap().last().map_or(started, |(_, t)| *t);
    let saturated = Report::new(&burst, &arrivals.lock().unwrap());
    arrivals.lock().unwrap().clear();
    let steady_run = fire(urls, &bodies.1, s.concurrency, Some(s.rate)).await;
    wait_for_deliveries(arrivals, steady_run.acked, Duration::from_secs(60)).await;
    let steady = Report::new(&steady_run, &arrivals.lock().unwrap());
    Round {
        acked_per_s: burst.per_second(),
        delivered_per_s: delivered as f64 / (last - started).as_secs_f64(),
        steady_p50_ms: steady.ms(0.5),
        steady_p99_ms: steady.ms(0.99),
        lost: saturated.lost + steady.lost,
        duplicates: saturated.duplicates + steady.duplicates,
        rss_mb: peak_rss_mb(pid),
        cpu_us_per_event: 1e6 * cpu / burst.acked.max(1) as f64,
        load_cpu_us_per_event: 1e6 * load_cpu / burst.acked.max(1) as f64,
    }
}

async fn herald_round(s: &Settings, bin: &Path) -> anyhow::Result<Round> {
    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::with_capacity(s.events * 2)));
    let sink = sink::placed(arrivals.clone(), s.sink).await;
    let launch = Launch {
        sends: s.sends,
        extra: Vec::new(),
    };
    let herald = Herald::start(bin, &Db::Sqlite, 1, &launch, sink).await?;
    let steady = (s.rate * s.seconds) as usize;
    let bodies = (
        make_events(s.events, "vs"),
        make_events(steady, "vs-steady"),
    );
    let pid = herald.pids()[0];
    Ok(run(s, &herald.urls, &arrivals, bodies, pid).await)
}

async fn alertmanager_round(s: &Settings) -> anyhow::Result<Round> {
    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::with_capacity(s.events * 2)));
    let sink = sink::placed(arrivals.clone(), s.sink).await;
    let am = Alertmanager::start(sink)?;
    let url = format!("http://{}/api/v2/alerts", am.addr);
    wait_up(&format!("http://{}/-/ready", am.addr)).await?;
    let steady = (s.rate * s.seconds) as usize;
    let bodies = (alerts(s.events, "am"), alerts(steady, "am-steady"));
    Ok(run(s, &[url], &arrivals, bodies, am.child.id()).await)
}

/// One alert per event, labelled with its id: `[{"labels": {…}}]`.
fn alerts(n: usize, run: &str) -> Vec<Body> {
    make_events(n, run)
        .into_iter()
        .map(|(id, _, sig)| {
            let body = serde_json::json!([{
                "labels": {"alertname": "quote.ordered", "EventId": id, "ContextIdentifier": "Cust12345"},
                "annotations": {"summary": format!("quote {id} ordered")},
            }]);
            (id, serde_json::to_vec(&body).expect("json"), sig)
        })
        .collect()
}

async fn wait_up(url: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if reqwest::get(url).await.is_ok_and(|r| r.status() == 200) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("Alertmanager did not become ready")
}

struct Alertmanager {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Alertmanager {
    fn start(sink: SocketAddr) -> anyhow::Result<Alertmanager> {
        let dir = std::env::temp_dir().join(format!("herald-bench-am-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config = format!(
            "route:\n  receiver: sink\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1h\n  repeat_interval: 24h\nreceivers:\n  - name: sink\n    webhook_configs:\n      - url: http://{sink}/sink\n        send_resolved: false\n"
        );
        std::fs::write(dir.join("alertmanager.yml"), config)?;
        let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Alertmanager { child, addr, dir })
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn print_round(name: &str, r: &Round) {
    println!(
        "  {name:<13} acknowledged {:>6.0}/s  delivered {:>6.0}/s  CPU {:>4.0} µs/event  at the steady rate p50 {:.1} ms p99 {:.1} ms  lost {} dup {}  peak RSS {:.1} MB",
        r.acked_per_s,
        r.delivered_per_s,
        r.cpu_us_per_event,
        r.steady_p50_ms,
        r.steady_p99_ms,
        r.lost,
        r.duplicates,
        r.rss_mb
    );
}

/// One figure of a round.
type Figure = fn(&Round) -> f64;

/// The middle value; with an even count, the mean of the two middle ones.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn summary(herald: &[Round], am: &[Round]) {
    let pick = |rs: &[Round], f: Figure| median(rs.iter().map(f).collect());
    let ratios = |f: Figure| -> (f64, f64, f64) {
        let r: Vec<f64> = herald.iter().zip(am).map(|(h, a)| f(h) / f(a)).collect();
        let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.iter().copied().fold(0.0, f64::max);
        (median(r), lo, hi)
    };
    println!(
        "\n| figure (median of {} rounds) | herald | Alertmanager | herald / Alertmanager (median, range) |",
        herald.len()
    );
    println!("| --- | --- | --- | --- |");
    let rows: [(&str, Figure); 7] = [
        ("acknowledged per second", |r| r.acked_per_s),
        ("delivered per second", |r| r.delivered_per_s),
        ("CPU per event when saturated, µs", |r| r.cpu_us_per_event),
        ("senders' and sink's CPU per event, µs", |r| {
            r.load_cpu_us_per_event
        }),
        ("p50 latency at the steady rate, ms", |r| r.steady_p50_ms),
        ("p99 latency at the steady rate, ms", |r| r.steady_p99_ms),
        ("peak RSS, MB", |r| r.rss_mb),
    ];
    for (name, f) in rows {
        let (m, lo, hi) = ratios(f);
        println!(
            "| {name} | {:.1} | {:.1} | {m:.2}× ({lo:.2}–{hi:.2}) |",
            pick(herald, f),
            pick(am, f)
        );
    }
    let share = |rs: &[Round]| -> (f64, f64) {
        let v: Vec<f64> = rs
            .iter()
            .map(|r| r.delivered_per_s / r.acked_per_s)
            .collect();
        let lowest = v.iter().copied().fold(f64::INFINITY, f64::min);
        (100.0 * median(v), 100.0 * lowest)
    };
    let ((h, h_low), (a, a_low)) = (share(herald), share(am));
    println!(
        "| delivered per second / acknowledged per second (median; lowest round) | {h:.0} %; {h_low:.0} % | {a:.0} %; {a_low:.0} % | |"
    );
    println!(
        "| lost or duplicated, all rounds | {} | {} | |",
        herald.iter().map(|r| r.lost + r.duplicates).sum::<usize>(),
        am.iter().map(|r| r.lost + r.duplicates).sum::<usize>()
    );
}
