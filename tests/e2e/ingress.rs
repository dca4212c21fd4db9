//! `POST /webhook`: signatures, the test event, duplicates, bad bodies and limits.

use crate::support::{Herald, SECRET, StandIn, Start, Workdir, event, herald_cmd};

const SLACK_ONLY: &str = r#"
channels:
  slack:
    type: slack
    url: ${SLACK_URL}
rules:
  - name: orders
    events: quote.ordered
    notify:
      - channel: slack
        text: "Quote {{PrimaryKey}} ordered"
"#;

async fn start(slack: &StandIn, work: &Workdir) -> Herald {
    Start::new(work)
        .env("SLACK_URL", slack.url("/hook"))
        .run()
        .await
}

fn sign(secret: &str, body: &[u8]) -> String {
    herald::ingress::signature::sign(secret, body)
}

#[tokio::test]
async fn rejects_wrong_missing_and_tampered_signatures_and_delivers_nothing() {
    let slack = StandIn::start().await;
    let work = Workdir::new(SLACK_ONLY);
    let herald = start(&slack, &work).await;
    let body = serde_json::to_vec(&event("quote.ordered", 1)).unwrap();

    let (status, text) = herald
        .post(body.clone(), Some(sign("wrong-secret", &body)))
        .await;
    assert_eq!(status, 401, "{text}");
    let (status, _) = herald.post(body.clone(), None).await;
    assert_eq!(status, 401);
    let mut tampered = body.clone();
    let pos = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[pos] = b'2';
    let (status, _) = herald.post(tampered, Some(sign(SECRET, &body))).await;
    assert_eq!(status, 401);
    let (status, _) = herald
        .post(body.clone(), Some("not base64 %%".into()))
        .await;
    assert_eq!(status, 401);

    // The real one passes, so the stand-in's single request proves the others sent nothing.
    let (status, _) = herald.post(body.clone(), Some(sign(SECRET, &body))).await;
    assert_eq!(status, 200);
    slack.wait_for(1).await;
    assert!(herald.wait_for_log("delivered").await);
    assert_eq!(slack.requests().len(), 1);
    // Anyone can send these: one WARN line per window, every one counted.
    let logs = herald.logs();
    let warns: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("rejected webhook"))
        .collect();
    assert_eq!(warns.len(), 1, "{logs}");
    assert!(
        warns[0].contains("WARN") && warns[0].contains("peer=127.0.0.1:"),
        "{logs}"
    );
    let metrics = herald.metrics().await;
    assert!(
        metrics
            .contains(r#"herald_events_received_total{event_type="unknown",outcome="unsigned"} 4"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_second_secret_of_a_rotated_pair_verifies() {
    let slack = StandIn::start().await;
    let work = Workdir::new(SLACK_ONLY);
    work.write(
        "secrets.txt",
        "# old and new\nold-secret-aaaa\nnew-secret-bbbb\n",
    );
    let herald = Start::new(&work)
        .env("SLACK_URL", slack.url("/hook"))
        .env("HERALD_WEBHOOK_SECRET", "env-secret-cccc, env-secret-dddd")
        .arg("--webhook-secret-file")
        .arg("secrets.txt")
        .run()
        .await;
    for secret in [
        "env-secret-dddd",
        "new-secret-bbbb",
        "old-secret-aaaa",
        "env-secret-cccc",
    ] {
        let body = serde_json::to_vec(&event("quote.ordered", 1)).unwrap();
        let (status, text) = herald.post(body.clone(), Some(sign(secret, &body))).await;
        assert_eq!(status, 200, "{secret}: {text}");
    }
    slack.wait_for(4).await;
}

#[tokio::test]
async fn the_test_event_unmatched_events_and_repeats_get_200_and_deliver_as_they_should() {
    let slack = StandIn::start().await;
    let work = Workdir::new(SLACK_ONLY);
    let herald = start(&slack, &work).await;

    let test = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo().join("examples/events/test.json")).unwrap(),
    )
    .unwrap();
    let (status, text) = herald.send(&test).await;
    assert_eq!((status, text.as_str()), (200, "test event received\n"));

    let (status, text) = herald.send(&event("contact.changed", 5)).await;
    assert_eq!((status, text.as_str()), (200, "no rule matched\n"));

    let ordered = event("quote.ordered", 7);
    let (status, _) = herald.send(&ordered).await;
    assert_eq!(status, 200);
    let (status, text) = herald.send(&ordered).await;
    assert_eq!((status, text.as_str()), (200, "duplicate event ignored\n"));

    // A later, different event is delivered: by then the earlier ones would have been too.
    let (status, _) = herald.send(&event("quote.ordered", 8)).await;
    assert_eq!(status, 200);
    slack.wait_for(2).await;
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(20), || herald
            .logs()
            .matches(" delivered ")
            .count()
            == 2)
        .await
    );
    let texts: Vec<String> = slack
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.as_str() == "Quote 7 ordered")
            .count(),
        1,
        "{texts:?}"
    );
}

#[tokio::test]
async fn bad_bodies_get_400_and_413_and_the_service_keeps_serving() {
    let slack = StandIn::start().await;
    let work = Workdir::new(SLACK_ONLY);
    let herald = start(&slack, &work).await;

    let malformed = b"{\"EventId\": \"x\", \"Event\": ".to_vec();
    let (status, text) = herald
        .post(malformed.clone(), Some(sign(SECRET, &malformed)))
        .await;
    assert_eq!(status, 400);
    assert!(text.starts_with("body is not JSON"), "{text}");
    assert_eq!(text.lines().count(), 1);

    let no_id = br#"{"Event":"quote.ordered","PrimaryKey":1}"#.to_vec();
    let (status, text) = herald.post(no_id.clone(), Some(sign(SECRET, &no_id))).await;
    assert_eq!(
        (status, text.as_str()),
        (400, "body lacks the `EventId` field\n")
    );

    let mut big = event("quote.ordered", 1);
    big["Padding"] = serde_json::Value::String("x".repeat(2 * 1024 * 1024));
    let big = serde_json::to_vec(&big).unwrap();
    let (status, _) = herald.post(big.clone(), Some(sign(SECRET, &big))).await;
    assert_eq!(status, 413);

    let (status, _) = herald.send(&event("quote.ordered", 3)).await;
    assert_eq!(status, 200);
    assert_eq!(slack.wait_for(1).await[0].json()["text"], "Quote 3 ordered");
}

#[tokio::test]
async fn refuses_to_start_without_a_secret_unless_allowed() {
    let work = Workdir::new(&SLACK_ONLY.replace("${SLACK_URL}", "file://outbox"));
    let (code, _, err) = herald_cmd(
        work.path(),
        &["serve", "--rules", "rules.yaml", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("HERALD_WEBHOOK_SECRET") && err.contains("--allow-unsigned"),
        "{err}"
    );

    let herald = Start::new(&work)
        .env("HERALD_WEBHOOK_SECRET", "")
        .arg("--allow-unsigned")
        .run()
        .await;
    assert!(herald.logs().contains("WARN") && herald.logs().contains("--allow-unsigned"));
    let body = serde_json::to_vec(&event("quote.ordered", 4)).unwrap();
    let (status, _) = herald.post(body, None).await;
    assert_eq!(status, 200);
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(20), || {
            std::fs::read_dir(work.path().join("outbox")).is_ok_and(|d| d.count() == 1)
        })
        .await
    );
}
