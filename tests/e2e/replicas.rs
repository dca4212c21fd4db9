//! Several herald replicas on one PostgreSQL database, and the instance-aware leases that make a
//! crash cost seconds, not a lease, on both backends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{
    Herald, PgDb, Reply, SECRET, StandIn, Start, TcpProxy, Workdir, event, herald_cmd, wait_until,
};

const HOOK: &str = r#"
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
    timeout: 5s
    retry: { delays: [300ms], then: 500ms, give_up_after: 5m }
  slack:
    type: slack
    url: ${SLACK_URL}
    pace: 2/s
    retry: { delays: [300ms], then: 500ms, give_up_after: 5m }
rules:
  - name: to-hook
    events: sale.sold
    notify:
      - { channel: hook, text: "sale {{PrimaryKey}}" }
  - name: to-slack
    events: quote.ordered
    notify:
      - { channel: slack, text: "quote {{PrimaryKey}}" }
"#;

/// Free loopback ports, so a replica can be restarted where it was.
/// Any free port, chosen by the kernel when herald binds: for a replica that is never
/// restarted at the same address. (A port picked here and bound later by herald can be taken
/// by someone else in between.)
fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Ports for replicas that are restarted at the same address.
fn ports(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap()).collect()
}

async fn replica(
    work: &Workdir,
    db: &str,
    hook: &StandIn,
    slack: &StandIn,
    at: SocketAddr,
    extra: &[&'static str],
) -> Herald {
    Start::new(work)
        .env("HOOK_URL", hook.url("/hook"))
        .env("SLACK_URL", slack.url("/slack"))
        .listen(at)
        .args(&["--db", db, "--instance-timeout", "2s", "--concurrency", "8"])
        .args(extra)
        .run()
        .await
}

fn texts(stand: &StandIn) -> Vec<String> {
    stand
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn tally(stand: &StandIn) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for t in texts(stand) {
        *counts.entry(t).or_default() += 1;
    }
    counts
}

/// Posts `total` signed events, spread over `addrs` by senders that, like a load balancer,
/// try the next replica when one does not answer 200. Counts what was acknowledged.
fn send_spread(
    addrs: Vec<SocketAddr>,
    total: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    (0..12)
        .map(|worker| {
            let (client, addrs, acked) = (client.clone(), addrs.clone(), acked.clone());
            tokio::spawn(async move {
                for i in (worker..total).step_by(12) {
                    let body = serde_json::to_vec(&event("sale.sold", i as i64)).unwrap();
                    let sig = herald::ingress::signature::sign(SECRET, &body);
                    for attempt in 0.. {
                        let at = addrs[(i + attempt) % addrs.len()];
                        let answer = client
                            .post(format!("http://{at}/webhook"))
                            .header("X-SuperOffice-Signature", &sig)
                            .body(body.clone())
                            .send()
                            .await;
                        if answer.is_ok_and(|r| r.status() == 200) {
                            acked.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_deliver_every_acknowledged_event_across_a_sigkill() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let db = PgDb::create().await;
    let work = Workdir::new(HOOK);
    let addrs = ports(3);
    let mut replicas = Vec::new();
    for at in &addrs {
        replicas.push(Some(
            replica(&work, &db.url(), &hook, &slack, *at, &[]).await,
        ));
    }
    let total = 3000;
    let acked = Arc::new(AtomicUsize::new(0));
    let senders = send_spread(addrs.clone(), total, acked.clone());
    assert!(
        wait_until(Duration::from_secs(120), || acked.load(Ordering::SeqCst)
            >= total / 2)
        .await
    );
    let killed = replicas[1].take().unwrap();
    Command::new("kill")
        .arg("-KILL")
        .arg(killed.pid().to_string())
        .status()
        .unwrap();
    drop(killed);
    let at_kill = acked.load(Ordering::SeqCst);
    replicas[1] = Some(replica(&work, &db.url(), &hook, &slack, addrs[1], &[]).await);
    for s in senders {
        s.await.unwrap();
    }
    let all = wait_until(Duration::from_secs(120), || tally(&hook).len() == total).await;
    let counts = tally(&hook);
    let missing: Vec<usize> = (0..total)
        .filter(|i| !counts.contains_key(&format!("sale {i}")))
        .collect();
    assert!(
        all,
        "{} acknowledged events never delivered: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    let twice: usize = counts.values().map(|n| n - 1).sum();
    println!(
        "3 replicas: {at_kill} of {total} acknowledged when one was killed; all {total} delivered, {twice} twice (at most 8 sends were in flight on the killed replica)"
    );
    assert!(
        twice <= 8,
        "{twice} duplicates, more than the 8 sends in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_crashes_three_replicas_deliver_every_event_exactly_once() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let db = PgDb::create().await;
    let work = Workdir::new(HOOK);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&work, &db.url(), &hook, &slack, any_port(), &[]).await);
    }
    let addrs = replicas.iter().map(|r| r.addr).collect();
    let total = 1000;
    let acked = Arc::new(AtomicUsize::new(0));
    for s in send_spread(addrs, total, acked.clone()) {
        s.await.unwrap();
    }
    assert!(wait_until(Duration::from_secs(60), || hook.requests().len() >= total).await);
    // Once the store has every delivery sent, nothing more can arrive: then count.
    let settled = crate::support::eventually(Duration::from_secs(30), || async {
        let m = get(&replicas[0].url("/metrics")).await.1;
        m.contains(&format!("herald_deliveries{{state=\"sent\"}} {total}"))
            && m.contains("herald_deliveries{state=\"pending\"} 0")
    })
    .await;
    assert!(settled, "the store never had every delivery sent");
    let counts = tally(&hook);
    assert_eq!(counts.len(), total);
    assert!(
        counts.values().all(|n| *n == 1),
        "some event was delivered twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_event_at_two_replicas_at_once_is_delivered_once() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let db = PgDb::create().await;
    let work = Workdir::new(HOOK);
    let a = replica(&work, &db.url(), &hook, &slack, any_port(), &[]).await;
    let b = replica(&work, &db.url(), &hook, &slack, any_port(), &[]).await;
    let rounds = 40;
    for n in 0..rounds {
        let e = event("sale.sold", n);
        let (ra, rb) = tokio::join!(a.send(&e), b.send(&e));
        assert_eq!((ra.0, rb.0), (200, 200));
    }
    assert!(
        wait_until(Duration::from_secs(30), || hook.requests().len()
            >= rounds as usize)
        .await
    );
    let counts = tally(&hook);
    assert_eq!(counts.len(), rounds as usize);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

/// The most requests that arrived within any one second.
fn busiest_second(stand: &StandIn) -> usize {
    let times: Vec<Instant> = stand.requests().iter().map(|r| r.at).collect();
    times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paced_destination_is_paced_and_paused_for_the_whole_cluster() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let db = PgDb::create().await;
    let work = Workdir::new(HOOK);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&work, &db.url(), &hook, &slack, any_port(), &[]).await);
    }
    for n in 0..9 {
        assert_eq!(
            replicas[n % 3]
                .send(&event("quote.ordered", n as i64))
                .await
                .0,
            200
        );
    }
    slack.wait_for(9).await;
    let busiest = busiest_second(&slack);
    println!("paced at 2/s over 3 replicas: at most {busiest} messages in any second");
    // Tolerance: one more, for the jitter between a claim and its request's arrival.
    assert!(busiest <= 3, "{busiest} messages within one second");

    slack.script(vec![
        Reply::new(429, "ratelimited").header("Retry-After", "2"),
    ]);
    for n in 100..104 {
        replicas[n % 3]
            .send(&event("quote.ordered", n as i64))
            .await;
    }
    let got = slack.wait_for(9 + 5).await;
    let limited = got[9].at;
    let next = got[10].at;
    println!(
        "after a 429 with Retry-After: 2 seen by one replica, the next message came {:?} later",
        next - limited
    );
    assert!(
        next - limited >= Duration::from_millis(1900),
        "{:?}",
        next - limited
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_database_answers_503_and_herald_recovers_by_itself() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let db = PgDb::create().await;
    let target: url::Url = db.url().parse().unwrap();
    let pg: SocketAddr = format!(
        "{}:{}",
        target.host_str().unwrap(),
        target.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let proxy = TcpProxy::start(pg).await;
    let mut via = target.clone();
    via.set_port(Some(proxy.addr.port())).unwrap();
    let work = Workdir::new(HOOK);
    let herald = replica(
        &work,
        via.as_str(),
        &hook,
        &slack,
        any_port(),
        &["--db-timeout", "1s"],
    )
    .await;
    // An acknowledged event whose destination is down: it waits in the store.
    hook.always(Reply::new(503, "down"));
    assert_eq!(herald.send(&event("sale.sold", 1)).await.0, 200);
    hook.wait_for(1).await;

    proxy.cut();
    let refused = crate::support::eventually(Duration::from_secs(20), || async {
        herald.send(&event("sale.sold", 2)).await.0 == 503
    })
    .await;
    assert!(
        refused,
        "a webhook was not refused while the database was gone"
    );
    let (status, why) = get(&herald.url("/readyz")).await;
    assert_eq!(status, 503);
    assert!(why.contains("store"), "{why}");

    hook.always(Reply::new(200, "ok"));
    proxy.restore();
    let back = crate::support::eventually(Duration::from_secs(30), || async {
        get(&herald.url("/readyz")).await.0 == 200
    })
    .await;
    assert!(back, "{}", herald.logs());
    assert_eq!(herald.send(&event("sale.sold", 3)).await.0, 200);
    let delivered = wait_until(Duration::from_secs(30), || {
        let t = texts(&hook);
        t.contains(&"sale 1".to_string()) && t.contains(&"sale 3".to_string())
    })
    .await;
    assert!(delivered, "{:?}\n{}", texts(&hook), herald.logs());
}

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_history_commands_work_against_postgres_while_replicas_run() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let db = PgDb::create().await;
    let work = Workdir::new(HOOK);
    let a = replica(&work, &db.url(), &hook, &slack, any_port(), &[]).await;
    let _b = replica(&work, &db.url(), &hook, &slack, any_port(), &[]).await;
    hook.script(vec![Reply::new(400, "bad")]);
    let e = event("sale.sold", 7);
    assert_eq!(a.send(&e).await.0, 200);
    assert!(
        a.wait_for_log("delivery failed permanently").await
            || _b.wait_for_log("delivery failed permanently").await
    );
    let url = db.url();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--db", url.as_str()]);
        herald_cmd(work.path(), &all, &[])
    };
    let (code, out, err) = cli(&["events"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(e["EventId"].as_str().unwrap()) && out.contains("dead"),
        "{out}"
    );
    let (_, dead, _) = cli(&["deliveries", "--status", "dead"]);
    assert!(dead.contains("webhook answered 400: bad"), "{dead}");
    let (code, out, _) = cli(&["replay", "--dead"]);
    assert_eq!(code, 0);
    assert!(out.contains("queued 1 delivery again"), "{out}");
    hook.wait_for(2).await;
    assert!(
        wait_until(Duration::from_secs(20), || cli(&[
            "deliveries",
            "--status",
            "sent"
        ])
        .1
        .contains("sent to hook"))
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_sigkill_sqlite_sends_what_was_in_flight_at_once() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    // Sends hang: the deliveries are in flight when herald is killed.
    hook.always(Reply::new(200, "ok").after(Duration::from_secs(120)));
    let work = Workdir::new(HOOK);
    let at = ports(1)[0];
    let start = |work| {
        Start::new(work)
            .env("HOOK_URL", hook.url("/hook"))
            .env("SLACK_URL", slack.url("/slack"))
            .listen(at)
            .run()
    };
    let herald = start(&work).await;
    for n in 0..5 {
        assert_eq!(herald.send(&event("sale.sold", n)).await.0, 200);
    }
    hook.wait_for(5).await;
    Command::new("kill")
        .arg("-KILL")
        .arg(herald.pid().to_string())
        .status()
        .unwrap();
    drop(herald);
    hook.always(Reply::new(200, "ok"));
    let restarted = Instant::now();
    let _herald = start(&work).await;
    hook.wait_for(10).await;
    let took = restarted.elapsed();
    println!(
        "after SIGKILL and restart, the 5 deliveries in flight were sent again within {took:?} (the lease is 60 s)"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn a_second_serve_on_the_same_sqlite_file_refuses_to_start() {
    let (hook, slack) = (StandIn::start().await, StandIn::start().await);
    let work = Workdir::new(HOOK);
    let _first = Start::new(&work)
        .env("HOOK_URL", hook.url("/hook"))
        .env("SLACK_URL", slack.url("/slack"))
        .run()
        .await;
    let rules = work.rules();
    let hook_url = hook.url("/hook");
    let slack_url = slack.url("/slack");
    let (code, out, err) = herald_cmd(
        work.path(),
        &[
            "serve",
            "--rules",
            rules.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("HERALD_WEBHOOK_SECRET", SECRET),
            ("HOOK_URL", &hook_url),
            ("SLACK_URL", &slack_url),
        ],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("in use by another `herald serve`"), "{err}");
}
