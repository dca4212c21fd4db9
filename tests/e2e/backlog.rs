//! A bounded backlog (`serve --max-backlog`): past it `/webhook` answers 503 with
//! `Retry-After`, loses nothing it acknowledged, and takes events again once it catches up.

use std::time::Duration;

use crate::support::standin::{Reply, StandIn};
use crate::support::{Start, Workdir, eventually, metric};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_backlog_webhook_answers_503_with_retry_after_and_recovers() {
    let erp = StandIn::start().await;
    erp.always(Reply::new(429, "slow down").header("Retry-After", "5"));
    let work = Workdir::new(&format!(
        r#"
channels:
  erp:
    type: webhook
    url: "{}"
    retry: {{ delays: [100ms], give_up_after: 1h }}
rules:
  - name: orders
    events: quote.ordered
    notify:
      - {{ channel: erp, text: "order {{{{PrimaryKey}}}}" }}
"#,
        erp.url("/erp")
    ));
    let herald = Start::new(&work).args(&["--max-backlog", "2"]).run().await;

    // The first is tried and paused by the 429; the next ones wait behind the pause until
    // two are due: then herald refuses, and SuperOffice keeps the event.
    assert_eq!(
        herald
            .send(&crate::support::event("quote.ordered", 1))
            .await
            .0,
        200
    );
    erp.wait_for(1).await;
    let mut accepted = 1;
    let (refused_event, refused) = loop {
        let event = crate::support::event("quote.ordered", accepted + 1);
        let answer = post(&herald, &event).await;
        if answer.0 != 200 {
            break (event, answer);
        }
        accepted += 1;
        assert!(accepted <= 5, "never refused past --max-backlog 2");
    };
    assert!(accepted >= 2, "refused before two deliveries waited");
    assert_eq!(refused.0, 503, "{}", refused.2);
    assert_eq!(refused.1.as_deref(), Some("60"));
    assert!(
        refused
            .2
            .contains("deliveries are waiting, more than its limit of 2"),
        "{}",
        refused.2
    );
    let metrics = herald.metrics().await;
    let series =
        "herald_events_received_total{event_type=\"quote.ordered\",outcome=\"over_backlog\"}";
    assert_eq!(metric(&metrics, series), Some(1.0), "{metrics}");
    assert!(
        metric(&metrics, "herald_backlog_due_deliveries").is_some(),
        "{metrics}"
    );

    // Once the destination takes messages again the backlog drains, the refused event is
    // taken when SuperOffice sends it again (the same event), and every event is delivered
    // once.
    erp.always(Reply::new(200, "ok"));
    let taken = eventually(Duration::from_secs(20), || async {
        post(&herald, &refused_event).await.0 == 200
    })
    .await;
    assert!(taken, "{}", herald.logs());
    let want = accepted as usize + 1;
    let mut rows = serde_json::Value::Null;
    let all = crate::support::wait_until(Duration::from_secs(20), || {
        let (_, out, _) = crate::support::herald_cmd(work.path(), &["deliveries", "--json"], &[]);
        rows = serde_json::from_str(&out).unwrap_or_default();
        rows.as_array()
            .is_some_and(|r| r.len() == want && r.iter().all(|d| d["status"] == "sent"))
    })
    .await;
    assert!(all, "every accepted event delivered, once each: {rows:#}");
}

/// Posts the event signed: status, Retry-After, body.
async fn post(
    herald: &crate::support::Herald,
    event: &serde_json::Value,
) -> (u16, Option<String>, String) {
    let body = serde_json::to_vec(event).unwrap();
    let signature = herald::ingress::signature::sign(crate::support::SECRET, &body);
    let r = reqwest::Client::new()
        .post(herald.url("/webhook"))
        .header("x-superoffice-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        r.status().as_u16(),
        retry,
        r.text().await.unwrap_or_default(),
    )
}
