//! What herald sent, kept with each attempt: shown on the event's page in a real browser and
//! by `herald deliveries --show-sent`, cut to `--keep-sent`, never with a credential.

use std::time::Duration;

use fantoccini::Locator;

use crate::support::browser::Browser;
use crate::support::standin::{Reply, StandIn};
use crate::support::{Herald, SmtpServer, Start, Workdir, herald_cmd, wait_until};

fn rules(hook: &StandIn, smtp: &SmtpServer) -> String {
    format!(
        r#"
channels:
  erp:
    type: webhook
    url: "{}"
    headers: {{ Authorization: "Bearer erp-credential-9911", X-Source: herald }}
  mail:
    type: email
    smtp: "smtp://{}"
    from: quotes@example.com
    to: [sales@example.com]
    subject: "Order {{{{PrimaryKey}}}} for the books"
rules:
  - name: orders
    events: [quote.ordered]
    notify:
      - {{ channel: erp, text: "MARKER-7f3 order {{{{PrimaryKey}}}}" }}
      - {{ channel: mail, text: "Quote {{{{PrimaryKey}}}} was ordered." }}
"#,
        hook.url("/erp"),
        smtp.addr
    )
}

async fn start(work: &Workdir, extra: &[&'static str]) -> Herald {
    Start::new(work)
        .args(&["--admin-allow", "127.0.0.1/32"])
        .args(extra)
        .run()
        .await
}

/// The deliveries once both are sent.
async fn sent(work: &Workdir) -> serde_json::Value {
    let mut rows = serde_json::Value::Null;
    let done = wait_until(Duration::from_secs(20), || {
        let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--json"], &[]);
        rows = serde_json::from_str(&out).unwrap_or_default();
        rows.as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|d| d["status"] == "sent"))
    })
    .await;
    assert!(done, "deliveries were not sent: {rows:#}");
    rows
}

fn id_of(rows: &serde_json::Value, channel: &str) -> String {
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == channel);
    row.unwrap()["id"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_page_shows_the_text_sent_and_the_emails_subject() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook, &smtp));
    let herald = start(&work, &[]).await;
    let event = crate::support::event("quote.ordered", 5150);
    let id = event["EventId"].as_str().unwrap().to_string();
    herald.send(&event).await;
    sent(&work).await;

    let b = Browser::start().await;
    b.client
        .goto(&herald.url(&format!("/ui/events/{id}")))
        .await
        .unwrap();
    let line = b.text_of(".sent .sent-line").await;
    assert_eq!(line, "MARKER-7f3 order 5150");
    let subject = b.text_of(".sent .sent-subject").await;
    assert_eq!(subject, "Order 5150 for the books");
    let text = b.text().await;
    assert!(text.contains("sales@example.com"), "{text}");
    b.screenshot("event-sent").await;
    let html = b.client.source().await.unwrap();
    assert!(
        html.contains("x-source") && !html.contains("erp-credential-9911"),
        "{html}"
    );
}

#[tokio::test]
async fn deliveries_show_sent_prints_the_request_without_its_credential() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook, &smtp));
    let herald = start(&work, &[]).await;
    herald
        .send(&crate::support::event("quote.ordered", 77))
        .await;
    let rows = sent(&work).await;

    let erp = id_of(&rows, "erp");
    let (code, out, err) = herald_cmd(work.path(), &["deliveries", "--show-sent", &erp], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let origin = hook.url("/erp").replace("/erp", "/…");
    assert!(out.contains(&format!("to: POST {origin}")), "{out}");
    // Header values written in rules.yaml are secrets to herald, as in every log line.
    assert!(out.contains("x-source: ***"), "{out}");
    assert!(
        out.contains("authorization: (credential, not kept)"),
        "{out}"
    );
    assert!(out.contains(r#""text": "MARKER-7f3 order 77""#), "{out}");
    assert!(!out.contains("erp-credential-9911"), "{out}");

    let mail = id_of(&rows, "mail");
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--show-sent", &mail], &[]);
    assert!(out.contains("Subject: Order 77 for the books"), "{out}");
    assert!(out.contains("To: sales@example.com"), "{out}");
    assert!(out.contains("Quote 77 was ordered."), "{out}");

    let (code, out, _) = herald_cmd(work.path(), &["deliveries", "--show-sent", "99999"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no delivery #99999"), "{out}");
}

#[tokio::test]
async fn a_body_past_keep_sent_is_cut_and_marked_and_zero_keeps_nothing() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook, &smtp));
    let herald = start(&work, &["--keep-sent", "12"]).await;
    herald
        .send(&crate::support::event("quote.ordered", 1))
        .await;
    let rows = sent(&work).await;
    let erp = id_of(&rows, "erp");
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--show-sent", &erp], &[]);
    assert!(out.contains("(cut: only the first part was kept"), "{out}");
    assert!(!out.contains("MARKER-7f3"), "{out}");
    drop(herald);

    let work = Workdir::new(&rules(&hook, &smtp));
    let herald = start(&work, &["--keep-sent", "0"]).await;
    herald
        .send(&crate::support::event("quote.ordered", 2))
        .await;
    let rows = sent(&work).await;
    let erp = id_of(&rows, "erp");
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--show-sent", &erp], &[]);
    assert!(out.contains("(nothing kept"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_button_sends_one_message_per_click_and_shows_the_answer() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    hook.always(Reply::new(202, "accepted-by-erp"));
    let work = Workdir::new(&rules(&hook, &smtp));
    let herald = start(&work, &[]).await;

    let b = Browser::start().await;
    b.client.goto(&herald.url("/ui/")).await.unwrap();
    let button = Locator::Css("button#test-erp");
    let label = b.client.find(button).await.unwrap().text().await.unwrap();
    assert_eq!(label, "Test erp");
    b.client.find(button).await.unwrap().click().await.unwrap();
    let status = b.text_of("tr#channel-erp .test-status").await;
    assert_eq!(status, "202");
    assert_eq!(hook.requests().len(), 1, "one message for the first click");
    let got = hook.wait_for(1).await;
    assert!(
        got[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("this channel (erp) works. Sent from the status page"),
        "{}",
        got[0].json()
    );
    assert!(b.text().await.contains("accepted-by-erp"));
    b.screenshot("overview-test").await;

    b.client.find(button).await.unwrap().click().await.unwrap();
    hook.wait_for(2).await;
    b.client.refresh().await.unwrap();
    b.client.wait().for_element(button).await.unwrap();
    assert_eq!(
        hook.requests().len(),
        2,
        "one message per click, never more"
    );
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--json"], &[]);
    assert_eq!(out.trim(), "[]", "a test message is not a delivery");
    assert!(
        herald
            .logs()
            .contains("test message sent from the status page")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trying_a_pasted_event_shows_the_rule_and_message_and_sends_nothing() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook, &smtp));
    let herald = start(&work, &[]).await;

    let b = Browser::start().await;
    b.client.goto(&herald.url("/ui/")).await.unwrap();
    b.click("header a[href='/ui/try']").await;
    b.wait_for_url("/ui/try").await;
    let area = b.client.find(Locator::Css("textarea#event")).await.unwrap();
    area.clear().await.unwrap();
    let event = crate::support::event("quote.ordered", 8086).to_string();
    area.send_keys(&event).await.unwrap();
    b.click("button#try").await;
    let verdict = b.text_of("tr.verdict td.ok").await;
    assert_eq!(verdict, "matched");
    let text = b.text().await;
    assert!(text.contains("Rule orders"), "{text}");
    assert!(text.contains("MARKER-7f3 order 8086"), "{text}");
    assert!(text.contains("Order 8086 for the books"), "{text}");
    b.screenshot("try").await;

    // Not an event: said so, with the text kept.
    let area = b.client.find(Locator::Css("textarea#event")).await.unwrap();
    area.clear().await.unwrap();
    area.send_keys("{\"Event\": \"quote.ordered\"")
        .await
        .unwrap();
    b.click("button#try").await;
    let problem = b.text_of("#problem").await;
    assert!(
        problem.starts_with("This is not an event herald can read"),
        "{problem}"
    );

    assert!(hook.requests().is_empty(), "trying sends nothing");
    assert!(smtp.received().is_empty(), "trying sends nothing");
    let (_, out, _) = herald_cmd(work.path(), &["events", "--json"], &[]);
    assert_eq!(out.trim(), "[]", "trying stores nothing");
}
