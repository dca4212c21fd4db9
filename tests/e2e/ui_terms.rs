//! The status page in business terms, in a real browser: an event shown and found by its
//! quote and customer, an intended skip not shown as a failure, the same error on consecutive
//! attempts shown once with a count.

use std::time::Duration;

use fantoccini::Locator;

use crate::support::browser::Browser;
use crate::support::standin::{Reply, StandIn};
use crate::support::superoffice::SoApi;
use crate::support::{Start, Workdir, eventually, herald_cmd, wait_until};

fn rules(api: &SoApi, hook: &StandIn) -> String {
    format!(
        r#"
superoffice:
  api: {}
  auth: {{ bearer: so-token }}
  timeout: 2s
channels:
  erp:
    type: webhook
    url: "{}"
    retry: {{ delays: [50ms], then: 50ms, give_up_after: 1h }}
rules:
  - name: orders
    events: quote.ordered
    notify:
      - {{ channel: erp, text: "quote {{{{version.Number}}}} for {{{{contact.Name}}}}: {{{{sale.Heading}}}}" }}
  - name: acme-only
    events: quote.ordered
    when:
      - {{ field: contact.Name, equals: ACME AS }}
    notify:
      - {{ channel: erp, text: "for ACME" }}
"#,
        api.root(),
        hook.url("/erp")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_and_find_their_quote_and_customer_and_a_skip_is_no_failure() {
    let (api, hook) = (SoApi::start().await, StandIn::start().await);
    hook.script(vec![
        Reply::new(503, "maintenance window until 06:00"),
        Reply::new(503, "maintenance window until 06:00"),
        Reply::new(503, "maintenance window until 06:00"),
    ]);
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&api, &hook));
    let herald = Start::new(&work)
        .args(&["--admin-allow", "127.0.0.1/32"])
        .run()
        .await;
    let event = crate::support::event("quote.ordered", 1043);
    let id = event["EventId"].as_str().unwrap().to_string();
    herald.send(&event).await;
    let settled = wait_until(Duration::from_secs(20), || {
        let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--json"], &[]);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        rows.as_array().is_some_and(|r| {
            r.len() == 2
                && r.iter()
                    .all(|d| d["status"] == "sent" || d["status"] == "skipped")
        })
    })
    .await;
    assert!(settled, "the deliveries did not settle");

    let b = Browser::start().await;
    let list = herald.url("/ui/events");
    let about = "Quote 3 (id 1043) · Initech AS · Spare cables · 5000 NOK";
    let shown = eventually(Duration::from_secs(10), || async {
        b.client.goto(&list).await.unwrap();
        b.text().await.contains(about)
    })
    .await;
    assert!(shown, "{}", b.text().await);

    b.client
        .goto(&herald.url("/ui/events?q=initech"))
        .await
        .unwrap();
    let found = b
        .client
        .find_all(Locator::Css("tr.event td.about a"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].text().await.unwrap(), about);
    b.client
        .goto(&herald.url("/ui/events?q=globex"))
        .await
        .unwrap();
    assert!(b.text().await.contains("No events."));

    b.client
        .goto(&herald.url(&format!("/ui/events/{id}")))
        .await
        .unwrap();
    let skip = b.client.find(Locator::Css("p.skip-reason")).await.unwrap();
    assert_eq!(
        skip.attr("class").await.unwrap().as_deref(),
        Some("muted skip-reason")
    );
    assert!(
        skip.text()
            .await
            .unwrap()
            .starts_with("Not sent, as intended")
    );
    assert!(
        b.client.find(Locator::Css("p.bad")).await.is_err(),
        "no failure shown"
    );
    let repeated = b.text_of("span.repeated").await;
    assert!(repeated.starts_with("and 2 more like it"), "{repeated}");
    let answers = b
        .text()
        .await
        .matches("maintenance window until 06:00")
        .count();
    assert_eq!(answers, 1, "the same answer is shown once");
    b.screenshot("event-terms").await;
}
