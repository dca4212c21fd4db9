//! The second hardening pass: what real destinations, real CRM data and real browsers do to
//! herald, each from the situation as it was found, through the real binary.

use std::time::Duration;

use crate::support::standin::Captured;
use crate::support::{Herald, PgDb, Reply, StandIn, Start, Workdir, event, herald_cmd, wait_until};

/// Every quote event to one webhook stand-in (`HOOK_URL`): `channel` adds keys to the channel,
/// `action` to the action.
fn hook_rules(channel: &str, text: &str, action: &str) -> String {
    format!(
        "channels:\n  hook: {{ type: webhook, url: \"${{HOOK_URL}}\", pace: off{channel} }}\nrules:\n  - name: all\n    events: quote.*\n    notify:\n      - {{ channel: hook, text: \"{text}\"{action} }}\n"
    )
}

/// One send at a time: when the circuit opens, no attempt begun before it is still on its
/// way, so every request after it is one of the circuit's tries.
const ONE_AT_A_TIME: [&str; 2] = ["--concurrency", "1"];

/// Retries every 200 ms, for an hour.
const FAST_RETRIES: &str = ", retry: { delays: [200ms], then: 200ms, give_up_after: 1h }";

/// herald on `rules`, sending to a fresh stand-in.
async fn serve(rules: &str, args: &[&str]) -> (Workdir, StandIn, Herald) {
    let hook = StandIn::start().await;
    let work = Workdir::new(rules);
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/hook"))
        .args(args)
        .run()
        .await;
    (work, hook, herald)
}

/// Once the destination's circuit opened: three more tries, each after a rest of a second or
/// more; every request the stand-in got.
async fn three_tries_after_the_circuit_opened(herald: &Herald, hook: &StandIn) -> Vec<Captured> {
    assert!(
        herald.wait_for_log("destination keeps failing").await,
        "{}",
        herald.logs()
    );
    let opened = hook.requests().len();
    let got = hook.wait_for(opened + 3).await;
    let tries: Vec<_> = got[got.len() - 3..].iter().map(|r| r.at).collect();
    for pair in tries.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(900), "tries {gap:?} apart");
    }
    got
}

/// A quote event whose `WebhookName` is `text` as it stands in the JSON (escapes and all).
fn raw_event(id: &str, key: i64, text: &str, time: &str) -> Vec<u8> {
    format!(
        r#"{{"EventId":"{id}","Timestamp":{time},"Changes":[],"Event":"quote.ordered","PrimaryKey":{key},"Entity":"quote","ContextIdentifier":"Cust1","ChangedByAssociateId":5,"WebhookName":{text}}}"#
    )
    .into_bytes()
}

/// An event with `\u0000` and one with a lone surrogate are acknowledged, stored (the raw body
/// kept), listed and delivered, on SQLite and on PostgreSQL; so are events with them in the
/// `Timestamp`, which leads the content key that PostgreSQL stores as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_with_nul_and_lone_surrogates_are_stored_and_delivered_on_both_backends() {
    let pg = PgDb::create().await;
    for db in ["sqlite://herald.db".to_string(), pg.url()] {
        let rules = hook_rules("", "{{WebhookName}}|{{PrimaryKey}}", "");
        let (work, hook, herald) = serve(&rules, &["--db", &db]).await;
        let time = r#""2026-12-01T10:00:00Z""#;
        let cases = [
            ("nul-1", 1, r#""a\u0000b""#, time),
            ("surrogate-2", 2, r#""cut \ud800x""#, time),
            ("low-3", 3, r#""\udfff alone""#, time),
            ("nul-time-4", 4, r#""t""#, r#""2026-12-01T10:00:04\u0000Z""#),
            ("surrogate-time-5", 5, r#""t""#, r#""\ud800 2026-12-01""#),
        ];
        for (id, key, text, time) in cases {
            let body = raw_event(id, key, text, time);
            let sig = herald::ingress::signature::sign(crate::support::SECRET, &body);
            let (status, answer) = herald.post(body, Some(sig)).await;
            assert_eq!(status, 200, "{db}: {text}: {answer}");
        }
        let got = hook.wait_for(5).await;
        let mut texts: Vec<String> = got
            .iter()
            .map(|r| r.json()["text"].as_str().unwrap().to_string())
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                "a\u{0}b|1",
                "cut \u{fffd}x|2",
                "t|4",
                "t|5",
                "\u{fffd} alone|3"
            ],
            "{db}"
        );
        let (code, out, err) = herald_cmd(work.path(), &["events", "--db", &db], &[]);
        assert_eq!(code, 0, "{db}: {out}{err}");
        for (id, ..) in cases {
            assert!(out.contains(id), "{db}: {out}");
        }
        herald.stop();
    }
}

/// A destination answering `503` with `Retry-After: 0` made a hot loop (20 events, 3,556
/// requests in 10 s). Now `0` falls back to the channel's schedule, and after five failures in
/// a row the destination's circuit opens: one delivery at a time tries it, with longer rests
/// between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_zero_makes_no_hot_loop_and_a_failing_destination_rests() {
    let rules = hook_rules(FAST_RETRIES, "{{PrimaryKey}}", "");
    let (_work, hook, herald) = serve(&rules, &ONE_AT_A_TIME).await;
    hook.always(Reply::new(503, "busy").header("Retry-After", "0"));
    for i in 0..20 {
        assert_eq!(herald.send(&event("quote.ordered", i)).await.0, 200);
    }
    let got = three_tries_after_the_circuit_opened(&herald, &hook).await;
    assert!(
        got.len() <= 20 + 3 + 2,
        "{} requests for 20 events: a hot loop",
        got.len()
    );
    herald.stop();
}

/// herald's peak resident memory so far, from `/proc`.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A destination answering `503` with a 400 MiB body took herald to 1.33 GB. Now herald reads a
/// few KiB of any answer it only keeps an excerpt of, drops the connection, and stores and logs
/// a short escaped excerpt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_mib_answer_costs_a_few_kib() {
    let rules = hook_rules(FAST_RETRIES, "{{PrimaryKey}}", "");
    let (work, hook, herald) = serve(&rules, &[]).await;
    hook.always(Reply::new(503, "").streamed(400 << 20));
    assert_eq!(herald.send(&event("quote.ordered", 1)).await.0, 200);
    hook.wait_for(3).await;
    let (_, out, _) = herald_cmd(work.path(), &["deliveries"], &[]);
    let peak = peak_rss_kib(herald.pid());
    println!(
        "herald's peak RSS after three 400 MiB answers: {} MiB",
        peak / 1024
    );
    assert!(peak < 150 * 1024, "peak RSS {} MiB", peak / 1024);
    assert!(out.contains("answered 503"), "{out}");
    assert!(out.lines().all(|l| l.len() < 1000), "{out}");
    let logs = herald.stop();
    assert!(
        logs.lines().all(|l| l.len() < 2000),
        "a log line carried the answer"
    );
}

/// The SQLite file deleted while serving: herald went on answering 200 into the unlinked file
/// and all ten acknowledged events were gone after a restart. Now nothing is acknowledged into
/// a file that is not the one at the path any more: `/webhook` answers 503, `/readyz` fails
/// with the reason, an ERROR says so; the same for a file put in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_file_deleted_or_replaced_while_serving_acknowledges_nothing_more() {
    for replace in [false, true] {
        let (work, _hook, herald) = serve(&hook_rules("", "{{PrimaryKey}}", ""), &[]).await;
        assert_eq!(herald.send(&event("quote.ordered", 1)).await.0, 200);
        let db = work.path().join("herald.db");
        std::fs::remove_file(&db).unwrap();
        if replace {
            std::fs::write(&db, b"").unwrap();
        }
        for i in 2..5 {
            let (status, _) = herald.send(&event("quote.ordered", i)).await;
            assert_eq!(status, 503, "replace: {replace}");
        }
        let ready = reqwest::get(herald.url("/readyz")).await.unwrap();
        assert_eq!(ready.status().as_u16(), 503);
        let why = ready.text().await.unwrap();
        // Deleted, the path may be taken again at once (a reading connection of the pool
        // opening the path makes a new file): either way it is not the file herald opened.
        let said = if replace || why.contains("was replaced") {
            "was replaced by another file"
        } else {
            "was deleted"
        };
        assert!(why.contains(said), "{why}");
        assert!(
            herald
                .wait_for_line(&[
                    "ERROR",
                    "cannot store the event",
                    "while herald had it open"
                ])
                .await,
            "{}",
            herald.logs()
        );
        herald.stop();
    }
}

/// Three events taken and `/healthz` answered, each within 5 s (a stalled service fails the
/// test rather than hanging it), and the events delivered.
async fn answers_meanwhile(herald: &Herald, hook: &StandIn) {
    let client = reqwest::Client::new();
    let within = Duration::from_secs(5);
    let stalled = "the service stalled";
    for i in 0..3 {
        let ev = event("quote.ordered", i);
        let sent = tokio::time::timeout(within, herald.send(&ev));
        assert_eq!(sent.await.expect(stalled).0, 200);
        let health = tokio::time::timeout(within, client.get(herald.url("/healthz")).send());
        assert_eq!(health.await.expect(stalled).unwrap().status().as_u16(), 200);
    }
    hook.wait_for(3).await;
}

/// The rules file replaced by a FIFO (as a file on a hung mount behaves): three views of
/// `/ui/rules` stopped `/healthz` and `/webhook`, a reload never returned and held the reload
/// lock for every later one, and SIGTERM never ended the process. Now every read of herald's
/// own files runs off the async runtime with a 10 s deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_file_that_hangs_stops_nothing_and_sigterm_still_exits() {
    let (work, hook, mut herald) = serve(&hook_rules("", "{{PrimaryKey}}", ""), &[]).await;
    std::fs::remove_file(work.rules()).unwrap();
    let fifo = std::ffi::CString::new(work.rules().to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    let client = reqwest::Client::new();
    let views: Vec<_> = (0..3)
        .map(|_| tokio::spawn(client.get(herald.url("/ui/rules")).send()))
        .collect();
    let reload = tokio::spawn(client.post(herald.url("/-/reload")).send());
    // While those wait on the FIFO, the service answers.
    answers_meanwhile(&herald, &hook).await;
    let report = reload.await.unwrap().unwrap();
    assert_eq!(report.status().as_u16(), 422);
    let report = report.text().await.unwrap();
    assert!(
        report.contains("the file system did not answer within 10 s"),
        "{report}"
    );
    // The lock was released: a second reload answers too.
    let again = client.post(herald.url("/-/reload")).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 422);
    for view in views {
        let page = view.await.unwrap().unwrap().text().await.unwrap();
        assert!(page.contains("cannot read the file now"), "{page}");
    }
    let exited = herald.terminate(Duration::from_secs(20)).await;
    assert!(exited.is_some(), "herald did not exit on SIGTERM");
}

/// 300 `\w{200}` conditions (a 15 KB file) made `check` take 28 s and 4.3 GB. Each pattern now
/// compiles within a budget, and one past it is refused with its position.
#[test]
fn huge_regexes_are_refused_by_check_with_their_positions() {
    let mut rules =
        String::from("channels:\n  hook: { type: webhook, url: \"file://out\" }\nrules:\n");
    for i in 0..300 {
        rules.push_str(&format!(
            "  - name: r{i}\n    events: quote.*\n    when:\n      - {{ field: WebhookName, matches: '\\w{{200}}' }}\n    notify:\n      - {{ channel: hook, text: x }}\n"
        ));
    }
    let work = Workdir::new(&rules);
    let (code, out, err) = herald_cmd(work.path(), &["check"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("rules.yaml:7:40: rule `r0`: matches: regex \"\\\\w{200}\" is too large"),
        "{}",
        &out[..out.len().min(2000)]
    );
    assert_eq!(out.matches("is too large").count(), 300);
}

/// Digests without `max` had no size bound: 300 events of 200 KB took herald from 46 to
/// 456 MB. Now a digest is sent early once its events reach 4 MiB together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_of_large_events_is_sent_before_it_grows_without_bound() {
    let each = "{{#each events}}{{PrimaryKey}} {{/each}}";
    let rules = hook_rules("", each, ", digest: { window: 1h }");
    let (_work, hook, herald) = serve(&rules, &[]).await;
    let padding = "x".repeat(200 * 1024);
    for i in 0..60 {
        let mut e = event("quote.ordered", i);
        e["WebhookName"] = padding.clone().into();
        assert_eq!(herald.send(&e).await.0, 200);
    }
    let got = hook.wait_for(2).await;
    let first = got[0].json()["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .count();
    assert!(
        (15..=25).contains(&first),
        "the first digest held {first} events of 200 KB"
    );
    let peak = peak_rss_kib(herald.pid());
    println!(
        "herald's peak RSS with 12 MB of events in digests: {} MiB",
        peak / 1024
    );
    assert!(peak < 200 * 1024, "peak RSS {} MiB", peak / 1024);
}

/// `replay --dead` of many dead letters to a destination answering 503 sent them all at once,
/// and all again a schedule later. Now the destination's circuit opens after five failures and
/// the rest go one at a time, with rests between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_many_dead_letters_to_a_failing_destination_goes_one_at_a_time() {
    let rules = hook_rules(FAST_RETRIES, "{{PrimaryKey}}", "");
    let (work, hook, herald) = serve(&rules, &ONE_AT_A_TIME).await;
    hook.always(Reply::new(400, "bad field"));
    for i in 0..40 {
        assert_eq!(herald.send(&event("quote.ordered", i)).await.0, 200);
    }
    hook.wait_for(40).await;
    let dead = || herald_cmd(work.path(), &["deliveries", "--status", "dead"], &[]).1;
    assert!(
        crate::support::wait_until(Duration::from_secs(20), || dead()
            .matches("bad field")
            .count()
            >= 40)
        .await,
        "{}",
        dead()
    );
    hook.always(Reply::new(503, "down"));
    let (code, out, err) = herald_cmd(work.path(), &["replay", "--dead", "--channel", "hook"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let got = three_tries_after_the_circuit_opened(&herald, &hook).await;
    assert!(
        got.len() - 40 <= 5 + 3 + 2,
        "{} requests for 40 replays to a destination that is down",
        got.len() - 40
    );
}

/// With `--test-on-reload`, a reload runs the test files beside the rules, and those read the
/// events they name: an event file that hangs (a FIFO here, as on a hung mount) held the
/// runtime thread it was read on, and with one (`--workers 1`, the default on two cores)
/// `/webhook` with it. The gate now runs on a blocking thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_file_that_hangs_in_a_test_stops_nothing_on_reload() {
    let args = ["--test-on-reload", "--no-watch", "--workers", "1"];
    let (work, hook, herald) = serve(&hook_rules("", "{{PrimaryKey}}", ""), &args).await;
    let hang = work.path().join("hang.json");
    let fifo = std::ffi::CString::new(hang.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    work.write(
        "rules.test.yaml",
        "rules: rules.yaml\ntests:\n  - name: hangs\n    event: hang.json\n    expect: { matched: [all] }\n",
    );
    let client = reqwest::Client::new();
    let reload = tokio::spawn(client.post(herald.url("/-/reload")).send());
    // The FIFO opens for writing once the gate has it open for reading; held open, the gate's
    // read waits for it.
    let mut writer = None;
    let opened = wait_until(Duration::from_secs(10), || {
        use std::os::unix::fs::OpenOptionsExt;
        let open = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&hang);
        writer = open.ok();
        writer.is_some()
    })
    .await;
    assert!(opened, "the reload never read the event file");
    answers_meanwhile(&herald, &hook).await;
    // Closed empty, the event cannot be read: the reload fails and says why.
    drop(writer);
    let report = reload.await.unwrap().unwrap();
    assert_eq!(report.status().as_u16(), 422);
    let report = report.text().await.unwrap();
    assert!(
        report.contains("`event` is not a webhook event"),
        "{report}"
    );
}
