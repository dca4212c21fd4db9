//! The load: signed events fired from concurrent senders (as fast as acknowledged, or at a set
//! rate), spread over one or more targets, and what the sink saw of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::sink::Arrivals;

use crate::SECRET;

/// A signed event body: (event id, body, signature).
pub type Body = (String, Vec<u8>, String);

/// Signed bodies of `n` distinct events.
pub fn make_events(n: usize, run: &str) -> Vec<Body> {
    (0..n)
        .map(|i| {
            let id = format!("{run}-{i:08}-{:x}", std::process::id());
            let body = serde_json::to_vec(&serde_json::json!({
                "EventId": id, "Timestamp": timestamp(run, i), "Changes": [],
                "Event": "quote.ordered", "PrimaryKey": i, "Entity": "quote",
                "ContextIdentifier": "Cust12345", "ChangedByAssociateId": 37201, "WebhookName": "bench"
            }))
            .expect("json");
            let sig = herald::ingress::signature::sign(SECRET, &body);
            (id, body, sig)
        })
        .collect()
}

/// A moment of its own for each event of each run: herald takes the same content under
/// another EventId for SuperOffice sending one event twice.
fn timestamp(run: &str, i: usize) -> String {
    let seconds = run
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 86_400;
    format!(
        "2026-11-20T{:02}:{:02}:{:02}.{:07}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        i % 10_000_000
    )
}

/// What a run of senders got acknowledged, and when each event was sent.
pub struct Run {
    pub acked: usize,
    pub elapsed: Duration,
    pub sent_at: HashMap<String, Instant>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }
}

/// Posts every body from `concurrency` senders, event `i` to `urls[i % len]`; at `rate`
/// events/s if given.
pub async fn fire(urls: &[String], bodies: &[Body], concurrency: usize, rate: Option<u64>) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(bodies.to_vec());
    let urls = Arc::new(urls.to_vec());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, bodies, urls) =
            (client.clone(), next.clone(), bodies.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, body, sig)) = bodies.get(i) else {
                    break;
                };
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let at = Instant::now();
                let ok = client
                    .post(&urls[i % urls.len()])
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

/// Waits until `n` deliveries arrived, or `within` passed; returns how many did.
pub async fn wait_for_deliveries(arrivals: &Arrivals, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let got = arrivals.lock().unwrap().len();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lost, duplicated and how long each event took from being sent to arriving at the sink.
pub struct Report {
    pub lost: usize,
    pub duplicates: usize,
    pub latencies: Vec<Duration>,
}

impl Report {
    pub fn new(run: &Run, arrivals: &[(String, Instant)]) -> Report {
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
        let lost = run
            .sent_at
            .keys()
            .filter(|id| !seen.contains_key(id.as_str()))
            .count();
        Report {
            lost,
            duplicates,
            latencies,
        }
    }

    /// The latency at quantile `p`, in milliseconds.
    pub fn ms(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 * p) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies
            .get(i)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    pub fn print(&self) {
        println!(
            "  latency (event sent to delivered)  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            self.ms(0.50),
            self.ms(0.99),
            self.ms(1.0)
        );
        println!("  lost {}  duplicates {}", self.lost, self.duplicates);
    }
}
