//! Hostile destinations, templates and clients: none of them may stop herald, and what they
//! try is refused clearly.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{
    Herald, Reply, SECRET, SmtpServer, StandIn, Start, Workdir, event, get, herald_cmd, wait_until,
};

const TWO_HOOKS: &str = r#"
channels:
  paused:
    type: webhook
    url: ${PAUSED_URL}
    retry: { delays: [200ms], then: 200ms, max_retry_after: 2s }
  steady:
    type: webhook
    url: ${STEADY_URL}
rules:
  - name: both
    events: quote.ordered
    notify:
      - { channel: paused, text: "paused {{PrimaryKey}}" }
      - { channel: steady, text: "steady {{PrimaryKey}}" }
"#;

fn texts(stand: &StandIn) -> Vec<String> {
    stand
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_hostile_retry_after_pauses_one_destination_within_the_cap_and_stops_nothing() {
    let (paused, steady) = (StandIn::start().await, StandIn::start().await);
    paused.script(vec![
        Reply::new(429, "slow down").header("Retry-After", "18446744073709551615"),
        Reply::new(429, "slow down").header("Retry-After", "Fri, 01 Jan 9999 00:00:00 GMT"),
    ]);
    let work = Workdir::new(TWO_HOOKS);
    let herald = Start::new(&work)
        .env("PAUSED_URL", paused.url("/p"))
        .env("STEADY_URL", steady.url("/s"))
        .run()
        .await;
    let started = Instant::now();
    assert_eq!(herald.send(&event("quote.ordered", 1)).await.0, 200);
    paused.wait_for(1).await;
    // While the first destination is paused, the other keeps receiving.
    for n in 2..=4 {
        assert_eq!(herald.send(&event("quote.ordered", n)).await.0, 200);
    }
    assert!(wait_until(Duration::from_secs(10), || steady.requests().len() == 4).await);
    // Both 429s are cut to the channel's two-second cap; then everything arrives.
    assert!(
        wait_until(Duration::from_secs(20), || texts(&paused)
            .iter()
            .filter(|t| t.starts_with("paused"))
            .count()
            >= 6)
        .await,
        "{}",
        herald.logs()
    );
    let took = started.elapsed();
    println!("the paused destination got everything {took:?} after the first 429");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let mut got = texts(&paused);
    got.sort();
    got.dedup();
    assert_eq!(got, ["paused 1", "paused 2", "paused 3", "paused 4"]);
    assert!(!herald.logs().contains("panicked"), "{}", herald.logs());
    let (status, body) = get(&herald.url("/readyz")).await;
    assert_eq!(status, 200, "{body}");
}

const ONE_HOOK: &str = r#"
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
rules:
  - name: hook
    events: quote.ordered
    notify:
      - { channel: hook, text: "TEXT" }
"#;

/// Templates that `check` accepted before, and that crashed or hung herald.
fn crashing_templates() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "deep helpers",
            format!(
                "{{{{#if {}x{}}}}}y{{{{/if}}}}",
                "(not ".repeat(1000),
                ")".repeat(1000)
            ),
            "nests blocks or subexpressions",
        ),
        (
            "deep blocks",
            "{{#if x}}".repeat(3000) + &"{{/if}}".repeat(3000),
            "nests blocks or subexpressions",
        ),
        (
            "recursive partial",
            r#"{{#*inline "me"}}{{> me}}{{/inline}}{{> me}}"#.into(),
            "includes itself",
        ),
        ("internal name", "{{> t2}}".into(), "does not define"),
        ("missing partial", "{{> nope}}".into(), "does not define"),
    ]
}

fn rules_with_text(text: &str) -> String {
    ONE_HOOK.replace("\"TEXT\"", &serde_json::to_string(text).unwrap())
}

#[tokio::test]
async fn templates_that_would_crash_are_refused_by_check_and_by_reload() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules_with_text("ok {{PrimaryKey}}"));
    let rules = work.rules();
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/h"))
        .arg("--no-watch")
        .run()
        .await;
    let rules_arg = rules.to_str().unwrap();
    let client = reqwest::Client::new();
    for (what, template, says) in crashing_templates() {
        std::fs::write(&rules, rules_with_text(&template)).unwrap();
        let (code, out, err) = herald_cmd(
            work.path(),
            &["check", "--rules", rules_arg],
            &[("HOOK_URL", "http://127.0.0.1:9/h")],
        );
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(out.contains(says), "{what}: {out}");
        assert!(
            out.contains(&format!("{rules_arg}:10:")),
            "{what}: the problem has the rule's line and column: {out}"
        );
        let answer = client.post(herald.url("/-/reload")).send().await.unwrap();
        assert_eq!(answer.status(), 422, "{what}");
        let report: serde_json::Value =
            serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert!(
            report["problems"].to_string().contains(says),
            "{what}: {report}"
        );
    }
    // The old rules kept serving through all of it.
    assert_eq!(herald.send(&event("quote.ordered", 7)).await.0, 200);
    hook.wait_for(1).await;
    assert_eq!(texts(&hook), ["ok 7"]);
    assert!(!herald.logs().contains("panicked"));
}

#[tokio::test]
async fn a_template_that_fails_at_render_time_makes_a_dead_letter_and_herald_goes_on() {
    let hook = StandIn::start().await;
    // `truncate` needs a length: this compiles, and fails for every event when rendered.
    let work = Workdir::new(&rules_with_text("{{truncate WebhookName \"long\"}}"));
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/h"))
        .run()
        .await;
    assert_eq!(herald.send(&event("quote.ordered", 1)).await.0, 200);
    assert!(
        herald
            .wait_for_line(&["delivery failed permanently", "cannot render the message"])
            .await
    );
    let db = format!("sqlite://{}", work.path().join("herald.db").display());
    let (_, out, _) = herald_cmd(
        work.path(),
        &["deliveries", "--db", &db, "--status", "dead"],
        &[],
    );
    assert!(out.contains("truncate"), "{out}");
    assert_eq!(get(&herald.url("/healthz")).await.0, 200);
    assert!(!herald.logs().contains("panicked"));
}

/// Opens `n` connections that send nothing.
async fn idle_connections(herald: &Herald, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(TcpStream::connect(herald.addr).await.unwrap());
    }
    out
}

/// True once the server has closed the connection (read gives 0 or an error).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(65536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_and_slowloris_connections_are_closed_while_events_are_answered() {
    raise_fd_limit();
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules_with_text("ok {{PrimaryKey}}"));
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/h"))
        .args(&["--header-timeout", "2s", "--idle-timeout", "3s"])
        .run()
        .await;
    let mut idle = idle_connections(&herald, 1000).await;
    // Slowloris: a request head that never ends, one byte at a time.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(herald.addr).await.unwrap();
        s.write_all(b"POST /webhook HTTP/1.1\r\nHost: herald\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            for s in &mut slow {
                let _ = s.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        slow
    });
    let asked = Instant::now();
    assert_eq!(herald.send(&event("quote.ordered", 1)).await.0, 200);
    let took = asked.elapsed();
    println!("a signed event was answered in {took:?} beside 1,200 hostile connections");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut open = idle.len();
    while open > 0 && Instant::now() < deadline {
        open = 0;
        for s in idle.iter_mut() {
            if !closed(s).await {
                open += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0, "idle connections were not closed");
    let mut slow = trickle.await.unwrap();
    for s in &mut slow {
        assert!(closed(s).await, "a slowloris connection was not closed");
    }
    assert_eq!(herald.send(&event("quote.ordered", 2)).await.0, 200);
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_unsigned_megabyte_bodies_stay_within_the_memory_budget() {
    raise_fd_limit();
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules_with_text("ok {{PrimaryKey}}"));
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/h"))
        .args(&["--max-bodies-in-flight", "16MiB"])
        .run()
        .await;
    let before = rss_kib(herald.pid());
    let body = vec![b'x'; 1024 * 1024];
    let client = reqwest::Client::new();
    let mut sends = Vec::new();
    for _ in 0..300 {
        let (client, url, body) = (client.clone(), herald.url("/webhook"), body.clone());
        sends.push(tokio::spawn(async move {
            client
                .post(url)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for s in sends {
        *statuses.entry(s.await.unwrap()).or_insert(0) += 1;
    }
    let peak = peak_rss_kib(herald.pid());
    // The budget: 16 MiB of bodies, what each of the 300 connections buffers, and a margin for
    // the allocator and the debug build.
    let budget = before + 16 * 1024 + 300 * 64 + 32 * 1024;
    println!(
        "300 unsigned 1 MiB bodies: answers {statuses:?}; RSS before {before} KiB, peak {peak} KiB, budget {budget} KiB"
    );
    assert!(
        statuses.keys().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        peak < budget,
        "peak RSS {peak} KiB over the budget {budget} KiB"
    );
    assert_eq!(herald.send(&event("quote.ordered", 1)).await.0, 200);
}

/// Sends a request whose body stops short of its `Content-Length`; returns the status line.
async fn short_body(herald: &Herald, half_close: bool) -> String {
    let body = serde_json::to_vec(&event("quote.ordered", 9)).unwrap();
    let sig = herald::ingress::signature::sign(SECRET, &body);
    let mut s = TcpStream::connect(herald.addr).await.unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nX-SuperOffice-Signature: {sig}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    if half_close {
        s.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_refused_and_nothing_is_stored() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules_with_text("ok {{PrimaryKey}}"));
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/h"))
        .args(&["--body-timeout", "1s"])
        .run()
        .await;
    let cut = short_body(&herald, true).await;
    assert!(cut.starts_with("HTTP/1.1 400"), "half-closed: {cut:?}");
    let stalled = short_body(&herald, false).await;
    assert!(stalled.starts_with("HTTP/1.1 408"), "stalled: {stalled:?}");
    let db = format!("sqlite://{}", work.path().join("herald.db").display());
    let (code, out, err) = herald_cmd(work.path(), &["events", "--db", &db], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "no events");
    assert!(hook.requests().is_empty());
}

const ECHOING: &str = r#"
channels:
  slack:
    type: slack
    url: ${SLACK_URL}
    pace: off
    retry: { delays: [100ms], then: 100ms, give_up_after: 300ms }
  teams:
    type: teams
    url: ${TEAMS_URL}
    pace: off
    retry: { delays: [100ms], then: 100ms, give_up_after: 300ms }
  erp:
    type: webhook
    url: ${ERP_URL}
    headers:
      Authorization: "Bearer ${ERP_TOKEN}"
    retry: { delays: [100ms], then: 100ms, give_up_after: 300ms }
  mail:
    type: email
    smtp: ${SMTP_URL}
    from: herald@example.com
    to: sales@example.com
rules:
  - name: everywhere
    events: quote.ordered
    notify:
      - { channel: slack, text: "q {{PrimaryKey}}" }
      - { channel: teams, text: "q {{PrimaryKey}}" }
      - { channel: erp, text: "q {{PrimaryKey}}" }
      - { channel: mail, text: "q {{PrimaryKey}}" }
"#;

#[tokio::test]
async fn secrets_and_the_parts_destinations_echo_appear_nowhere() {
    let (slack, teams, erp) = (
        StandIn::start().await,
        StandIn::start().await,
        StandIn::start().await,
    );
    let smtp = SmtpServer::start_refusing_logins().await;
    // Every secret carries a marker the test looks for; one has a quote in it.
    let slack_token = "slackTOKENmarker0123456789";
    let sig = "teamsSIGmarker0123456789abcdef";
    let erp_token = "erp\"TOKEN\"marker-4567";
    let password = "smtpPASSmarker9876";
    slack.always(Reply::new(400, &format!("invalid_token {slack_token}")));
    teams.always(Reply::new(400, &format!("bad signature sig={sig}")));
    erp.always(Reply::new(403, &format!("token {erp_token} refused")));
    let env = vec![
        (
            "SLACK_URL",
            slack.url(&format!("/services/T0123ABCD/B0456EFGH/{slack_token}")),
        ),
        (
            "TEAMS_URL",
            teams.url(&format!("/workflows/run?api-version=1&sig={sig}")),
        ),
        ("ERP_URL", erp.url("/orders")),
        ("ERP_TOKEN", erp_token.to_string()),
        (
            "SMTP_URL",
            format!("smtp://herald:{password}@{}", smtp.addr),
        ),
    ];
    let work = Workdir::new(ECHOING);
    let mut start = Start::new(&work).arg("--no-watch");
    for (k, v) in &env {
        start = start.env(k, v.clone());
    }
    let herald = start.run().await;
    assert_eq!(herald.send(&event("quote.ordered", 42)).await.0, 200);
    assert!(
        wait_until(Duration::from_secs(20), || herald
            .logs()
            .matches("delivery failed permanently")
            .count()
            >= 4)
        .await,
        "{}",
        herald.logs()
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let db = format!("sqlite://{}", work.path().join("herald.db").display());
    let mut seen = vec![("logs".to_string(), herald.logs())];
    for args in [
        vec!["deliveries", "--db", &db],
        vec!["deliveries", "--db", &db, "--json"],
        vec!["events", "--db", &db, "--json"],
    ] {
        let (_, out, err) = herald_cmd(work.path(), &args, &env_refs);
        seen.push((args.join(" "), out + &err));
    }
    // A broken file whose problem quotes a value with a quote in it: `check` and the reload
    // answer print the value escaped.
    let broken = ECHOING.replace(
        "pace: off\n    retry: { delays: [100ms], then: 100ms, give_up_after: 300ms }\n  teams",
        "pace: ${ERP_TOKEN}\n  teams",
    );
    std::fs::write(work.rules(), broken).unwrap();
    let rules = work.rules();
    let (_, out, err) = herald_cmd(
        work.path(),
        &["check", "--rules", rules.to_str().unwrap()],
        &env_refs,
    );
    assert!(out.contains("pace must be"), "{out}");
    seen.push(("check".into(), out + &err));
    let answer = reqwest::Client::new()
        .post(herald.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    seen.push(("reload".into(), answer.text().await.unwrap()));
    seen.push(("logs after reload".into(), herald.logs()));
    let base64_plain = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("\0herald\0{password}"))
    };
    for (what, text) in &seen {
        for marker in [
            "TOKENmarker",
            "TOKEN\"marker",
            "TOKEN\\\"marker",
            "SIGmarker",
            "PASSmarker",
            &base64_plain,
        ] {
            assert!(!text.contains(marker), "{what} shows {marker}:\n{text}");
        }
    }
    assert!(
        seen[1].1.contains("***"),
        "the echo was redacted, not dropped"
    );
}

#[tokio::test]
async fn a_huge_hostile_webhook_name_still_makes_an_email_strict_parsers_accept() {
    let smtp = SmtpServer::start().await;
    let work = Workdir::new(
        r#"
channels:
  mail:
    type: email
    smtp: ${SMTP_URL}
    from: herald@example.com
    to: sales@example.com
rules:
  - name: mail
    events: quote.ordered
    notify:
      - channel: mail
        subject: "{{WebhookName}}"
        text: "name: {{WebhookName}}"
"#,
    );
    let herald = Start::new(&work)
        .env("SMTP_URL", format!("smtp://{}", smtp.addr))
        .run()
        .await;
    let mut e = event("quote.ordered", 1);
    let hostile: String = (0..3000)
        .map(|i| match i % 7 {
            0 => '\u{0}',
            1 => '\r',
            2 => '\u{1b}',
            3 => 'é',
            _ => 'x',
        })
        .collect();
    e["WebhookName"] = hostile.into();
    assert_eq!(herald.send(&e).await.0, 200);
    let mail = smtp.wait_for(1).await.remove(0);
    let data = mail.data;
    for line in data.split(|b| *b == b'\n') {
        assert!(line.len() <= 998, "a line of {} octets", line.len());
    }
    let head_end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header section");
    let head = &data[..head_end];
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(
            !line
                .iter()
                .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f),
            "a control character in a header line: {:?}",
            String::from_utf8_lossy(line)
        );
    }
    assert!(!data.contains(&0), "a NUL in the message");
    let parsed = mail_parser::MessageParser::default()
        .parse(&data)
        .expect("the message parses");
    let subject = parsed.subject().expect("a subject");
    assert!(subject.starts_with("éxxx éxxx"), "{subject}");
    assert!(
        subject.chars().count() <= 200,
        "{}",
        subject.chars().count()
    );
    // Each `\r` became a line break; NUL and ESC are gone; every letter arrived.
    let text = parsed.body_text(0).unwrap();
    let whole_groups = (0..3000).filter(|i| i % 7 == 3 && i + 3 < 3000).count();
    assert_eq!(text.matches("éxxx").count(), whole_groups, "{text}");
}
