//! Running as a service: hot reload, health, metrics, structured logs, documented settings.

use std::process::Command;
use std::time::Duration;

use crate::support::{
    Herald, Reply, StandIn, Start, Workdir, event, fenced_after, get, herald_cmd, repo,
};

const ONE_RULE: &str = r#"
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
    timeout: 2s
    retry: { delays: [200ms], then: 200ms, give_up_after: 1s }
rules:
  - name: first
    events: sale.sold
    notify:
      - { channel: hook, text: "first {{PrimaryKey}}" }
"#;

/// [`ONE_RULE`] and a second rule.
fn two_rules() -> String {
    format!(
        "{ONE_RULE}  - name: second\n    events: sale.sold\n    notify:\n      - {{ channel: hook, text: \"second {{{{PrimaryKey}}}}\" }}\n"
    )
}

async fn start(work: &Workdir, hook: &StandIn, extra: &[&'static str]) -> Herald {
    let mut s = Start::new(work).env("HOOK_URL", hook.url("/hook"));
    for a in extra {
        s = s.arg(a);
    }
    s.run().await
}

fn texts(hook: &StandIn) -> Vec<String> {
    hook.requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect()
}

/// A metric's value, 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    crate::support::metric(text, series).unwrap_or(0.0)
}

#[tokio::test]
async fn an_edited_rules_file_is_picked_up_and_a_broken_one_keeps_the_old_rules() {
    let hook = StandIn::start().await;
    let work = Workdir::new(ONE_RULE);
    let herald = start(&work, &hook, &[]).await;

    // A new rule fires without a restart.
    std::fs::write(work.rules(), two_rules()).unwrap();
    assert!(
        herald
            .wait_for_line(&["configuration reloaded", "rules added: second"])
            .await,
        "{}",
        herald.logs()
    );
    herald.send(&event("sale.sold", 1)).await;
    hook.wait_for(2).await;
    let mut got = texts(&hook);
    got.sort();
    assert_eq!(got, ["first 1", "second 1"]);

    // A broken edit: the old rules keep firing, readiness holds, the metric shows it.
    std::fs::write(
        work.rules(),
        two_rules().replace(
            "events: sale.sold\n    notify:\n      - { channel: hook, text: \"second",
            "events: sale.sol\n    notify:\n      - { channel: hook, text: \"second",
        ),
    )
    .unwrap();
    assert!(
        herald
            .wait_for_line(&["ERROR", "rules.yaml:14:13:", "sale.sol"])
            .await,
        "{}",
        herald.logs()
    );
    assert!(
        herald
            .wait_for_log("reload failed; the previous configuration keeps serving")
            .await
    );
    herald.send(&event("sale.sold", 2)).await;
    hook.wait_for(4).await;
    assert_eq!(get(&herald.url("/readyz")).await.0, 200);
    let m = get(&herald.url("/metrics")).await.1;
    assert_eq!(
        metric(&m, "herald_config_last_reload_successful"),
        0.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "herald_config_reloads_total{result=\"failure\"}"),
        1.0,
        "{m}"
    );

    // Fixing the file recovers.
    std::fs::write(work.rules(), ONE_RULE).unwrap();
    assert!(
        herald
            .wait_for_line(&["configuration reloaded", "rules removed: second"])
            .await,
        "{}",
        herald.logs()
    );
    let m = get(&herald.url("/metrics")).await.1;
    assert_eq!(metric(&m, "herald_config_last_reload_successful"), 1.0);
    herald.send(&event("sale.sold", 3)).await;
    hook.wait_for(5).await;
    assert_eq!(texts(&hook)[4], "first 3");
}

#[tokio::test]
async fn sighup_and_the_reload_route_reload_and_strangers_are_refused() {
    let hook = StandIn::start().await;
    let work = Workdir::new(ONE_RULE);
    // Only 127.0.0.1 counts as local here, so a request from 127.0.0.2 stands for a remote one.
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/hook"))
        .env("HERALD_ADMIN_TOKEN", "admin-token-1234")
        .arg("--admin-allow")
        .arg("127.0.0.1/32")
        .arg("--no-watch")
        .run()
        .await;

    std::fs::write(work.rules(), two_rules()).unwrap();
    Command::new("kill")
        .arg("-HUP")
        .arg(herald.pid().to_string())
        .status()
        .unwrap();
    assert!(
        herald
            .wait_for_line(&[
                "configuration reloaded",
                "trigger=\"SIGHUP\"",
                "rules added: second"
            ])
            .await,
        "{}",
        herald.logs()
    );

    std::fs::write(work.rules(), ONE_RULE).unwrap();
    let local = reqwest::Client::new();
    let answer = local.post(herald.url("/-/reload")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let report: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(report["status"], "reloaded");
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "rules removed: second"),
        "{report}"
    );

    std::fs::write(work.rules(), "rules: [\n").unwrap();
    let answer = local.post(herald.url("/-/reload")).send().await.unwrap();
    assert_eq!(answer.status(), 422);
    let report: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(report["status"], "failed");
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains("rules.yaml:"),
        "{report}"
    );

    let remote = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let refused = remote.post(herald.url("/-/reload")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let wrong = remote
        .post(herald.url("/-/reload"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    std::fs::write(work.rules(), ONE_RULE).unwrap();
    let allowed = remote
        .post(herald.url("/-/reload"))
        .bearer_auth("admin-token-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(!herald.logs().contains("admin-token-1234"));
}

#[tokio::test]
async fn metrics_count_events_and_deliveries() {
    let hook = StandIn::start().await;
    hook.script(vec![Reply::new(500, "oops")]);
    let work = Workdir::new(ONE_RULE);
    let herald = start(&work, &hook, &[]).await;

    let ev = event("sale.sold", 1);
    herald.send(&ev).await;
    herald.send(&ev).await;
    herald.send(&event("contact.changed", 1)).await;
    herald.post(b"{}".to_vec(), Some("bad".into())).await;
    let bad = b"not json".to_vec();
    let sig = herald::ingress::signature::sign(crate::support::SECRET, &bad);
    herald.post(bad, Some(sig)).await;
    hook.wait_for(2).await;
    assert!(herald.wait_for_line(&["delivered", "attempt=2"]).await);

    let (status, text) = get(&herald.url("/metrics")).await;
    assert_eq!(status, 200);
    // Every line is a comment, a sample `name{labels} value`, or the end marker.
    for line in text.lines() {
        let ok = line.starts_with('#') || {
            let (series, value) = line.rsplit_once(' ').unwrap_or(("", "x"));
            !series.is_empty() && series.starts_with("herald_") && value.parse::<f64>().is_ok()
        };
        assert!(ok, "not Prometheus text: {line:?}");
    }
    let has =
        |series: &str, value: f64| assert_eq!(metric(&text, series), value, "{series} in\n{text}");
    has(
        "herald_events_received_total{event_type=\"sale.sold\",outcome=\"accepted\"}",
        1.0,
    );
    has(
        "herald_events_received_total{event_type=\"sale.sold\",outcome=\"duplicate\"}",
        1.0,
    );
    has(
        "herald_events_received_total{event_type=\"contact.changed\",outcome=\"unmatched\"}",
        1.0,
    );
    has(
        "herald_events_received_total{event_type=\"unknown\",outcome=\"unsigned\"}",
        1.0,
    );
    has(
        "herald_events_received_total{event_type=\"unknown\",outcome=\"invalid\"}",
        1.0,
    );
    has("herald_rule_matches_total{rule=\"first\"}", 1.0);
    has(
        "herald_delivery_attempts_total{channel=\"hook\",outcome=\"retry\"}",
        1.0,
    );
    has(
        "herald_delivery_attempts_total{channel=\"hook\",outcome=\"sent\"}",
        1.0,
    );
    has(
        "herald_delivery_attempt_duration_seconds_count{channel=\"hook\"}",
        2.0,
    );
    has("herald_deliveries{state=\"sent\"}", 1.0);
    has("herald_deliveries{state=\"dead\"}", 0.0);
    assert!(text.contains("herald_build_info{version=\""));
}

#[tokio::test]
async fn readyz_follows_the_store() {
    let hook = StandIn::start().await;
    let work = Workdir::new(ONE_RULE);
    let herald = start(&work, &hook, &[]).await;
    assert_eq!(
        get(&herald.url("/healthz")).await,
        (200, "ok\n".to_string())
    );
    assert_eq!(get(&herald.url("/readyz")).await.0, 200);
    let probe = |url: String| herald_cmd(work.path(), &["health", "--url", &url], &[]);
    assert_eq!(
        probe(herald.url("/readyz")).0,
        0,
        "the container health check passes"
    );

    work.database_read_only(true);
    let (status, text) = get(&herald.url("/readyz")).await;
    work.database_read_only(false);
    assert_eq!(status, 503, "{text}");
    assert!(text.starts_with("not ready"));
    work.database_read_only(true);
    let (code, out, _) = probe(herald.url("/readyz"));
    work.database_read_only(false);
    assert_eq!(code, 1, "{out}");
    // SQLite may take a transaction or two to shake off the I/O error.
    let ready = crate::support::eventually(Duration::from_secs(30), || async {
        get(&herald.url("/readyz")).await.0 == 200
    })
    .await;
    assert!(ready, "/readyz did not recover: {}", herald.logs());
    assert_eq!(get(&herald.url("/healthz")).await.0, 200);
}

#[tokio::test]
async fn json_logs_carry_the_ids_and_no_secret() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&ONE_RULE.replace(
        "url: ${HOOK_URL}",
        "url: ${HOOK_URL}\n    headers: { Authorization: \"Bearer ${HOOK_TOKEN}\" }",
    ));
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/hook/secretpath999"))
        .env("HOOK_TOKEN", "hook-token-777")
        .env("HERALD_LOG_FORMAT", "json")
        .run()
        .await;
    let ev = event("sale.sold", 1);
    herald.send(&ev).await;
    hook.wait_for(1).await;
    assert!(herald.wait_for_log("delivered").await);
    let logs = herald.stop();
    let id = ev["EventId"].as_str().unwrap();
    let mut delivered = None;
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["message"] == "delivered" {
            delivered = Some(v);
        }
    }
    let d = delivered.expect("a delivered line");
    assert_eq!(d["event"], "sale.sold", "{d}");
    assert_eq!(
        (
            d["event_id"].as_str(),
            d["rule"].as_str(),
            d["channel"].as_str()
        ),
        (Some(id), Some("first"), Some("hook"))
    );
    for secret in ["secretpath999", "hook-token-777", crate::support::SECRET] {
        assert!(!logs.contains(secret), "{secret} in logs");
    }
}

#[test]
fn the_readme_usage_blocks_equal_help() {
    let readme = crate::support::readme();
    for (marker, args) in [
        ("<!-- usage: herald --help -->", vec!["--help"]),
        (
            "<!-- usage: herald serve --help -->",
            vec!["serve", "--help"],
        ),
    ] {
        let (code, out, _) = herald_cmd(&repo(), &args, &[]);
        assert_eq!(code, 0);
        assert_eq!(
            fenced_after(&readme, marker, "text"),
            out,
            "README block {marker} differs from `herald {}`",
            args.join(" ")
        );
    }
}

#[tokio::test]
async fn a_changed_variable_in_the_env_file_is_picked_up_on_reload() {
    let hook = StandIn::start().await;
    let work = Workdir::new(ONE_RULE);
    work.write("herald.env", &format!("HOOK_URL={}\n", hook.url("/before")));
    let herald = Start::new(&work)
        .arg("--env-file")
        .arg("herald.env")
        .run()
        .await;
    herald.send(&event("sale.sold", 1)).await;
    assert_eq!(hook.wait_for(1).await[0].path, "/before");

    work.write(
        "herald.env",
        &format!("# rotated\nexport HOOK_URL=\"{}\"\n", hook.url("/after")),
    );
    assert!(
        herald.wait_for_log("configuration reloaded").await,
        "{}",
        herald.logs()
    );
    herald.send(&event("sale.sold", 2)).await;
    assert_eq!(hook.wait_for(2).await[1].path, "/after");
}

#[tokio::test]
async fn deliveries_to_a_channel_removed_by_a_reload_become_dead_letters() {
    let hook = StandIn::start().await;
    hook.always(Reply::new(503, "down"));
    let slow_retries = ONE_RULE.replace(
        "retry: { delays: [200ms], then: 200ms, give_up_after: 1s }",
        "retry: { delays: [1h] }",
    );
    let work = Workdir::new(&slow_retries);
    let herald = start(&work, &hook, &[]).await;
    herald.send(&event("sale.sold", 1)).await;
    assert!(herald.wait_for_log("will retry").await);

    std::fs::write(
        work.rules(),
        "channels:\n  other: { type: webhook, url: \"file://outbox\" }\nrules: []\n",
    )
    .unwrap();
    assert!(
        herald
            .wait_for_line(&[
                "delivery failed permanently",
                "channel `hook` is no longer in the rules file"
            ])
            .await,
        "{}",
        herald.logs()
    );
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--status", "dead"], &[]);
    assert!(
        out.contains("reason: channel `hook` is no longer in the rules file"),
        "{out}"
    );
}

#[tokio::test]
async fn the_backlog_and_its_age_are_metrics() {
    let hook = StandIn::start().await;
    let paced = ONE_RULE.replace("    timeout: 2s\n", "    timeout: 2s\n    pace: 1/h\n");
    let work = Workdir::new(&paced);
    let herald = start(&work, &hook, &[]).await;
    for n in 1..=3 {
        herald.send(&event("sale.sold", n)).await;
    }
    hook.wait_for(1).await;
    let series = "herald_oldest_due_age_seconds{channel=\"hook\"}";
    let aged = crate::support::eventually(Duration::from_secs(10), || async {
        let text = get(&herald.url("/metrics")).await.1;
        metric(&text, series) >= 1.0 && metric(&text, "herald_deliveries{state=\"pending\"}") == 2.0
    })
    .await;
    assert!(aged, "{}", get(&herald.url("/metrics")).await.1);
}
