//! herald's own events (`herald.*`), raised by herald about itself and routed by ordinary
//! rules: a dead letter, a channel failing and recovered, a backlog behind; never a loop.

use std::time::Duration;

use crate::support::standin::{Reply, StandIn};
use crate::support::{Herald, Start, Workdir, herald_cmd, wait_until};

fn rules(erp: &StandIn, ops: &StandIn, erp_extra: &str, ops_rule: &str) -> String {
    format!(
        r#"
channels:
  erp:
    type: webhook
    url: "{}"
    {erp_extra}
  ops:
    type: webhook
    url: "{}"
    retry: {{ delays: [100ms], give_up_after: 500ms }}
rules:
  - name: orders
    events: quote.ordered
    notify:
      - {{ channel: erp, text: "order {{{{PrimaryKey}}}}" }}
  - name: ops-alerts
    events: {ops_rule}
    notify:
      - channel: ops
        text: "ALERT {{{{Event}}}} {{{{message}}}}{{{{#if channel}}}} channel={{{{channel}}}}{{{{/if}}}}{{{{#if reason}}}} reason={{{{reason}}}}{{{{/if}}}}{{{{#if source}}}} about={{{{source.EventId}}}}/{{{{source.PrimaryKey}}}} rule={{{{rule}}}} attempts={{{{attempts}}}}{{{{/if}}}}"
"#,
        erp.url("/erp"),
        ops.url("/ops"),
    )
}

async fn start(work: &Workdir) -> Herald {
    Start::new(work)
        .args(&["--instance-timeout", "1s", "--behind-after", "1s"])
        .run()
        .await
}

fn events_named(work: &Workdir, name: &str) -> usize {
    let (_, out, _) = herald_cmd(
        work.path(),
        &["events", "--event-type", name, "--json"],
        &[],
    );
    serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn alert_text(c: &crate::support::standin::Captured) -> String {
    c.json()["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_raises_one_alert_and_a_failing_alert_raises_none() {
    let (erp, ops) = (StandIn::start().await, StandIn::start().await);
    erp.always(Reply::new(400, "unknown field amount"));
    ops.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&erp, &ops, "", "herald.delivery.dead"));
    let herald = start(&work).await;
    let event = crate::support::event("quote.ordered", 4711);
    let id = event["EventId"].as_str().unwrap().to_string();
    herald.send(&event).await;

    let got = ops.wait_for(1).await;
    let text = alert_text(&got[0]);
    assert!(
        text.starts_with("ALERT herald.delivery.dead ")
            && text.contains("channel=erp")
            && text.contains("reason=webhook answered 400: unknown field amount")
            && text.contains(&format!("about={id}/4711 rule=orders attempts=1")),
        "{text}"
    );

    // The alert's own destination refuses it too: its dead letter raises nothing more.
    ops.always(Reply::new(400, "no"));
    herald
        .send(&crate::support::event("quote.ordered", 4712))
        .await;
    let dead = wait_until(Duration::from_secs(20), || {
        let (_, out, _) = herald_cmd(
            work.path(),
            &["deliveries", "--status", "dead", "--json"],
            &[],
        );
        serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(3)
    })
    .await;
    assert!(
        dead,
        "two orders and the second alert should be dead letters"
    );
    // A later marker: a third order's alert. An alert about the second alert would have been
    // raised when that alert's dead letter was recorded, long before this one.
    ops.always(Reply::new(200, "ok"));
    herald
        .send(&crate::support::event("quote.ordered", 4713))
        .await;
    let got = ops.wait_for(3).await;
    assert!(
        alert_text(&got[2]).contains("/4713 rule=orders"),
        "{}",
        alert_text(&got[2])
    );
    assert_eq!(
        events_named(&work, "herald.delivery.dead"),
        3,
        "no alert about an alert"
    );
    assert!(
        got.iter().all(|r| !alert_text(r).contains("about=herald.")),
        "no alert about an alert"
    );
    assert_eq!(ops.requests().len(), 3, "no alert about an alert");
    let (code, out) = crate::support::get(&herald.url("/healthz")).await;
    assert_eq!(code, 200, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_down_past_failing_after_is_raised_once_and_its_recovery_once() {
    let (erp, ops) = (StandIn::start().await, StandIn::start().await);
    erp.always(Reply::new(503, "maintenance"));
    ops.always(Reply::new(200, "ok"));
    let extra = "failing_after: 1s\n    retry: { delays: [100ms], then: 300ms, give_up_after: 1h }";
    let work = Workdir::new(&rules(&erp, &ops, extra, "herald.channel.*"));
    let herald = start(&work).await;
    herald
        .send(&crate::support::event("quote.ordered", 1))
        .await;

    let got = ops.wait_for(1).await;
    let text = alert_text(&got[0]);
    assert!(
        text.starts_with("ALERT herald.channel.failing ")
            && text.contains("channel=erp")
            && text.contains("reason=webhook answered 503: maintenance"),
        "{text}"
    );
    // Still failing, on and on: raised once.
    let before = erp.requests().len();
    erp.wait_for(before + 2).await;
    assert_eq!(ops.requests().len(), 1, "failing is raised once");

    erp.always(Reply::new(200, "ok"));
    let got = ops.wait_for(2).await;
    let text = alert_text(&got[1]);
    assert!(
        text.starts_with("ALERT herald.channel.recovered ") && text.contains("channel=erp"),
        "{text}"
    );
    herald
        .send(&crate::support::event("quote.ordered", 2))
        .await;
    let sent = wait_until(Duration::from_secs(20), || {
        let (_, out, _) = herald_cmd(
            work.path(),
            &[
                "deliveries",
                "--status",
                "sent",
                "--channel",
                "erp",
                "--json",
            ],
            &[],
        );
        serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(2)
    })
    .await;
    assert!(sent);
    assert_eq!(ops.requests().len(), 2, "recovered is raised once");
    // Raised before the outcome that counted is recorded: stored by now, sent or not.
    assert_eq!(events_named(&work, "herald.channel.recovered"), 1);
    assert_eq!(events_named(&work, "herald.channel.failing"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_waiting_past_behind_after_raise_backlog_behind() {
    let (erp, ops) = (StandIn::start().await, StandIn::start().await);
    erp.always(Reply::new(429, "slow down").header("Retry-After", "60"));
    ops.always(Reply::new(200, "ok"));
    let extra = "retry: { delays: [100ms], give_up_after: 1h, max_retry_after: 2m }";
    let work = Workdir::new(&rules(&erp, &ops, extra, "herald.backlog.behind"));
    let herald = start(&work).await;
    herald
        .send(&crate::support::event("quote.ordered", 1))
        .await;
    erp.wait_for(1).await;
    herald
        .send(&crate::support::event("quote.ordered", 2))
        .await;

    let got = ops.wait_for(1).await;
    let text = alert_text(&got[0]);
    assert!(
        text.starts_with("ALERT herald.backlog.behind ")
            && text.contains("channel=erp")
            && text.contains("deliveries to `erp` are behind"),
        "{text}"
    );
    assert_eq!(erp.requests().len(), 1, "the pause holds");
}

#[tokio::test]
async fn an_event_named_herald_from_outside_is_kept_and_never_delivered() {
    let (erp, ops) = (StandIn::start().await, StandIn::start().await);
    ops.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&erp, &ops, "", "herald.*"));
    let herald = start(&work).await;
    let mut event = crate::support::event("quote.ordered", 9);
    event["Event"] = "herald.delivery.dead".into();
    event["channel"] = "erp".into();
    let (code, _) = herald.send(&event).await;
    assert_eq!(code, 200);
    assert!(
        herald
            .wait_for_log("herald's own events are raised only by herald")
            .await
    );
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--json"], &[]);
    assert_eq!(out.trim(), "[]");
    assert_eq!(events_named(&work, "herald.delivery.dead"), 1, "it is kept");
    assert!(ops.requests().is_empty());
}
