//! ui-pages: how fast the status page answers on a big store.
//!
//! Fills a SQLite store with N events (one delivery each, nine in ten sent, one in ten dead,
//! each with its attempt), starts herald on it, and times every page of `/ui/` (the median and
//! the slowest of several loads each), as a browser would load them.
//!
//!     cargo build --release --workspace
//!     cargo run --release -p herald-bench --bin ui_pages -- --events 100000

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use sqlx::Executor;

#[derive(Parser, Debug)]
#[command(about = "Time the status page's pages on a store with many events")]
struct Args {
    /// Events in the store.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Loads of each page.
    #[arg(long, default_value_t = 7)]
    loads: usize,
    /// The herald binary (default: beside this one).
    #[arg(long)]
    herald: Option<PathBuf>,
}

const RULES: &str = "channels:\n  erp: { type: webhook, url: \"file://outbox\" }\nrules:\n  - name: orders\n    events: [quote.ordered, sale.sold]\n    notify:\n      - { channel: erp, text: \"order {{PrimaryKey}}\" }\n";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    herald::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("herald-ui-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("rules.yaml"), RULES)?;
    let db = dir.join("herald.db");
    let started = Instant::now();
    let now = jiff::Timestamp::now().as_millisecond();
    fill(&db, args.events, now).await?;
    println!(
        "store: {} events, {} deliveries and attempts, filled in {:.1}s ({} MB)",
        args.events,
        args.events,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&db)?.len() / 1_000_000
    );
    let herald = args.herald.clone().unwrap_or_else(beside);
    let mut child = serve(&herald, &dir)?;
    let base = "http://127.0.0.1:18931";
    wait_ready(base).await?;
    let result = time_pages(base, args.loads, now).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn beside() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name("herald")
}

/// Migrates the store through herald, then fills it with one statement per table.
async fn fill(db: &std::path::Path, n: u64, now: i64) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", db.display());
    drop(herald::store::open(&url, herald::store::Mode::Serve).await?);
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc")).await?;
    let events = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO events (event_id, event_type, received_at, body, matched_rules, headers)
         SELECT printf('ev-%08d', i), CASE i % 4 WHEN 0 THEN 'sale.sold' ELSE 'quote.ordered' END,
                {now} - i * 500,
                json_object('EventId', printf('ev-%08d', i), 'Timestamp', '2026-11-29T10:00:00Z',
                  'Changes', json('[]'), 'Event', CASE i % 4 WHEN 0 THEN 'sale.sold' ELSE 'quote.ordered' END,
                  'PrimaryKey', i, 'Entity', 'quote', 'ContextIdentifier', 'Cust' || (i % 50),
                  'ChangedByAssociateId', 7, 'WebhookName', 'herald'),
                '[\"orders\"]', '{{\"user-agent\":\"NetServer-Webhook/8.8\"}}'
         FROM n"
    );
    pool.execute(sqlx::AssertSqlSafe(events)).await?;
    pool.execute(
        "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts, next_attempt_at,
            last_error, created_at, round_started_at, updated_at)
         SELECT event_id, 'orders', 0, 'erp', CASE WHEN rowid % 10 = 0 THEN 'dead' ELSE 'sent' END, 1,
            received_at, CASE WHEN rowid % 10 = 0 THEN 'webhook answered 400: bad field' END,
            received_at, received_at, received_at + 20
         FROM events",
    )
    .await?;
    pool.execute(
        "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code, detail)
         SELECT id, created_at, 12, CASE status WHEN 'dead' THEN 'failed' ELSE 'sent' END,
            CASE status WHEN 'dead' THEN 400 ELSE 200 END, 'webhook answered'
         FROM deliveries",
    )
    .await?;
    pool.execute("ANALYZE").await?;
    pool.close().await;
    Ok(())
}

fn serve(herald: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<Child> {
    Ok(Command::new(herald)
        .current_dir(dir)
        .args([
            "serve",
            "--rules",
            "rules.yaml",
            "--listen",
            "127.0.0.1:18931",
        ])
        .args(["--allow-unsigned", "--no-watch"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("herald did not start")
}

async fn time_pages(base: &str, loads: usize, now: i64) -> anyhow::Result<()> {
    let middle = "ev-00050000";
    let pages = [
        ("overview", "/ui/".to_string()),
        ("events", "/ui/events".to_string()),
        (
            "events, page 100",
            format!("/ui/events?before={}:ev-00005000", now - 5000 * 500),
        ),
        ("events by type", "/ui/events?type=sale.sold".to_string()),
        ("events by PrimaryKey", "/ui/events?q=50000".to_string()),
        (
            "events by ContextIdentifier",
            "/ui/events?q=Cust7".to_string(),
        ),
        (
            "events with a dead letter",
            "/ui/events?state=dead".to_string(),
        ),
        ("one event", format!("/ui/events/{middle}")),
        ("deliveries", "/ui/deliveries".to_string()),
        (
            "dead letters",
            "/ui/deliveries?status=dead&channel=erp".to_string(),
        ),
        ("replay confirmation", "/ui/channels/erp/replay".to_string()),
        ("rules", "/ui/rules".to_string()),
    ];
    let client = reqwest::Client::new();
    println!("{:<30} {:>10} {:>10}", "page", "median ms", "max ms");
    for (name, path) in pages {
        let mut times = Vec::new();
        for _ in 0..loads {
            let t = Instant::now();
            let answer = client.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(answer.status() == 200, "{path}: {}", answer.status());
            answer.text().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<30} {:>10.1} {:>10.1}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    Ok(())
}
