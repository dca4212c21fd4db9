//! Less noise, nothing lost: digests, working hours and throttles through the real binary.
//! Windows are a few seconds long and working hours are computed from the current time, so
//! every test waits on what herald does, never on a fixed sleep.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use jiff::{Timestamp, ToSpan};

use crate::support::{Herald, PgDb, StandIn, Start, Workdir, event, herald_cmd, wait_until};

/// What every digest test's message says: how many, and which quotes, in order.
const LIST: &str = r#"text: "{{count}}:{{#each events}} {{PrimaryKey}}{{/each}}""#;

fn rules(action: &str) -> String {
    rules_with(LIST, action)
}

fn rules_with(message: &str, action: &str) -> String {
    format!(
        r#"
channels:
  hook:
    type: webhook
    url: ${{HOOK_URL}}
    retry: {{ delays: [200ms], then: 500ms, give_up_after: 5m }}
rules:
  - name: quotes
    events: [quote.sent]
    notify:
      - channel: hook
        {message}
        {action}
"#
    )
}

async fn start(work: &Workdir, hook: &StandIn) -> Herald {
    Start::new(work)
        .env("HOOK_URL", hook.url("/hook"))
        .run()
        .await
}

async fn send_all(herald: &Herald, quotes: &[i64]) {
    for q in quotes {
        assert_eq!(herald.send(&event("quote.sent", *q)).await.0, 200);
    }
}

fn texts(stand: &StandIn) -> Vec<String> {
    stand
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The statuses of every delivery in the workdir's database, with how many of each.
fn statuses(work: &Workdir, db: &[&str]) -> HashMap<String, usize> {
    let mut args = vec!["deliveries", "--json", "--limit", "1000"];
    args.extend_from_slice(db);
    let (code, out, err) = herald_cmd(work.path(), &args, &[]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let mut counts = HashMap::new();
    for r in rows {
        *counts
            .entry(r["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

/// Waits until every delivery is settled (nothing pending, held or in a digest).
async fn settled(work: &Workdir, db: &[&str]) -> HashMap<String, usize> {
    let open = ["pending", "retrying", "held", "digest"];
    let done = wait_until(Duration::from_secs(30), || {
        let s = statuses(work, db);
        !s.keys().any(|k| open.contains(&k.as_str()))
    })
    .await;
    let s = statuses(work, db);
    assert!(done, "deliveries still open: {s:?}");
    s
}

/// Working hours (UTC, every day) that open `secs` seconds from now and last an hour, and the
/// instant they open.
fn opening_in(secs: i64) -> (String, Timestamp) {
    let now = Timestamp::now();
    let opens = Timestamp::from_second(now.as_second() + secs + 1).unwrap();
    let clock = |t: Timestamp| t.strftime("%H:%M:%S").to_string();
    let closes = opens + 1.hour();
    let next_day = if closes.strftime("%F").to_string() != opens.strftime("%F").to_string() {
        "+1"
    } else {
        ""
    };
    let hours = format!(
        r#"active_hours: {{ timezone: UTC, from: "{}", to: "{}{next_day}" }}"#,
        clock(opens),
        clock(closes)
    );
    (hours, opens)
}

#[tokio::test]
async fn a_window_folds_a_burst_into_one_message_and_the_next_event_opens_a_new_one() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules("digest: { window: 2s }"));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1, 2, 3, 4, 5]).await;
    assert!(herald.wait_for_line(&["put in a digest", "size=5"]).await);
    assert!(
        hook.requests().is_empty(),
        "nothing goes before the window ends"
    );
    hook.wait_for(1).await;
    assert_eq!(texts(&hook), ["5: 1 2 3 4 5"]);

    send_all(&herald, &[6]).await;
    hook.wait_for(2).await;
    assert_eq!(texts(&hook), ["5: 1 2 3 4 5", "1: 6"]);
    let s = settled(&work, &[]).await;
    // Six events, each delivered with its digest, and the two digests' own deliveries.
    assert_eq!(s.get("sent"), Some(&8), "{s:?}");
    assert_eq!(texts(&hook).len(), 2, "{:?}", texts(&hook));
}

#[tokio::test]
async fn a_key_makes_one_digest_per_value() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules(r#"digest: { window: 2s, key: "{{PrimaryKey}}" }"#));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1, 2, 1, 2, 1]).await;
    hook.wait_for(2).await;
    settled(&work, &[]).await;
    let mut got = texts(&hook);
    got.sort();
    assert_eq!(got, ["2: 2 2", "3: 1 1 1"]);
}

#[tokio::test]
async fn first_now_sends_the_first_at_once_and_digests_the_rest() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules("digest: { window: 2s, first: now }"));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1]).await;
    hook.wait_for(1).await;
    assert_eq!(
        texts(&hook),
        ["1: 1"],
        "the first goes at once, as a digest of one"
    );
    send_all(&herald, &[2, 3, 4, 5]).await;
    hook.wait_for(2).await;
    settled(&work, &[]).await;
    assert_eq!(texts(&hook), ["1: 1", "4: 2 3 4 5"]);
}

#[tokio::test]
async fn max_sends_a_digest_early_once_it_is_full() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules("digest: { window: 1h, max: 3 }"));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1, 2, 3, 4]).await;
    hook.wait_for(1).await;
    // Which three fill it first depends on which sends join first; the fourth opens the next.
    let text = texts(&hook)[0].clone();
    let quotes: HashSet<&str> = text.split_whitespace().skip(1).collect();
    assert!(text.starts_with("3: ") && quotes.len() == 3, "{text}");
    assert!(
        wait_until(Duration::from_secs(10), || statuses(&work, &[])
            .get("digest")
            == Some(&1))
        .await
    );
    let (code, out, _) = herald_cmd(work.path(), &["deliveries", "--status", "digest"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("in digest 2"), "{out}");
}

#[tokio::test]
async fn outside_working_hours_messages_are_held_then_all_sent_when_they_open() {
    let hook = StandIn::start().await;
    let (hours, opens) = opening_in(5);
    let work = Workdir::new(&rules_with(r#"text: "quote {{PrimaryKey}}""#, &hours));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1, 2, 3]).await;
    assert!(
        wait_until(Duration::from_secs(10), || statuses(&work, &[]).get("held")
            == Some(&3))
        .await
    );
    let (_, out, _) = herald_cmd(work.path(), &["deliveries"], &[]);
    assert!(out.contains("held until"), "{out}");
    let metrics = herald.metrics().await;
    assert!(
        metrics.contains("herald_deliveries{state=\"held\"} 3"),
        "{metrics}"
    );
    assert!(
        hook.requests().is_empty(),
        "nothing is sent outside working hours"
    );
    hook.wait_for(3).await;
    assert!(Timestamp::now() >= opens, "sent before the hours opened");
    let mut got = texts(&hook);
    got.sort();
    assert_eq!(got, ["quote 1", "quote 2", "quote 3"]);
    assert_eq!(settled(&work, &[]).await.get("sent"), Some(&3));
}

#[tokio::test]
async fn held_with_a_digest_is_one_message_when_working_hours_open() {
    let hook = StandIn::start().await;
    let (hours, opens) = opening_in(5);
    let work = Workdir::new(&rules(&format!(
        "digest: {{ window: 1s }}\n        {hours}"
    )));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1, 2, 3]).await;
    hook.wait_for(1).await;
    assert!(Timestamp::now() >= opens, "sent before the hours opened");
    settled(&work, &[]).await;
    assert_eq!(texts(&hook), ["3: 1 2 3"]);
    drop(herald);
}

#[tokio::test]
async fn a_throttle_sends_up_to_its_limit_and_folds_the_rest_into_one_digest() {
    let hook = StandIn::start().await;
    let throttle = r#"throttle: { key: "{{PrimaryKey}}", at_most: 1, per: 3s }"#;
    let work = Workdir::new(&rules(throttle));
    let herald = start(&work, &hook).await;
    send_all(&herald, &[7, 7, 8, 7, 7]).await;
    hook.wait_for(2).await;
    let mut first = texts(&hook);
    first.sort();
    assert_eq!(
        first,
        ["1: 7", "1: 8"],
        "one per quote at once; another quote is not throttled"
    );
    hook.wait_for(3).await;
    settled(&work, &[]).await;
    assert_eq!(texts(&hook)[2], "3: 7 7 7");
    assert_eq!(texts(&hook).len(), 3);
}

#[tokio::test]
async fn an_open_digest_and_held_messages_survive_a_sigkill() {
    let hook = StandIn::start().await;
    let (hours, _) = opening_in(8);
    let rules = format!(
        r#"
channels:
  hook:
    type: webhook
    url: ${{HOOK_URL}}
rules:
  - name: folded
    events: [quote.sent]
    notify:
      - channel: hook
        {LIST}
        digest: {{ window: 1h, max: 4 }}
  - name: held
    events: [quote.approved]
    notify:
      - channel: hook
        text: "held {{{{PrimaryKey}}}}"
        {hours}
"#
    );
    let work = Workdir::new(&rules);
    let herald = start(&work, &hook).await;
    send_all(&herald, &[1, 2, 3]).await;
    for q in [10, 11] {
        assert_eq!(herald.send(&event("quote.approved", q)).await.0, 200);
    }
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = statuses(&work, &[]);
            s.get("digest") == Some(&3) && s.get("held") == Some(&2)
        })
        .await,
        "{:?}",
        statuses(&work, &[])
    );
    Command::new("kill")
        .arg("-KILL")
        .arg(herald.pid().to_string())
        .status()
        .unwrap();
    drop(herald);
    assert!(hook.requests().is_empty());

    let herald = start(&work, &hook).await;
    // The fourth fills the digest kept across the crash: it goes with all four.
    send_all(&herald, &[4]).await;
    hook.wait_for(3).await;
    settled(&work, &[]).await;
    let mut got = texts(&hook);
    got.sort();
    assert_eq!(
        got,
        ["4: 1 2 3 4", "held 10", "held 11"],
        "{}",
        herald.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgresql_send_one_digest() {
    let hook = StandIn::start().await;
    let db = PgDb::create().await;
    let url = db.url();
    let work = Workdir::new(&rules("digest: { window: 3s }"));
    let replica = || {
        Start::new(&work)
            .env("HOOK_URL", hook.url("/hook"))
            .args(&["--db", &url])
            .run()
    };
    let (a, b) = (replica().await, replica().await);
    for q in 1..=10 {
        let at = if q % 2 == 0 { &a } else { &b };
        assert_eq!(at.send(&event("quote.sent", q)).await.0, 200);
    }
    hook.wait_for(1).await;
    settled(&work, &["--db", &url]).await;
    assert_eq!(texts(&hook), ["10: 1 2 3 4 5 6 7 8 9 10"]);
}

#[test]
fn simulate_says_what_noise_control_would_do_now() {
    let (hours, _) = opening_in(3600);
    let rules = format!(
        r#"
channels:
  hook: {{ type: webhook, url: "file://outbox" }}
rules:
  - name: quotes
    events: [quote.ordered]
    notify:
      - channel: hook
        {LIST}
        digest: {{ window: 10m, key: "{{{{ContextIdentifier}}}}", max: 50 }}
      - channel: hook
        text: "quote {{{{PrimaryKey}}}}"
        {hours}
      - channel: hook
        text: "quote {{{{PrimaryKey}}}}"
"#
    );
    let work = Workdir::new(&rules);
    let event = crate::support::repo().join("examples/events/quote.ordered.json");
    let args = ["simulate", event.to_str().unwrap(), "--rules", "rules.yaml"];
    let (code, out, err) = herald_cmd(work.path(), &args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let said: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(
        said.iter()
            .any(|l| l.starts_with("digest key Cust12345, sent at ")
                && l.ends_with(" UTC unless 49 more arrive first")),
        "{out}"
    );
    assert!(
        said.iter()
            .any(|l| l.starts_with("held until ") && l.ends_with(" UTC (active_hours)")),
        "{out}"
    );
    assert!(
        out.contains("\"text\": \"1: 527331\""),
        "a digest of one: {out}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let (_, out, _) = herald_cmd(work.path(), &json_args, &[]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let messages = report["rules"][0]["messages"].as_array().unwrap();
    assert!(
        messages[0]["when"]
            .as_str()
            .unwrap()
            .starts_with("digest key Cust12345")
    );
    assert!(
        messages[2].get("when").is_none(),
        "no noise control, nothing to say"
    );
}

#[test]
fn check_finds_every_mistake_in_noise_control_with_its_position() {
    let rules = r#"
channels:
  slack:
    type: slack
    url: file://outbox
    active_hours: { timezone: Europe/Olso, from: "08:00", to: "17:00" }
rules:
  - name: quotes
    events: [quote.ordered]
    notify:
      - channel: slack
        text: "{{count}}"
        digest: { window: 2m, key: "{{PrimaryKy}}" }
      - channel: slack
        text: "x"
        active_hours: { timezone: UTC, from: "17:00", to: "08:00" }
      - channel: slack
        text: "{{count}}"
        active_hours: { timezone: UTC, from: "09:00", to: "17:00" }
      - channel: slack
        text: "{{count}}"
        digest: { at: ["25:00"], timezone: UTC, days: [mon, tue, wek] }
"#;
    let work = Workdir::new(rules);
    let (code, out, _) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "rules.yaml:6:31: channel `slack`: active_hours: unknown time zone `Europe/Olso` (did you mean `Europe/Oslo`?)",
        "rules.yaml:13:36: rule `quotes`: key: template uses `PrimaryKy`, but no event has a field `PrimaryKy`",
        "rules.yaml:16:23: rule `quotes`: active_hours: from 17:00 is after to 08:00: for a span that runs past midnight write to: \"08:00+1\"; for 08:00 to 17:00, swap them",
        "rules.yaml:18:15: rule `quotes`: text: template uses `count`, a digest's name: it is there when the action (or its channel) has `digest:` or `throttle:`",
        "rules.yaml:22:24: rule `quotes`: digest: at must be a time of day like \"08:00\"",
        "rules.yaml:22:66: rule `quotes`: digest: days: `wek` is not a day",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}
