//! Durable delivery: nothing herald answered 200 to is lost, across crashes, outages and a
//! store that cannot commit.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{
    Herald, Reply, SECRET, StandIn, Start, Workdir, event, herald_cmd, wait_until,
};

/// A webhook channel (unpaced) and paced Slack and Teams channels with quick retries.
const RULES: &str = r#"
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
    timeout: 2s
    retry: { delays: [300ms, 300ms, 500ms], then: 1s, give_up_after: 60s }
  slack:
    type: slack
    url: ${SLACK_URL}
    timeout: 2s
    pace: 50/s
    retry: { delays: [300ms, 600ms], then: 1s, give_up_after: 60s }
  teams:
    type: teams
    url: ${TEAMS_URL}
    timeout: 2s
    pace: 50/s
rules:
  - name: to-hook
    events: sale.sold
    notify:
      - channel: hook
        text: "sale {{PrimaryKey}}"
  - name: to-chat
    events: quote.ordered
    notify:
      - { channel: slack, text: "quote {{PrimaryKey}}" }
      - { channel: teams, text: "quote {{PrimaryKey}}" }
"#;

struct Stands {
    hook: StandIn,
    slack: StandIn,
    teams: StandIn,
}

async fn stands() -> Stands {
    Stands {
        hook: StandIn::start().await,
        slack: StandIn::start().await,
        teams: StandIn::start().await,
    }
}

async fn start(work: &Workdir, s: &Stands, extra: &[&'static str]) -> Herald {
    let mut start = Start::new(work)
        .env("HOOK_URL", s.hook.url("/hook"))
        .env("SLACK_URL", s.slack.url("/slack"))
        .env("TEAMS_URL", s.teams.url("/teams"))
        .arg("--lease")
        .arg("3s");
    for a in extra {
        start = start.arg(a);
    }
    start.run().await
}

/// The `text` of every request a stand-in received.
fn texts(stand: &StandIn) -> Vec<String> {
    stand
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn cli(work: &Workdir, args: &[&str]) -> String {
    let (code, out, err) = herald_cmd(work.path(), args, &[]);
    assert_eq!(code, 0, "herald {args:?}: {out}{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_is_delivered_after_a_sigkill() {
    let s = stands().await;
    let work = Workdir::new(RULES);
    // Both runs listen on the same port, as a service behind a proxy would.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = |work, s| async move { start_on(work, s, addr).await };
    let herald = run(&work, &s).await;
    let url = herald.url("/webhook");

    // 16 senders post 2,000 events. Like SuperOffice, a sender whose event got no 200 sends
    // it again, here once herald is back.
    let total = 2000;
    let acked = Arc::new(AtomicUsize::new(0));
    let (up_tx, up_rx) = tokio::sync::watch::channel(true);
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for worker in 0..16 {
        let (acked, client, url, mut up) =
            (acked.clone(), client.clone(), url.clone(), up_rx.clone());
        senders.push(tokio::spawn(async move {
            for i in (worker..total).step_by(16) {
                let body = serde_json::to_vec(&event("sale.sold", i as i64)).unwrap();
                let sig = herald::ingress::signature::sign(SECRET, &body);
                loop {
                    let answer = client
                        .post(&url)
                        .header("X-SuperOffice-Signature", &sig)
                        .body(body.clone())
                        .send()
                        .await;
                    if answer.is_ok_and(|r| r.status() == 200) {
                        acked.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    // Herald is down (the test flags it before the kill): wait until it is up.
                    let _ = up.wait_for(|up| *up).await;
                }
            }
        }));
    }
    // Kill in the middle: once about half the events were acknowledged.
    assert!(
        wait_until(Duration::from_secs(60), || acked.load(Ordering::SeqCst)
            >= total / 2)
        .await
    );
    up_tx.send_replace(false);
    Command::new("kill")
        .arg("-KILL")
        .arg(herald.pid().to_string())
        .status()
        .unwrap();
    drop(herald);
    let at_kill = acked.load(Ordering::SeqCst);
    let delivered_at_kill = s.hook.requests().len();

    let herald = run(&work, &s).await;
    up_tx.send_replace(true);
    for t in senders {
        t.await.unwrap();
    }
    println!(
        "{at_kill} events acknowledged and {delivered_at_kill} delivered when herald was killed"
    );

    let delivered = || {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for t in texts(&s.hook) {
            *counts.entry(t).or_default() += 1;
        }
        counts
    };
    let all_there = wait_until(Duration::from_secs(90), || delivered().len() == total).await;
    let counts = delivered();
    let missing: Vec<usize> = (0..total)
        .filter(|i| !counts.contains_key(&format!("sale {i}")))
        .collect();
    assert!(
        all_there,
        "{} acknowledged events were never delivered: {missing:?}\n{}",
        missing.len(),
        herald.logs()
    );
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!(
        "all {total} events delivered; {duplicates} delivered twice (at most 8 sends were in flight at the kill)"
    );
    assert!(
        duplicates <= 8,
        "{duplicates} duplicates, more than the 8 sends in flight"
    );
}

async fn start_on(work: &Workdir, s: &Stands, addr: std::net::SocketAddr) -> Herald {
    Start::new(work)
        .env("HOOK_URL", s.hook.url("/hook"))
        .env("SLACK_URL", s.slack.url("/slack"))
        .env("TEAMS_URL", s.teams.url("/teams"))
        .listen(addr)
        .arg("--lease")
        .arg("3s")
        .arg("--concurrency")
        .arg("8")
        .run()
        .await
}

#[tokio::test]
async fn an_outage_is_ridden_out_and_a_429_pauses_only_its_destination() {
    let s = stands().await;
    s.slack.script(vec![
        Reply::new(503, "down"),
        Reply::new(503, "down"),
        Reply::new(503, "down"),
    ]);
    let work = Workdir::new(RULES);
    let herald = start(&work, &s, &[]).await;

    let first = event("quote.ordered", 1);
    assert_eq!(herald.send(&first).await.0, 200);
    let requests = s.slack.wait_for(4).await;
    assert_eq!(requests[3].json()["text"], "quote 1");
    assert!(
        herald
            .wait_for_line(&["channel=\"slack\"", "attempt=4", "delivered"])
            .await,
        "{}",
        herald.logs()
    );
    let id = first["EventId"].as_str().unwrap();
    let out = cli(
        &work,
        &["deliveries", "--event", id, "--channel", "slack", "--json"],
    );
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["status"], "sent");
    let attempts = rows[0]["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{out}");
    for a in &attempts[..3] {
        assert_eq!(
            (a["outcome"].as_str(), a["status_code"].as_i64()),
            (Some("retry"), Some(503))
        );
        assert!(a["detail"].as_str().unwrap().contains("down"));
    }
    assert_eq!(
        (
            attempts[3]["outcome"].as_str(),
            attempts[3]["status_code"].as_i64()
        ),
        (Some("sent"), Some(200))
    );

    // Now Slack asks for a 2 s pause. Teams keeps receiving meanwhile.
    s.slack.script(vec![
        Reply::new(429, "rate_limited").header("Retry-After", "2"),
    ]);
    let before = s.slack.requests().len();
    assert_eq!(herald.send(&event("quote.ordered", 2)).await.0, 200);
    let limited = s.slack.wait_for(before + 1).await[before].at;
    for n in 3..=6 {
        assert_eq!(herald.send(&event("quote.ordered", n)).await.0, 200);
    }
    let teams = s.teams.wait_for(6).await;
    let slack = s.slack.wait_for(before + 6).await;
    let resumed = slack[before + 1].at;
    assert!(
        resumed - limited >= Duration::from_millis(1900),
        "Slack was sent to {:?} after its 429",
        resumed - limited
    );
    let during_pause = teams
        .iter()
        .filter(|r| r.at > limited && r.at < resumed)
        .count();
    assert!(
        during_pause >= 4,
        "Teams got {during_pause} messages during Slack's pause"
    );
    let mut slack_texts = texts(&s.slack)[before + 1..].to_vec();
    slack_texts.sort();
    assert_eq!(
        slack_texts,
        ["quote 2", "quote 3", "quote 4", "quote 5", "quote 6"]
    );
}

#[tokio::test]
async fn a_permanent_failure_becomes_a_dead_letter_and_replay_delivers_it() {
    let s = stands().await;
    s.hook
        .script(vec![Reply::new(400, "missing field customer_no")]);
    let work = Workdir::new(RULES);
    let herald = start(&work, &s, &[]).await;

    let ev = event("sale.sold", 77);
    assert_eq!(herald.send(&ev).await.0, 200);
    assert!(herald.wait_for_log("delivery failed permanently").await);
    let out = cli(&work, &["deliveries", "--status", "dead", "--json"]);
    let dead: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(dead[0]["attempts"], 1);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("missing field customer_no"),
        "{out}"
    );
    let human = cli(&work, &["deliveries", "--status", "dead"]);
    assert!(
        human.contains("reason: webhook answered 400: missing field customer_no"),
        "{human}"
    );
    assert_eq!(s.hook.requests().len(), 1);

    // The stand-in is fixed (its script is used up): replay the delivery by id.
    let id = dead[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        cli(&work, &["replay", &id]).trim(),
        "queued 1 delivery again"
    );
    assert_eq!(s.hook.wait_for(2).await[1].json()["text"], "sale 77");
    assert!(
        wait_until(Duration::from_secs(20), || {
            cli(&work, &["deliveries", "--status", "dead"]).contains("no deliveries")
        })
        .await
    );

    // And `replay --dead` takes every dead letter of a channel.
    s.hook
        .script(vec![Reply::new(404, "gone"), Reply::new(404, "gone")]);
    herald.send(&event("sale.sold", 78)).await;
    herald.send(&event("sale.sold", 79)).await;
    assert!(
        wait_until(Duration::from_secs(20), || cli(
            &work,
            &["deliveries", "--status", "dead"]
        )
        .matches("reason:")
        .count()
            == 2)
        .await
    );
    assert_eq!(
        cli(&work, &["replay", "--dead", "--channel", "hook"]).trim(),
        "queued 2 deliveries again"
    );
    s.hook.wait_for(6).await;
    let mut last: Vec<String> = texts(&s.hook)[4..].to_vec();
    last.sort();
    assert_eq!(last, ["sale 78", "sale 79"]);
}

#[tokio::test]
async fn a_store_that_cannot_commit_gets_503_and_herald_recovers() {
    let s = stands().await;
    let work = Workdir::new(RULES);
    let herald = start(&work, &s, &[]).await;
    assert_eq!(herald.send(&event("sale.sold", 1)).await.0, 200);
    s.hook.wait_for(1).await;

    // Make the database read-only under herald's feet.
    work.database_read_only(true);
    let refused = event("sale.sold", 2);
    let (status, text) = herald.send(&refused).await;
    work.database_read_only(false);
    assert_eq!(status, 503, "{text}");
    assert_eq!(text, "cannot store the event right now; try again\n");
    assert!(herald.logs().contains("rejected_by_store"));

    // The store works again: SuperOffice's retries of the same event are taken (SQLite may need
    // a transaction or two to shake off the I/O error) and it is delivered once.
    let taken = crate::support::eventually(Duration::from_secs(10), || async {
        let (status, _) = herald.send(&refused).await;
        assert_ne!(status, 410);
        status == 200
    })
    .await;
    assert!(taken, "herald did not recover: {}", herald.logs());
    assert_eq!(s.hook.wait_for(2).await[1].json()["text"], "sale 2");
}

#[tokio::test]
async fn the_same_event_id_after_a_restart_is_delivered_once() {
    let s = stands().await;
    let work = Workdir::new(RULES);
    let ev = event("sale.sold", 5);
    let herald = start(&work, &s, &[]).await;
    assert_eq!(herald.send(&ev).await.0, 200);
    s.hook.wait_for(1).await;
    herald.stop();

    let herald = start(&work, &s, &[]).await;
    let (status, text) = herald.send(&ev).await;
    assert_eq!((status, text.as_str()), (200, "duplicate event ignored\n"));
    // A new event after it is delivered; the repeat never is.
    assert_eq!(herald.send(&event("sale.sold", 6)).await.0, 200);
    s.hook.wait_for(2).await;
    assert_eq!(texts(&s.hook), ["sale 5", "sale 6"]);
}

#[tokio::test]
async fn events_and_deliveries_are_listed_while_serve_runs() {
    let s = stands().await;
    let work = Workdir::new(RULES);
    let herald = start(&work, &s, &[]).await;
    let ev = event("quote.ordered", 42);
    herald.send(&ev).await;
    herald.send(&event("contact.changed", 1)).await;
    s.slack.wait_for(1).await;
    s.teams.wait_for(1).await;
    assert!(
        wait_until(Duration::from_secs(20), || cli(
            &work,
            &["deliveries", "--status", "sent"]
        )
        .matches("#")
        .count()
            == 2)
        .await
    );

    let events = cli(&work, &["events"]);
    let id = ev["EventId"].as_str().unwrap();
    let line = events
        .lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("{events}"));
    assert!(
        line.contains("quote.ordered") && line.contains("rules: to-chat"),
        "{line}"
    );
    assert!(
        events.contains("sent      slack") && events.contains("sent      teams"),
        "{events}"
    );
    assert!(
        events.contains("contact.changed") && events.contains("(no rule matched)"),
        "{events}"
    );
    let only = cli(
        &work,
        &["events", "--event-type", "contact.changed", "--json"],
    );
    let only: serde_json::Value = serde_json::from_str(&only).unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);

    let deliveries = cli(&work, &["deliveries", "--event", id, "--channel", "teams"]);
    assert!(
        deliveries.contains("sent to teams (rule to-chat"),
        "{deliveries}"
    );
    assert!(
        deliveries.contains("attempt 1") && deliveries.contains("teams answered 200"),
        "{deliveries}"
    );
    assert!(herald.logs().contains("listening"));
}
