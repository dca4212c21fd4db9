//! Enrichment from the SuperOffice API, against a local stand-in serving the documented shapes.

use std::time::{Duration, Instant};

use mail_parser::MessageParser;

use crate::support::superoffice::SoApi;
use crate::support::{Herald, SmtpServer, StandIn, Start, Workdir, event, herald_cmd, wait_until};

fn rules(superoffice: &str) -> String {
    format!(
        r#"
superoffice:
{superoffice}
channels:
  slack: {{ type: slack, url: "${{SLACK_URL}}", pace: off, retry: {{ delays: [300ms, 300ms, 300ms], then: 300ms }} }}
  teams: {{ type: teams, url: "${{TEAMS_URL}}", pace: off }}
  mail: {{ type: email, smtp: "${{SMTP_URL}}", from: quotes@example.com, to: [sales@example.com] }}
  management: {{ type: webhook, url: "${{MGMT_URL}}" }}
rules:
  - name: quote-ordered
    events: quote.ordered
    notify:
      - {{ channel: slack, template: quote-ordered }}
      - {{ channel: teams, template: quote-ordered }}
      - {{ channel: mail, template: quote-ordered }}
  - name: big-orders
    events: quote.ordered
    when:
      - {{ field: sale.Amount, gte: 100000 }}
    notify:
      - {{ channel: management, text: "big order from {{{{contact.Name}}}}: {{{{sale.Amount}}}}" }}
"#
    )
}

fn fixed(api: &SoApi, extra: &str) -> String {
    format!(
        "  api: {}\n  auth: {{ bearer: \"${{SO_TOKEN}}\" }}\n  timeout: 2s\n  cache_ttl: 5m\n{extra}",
        api.root()
    )
}

struct Stands {
    slack: StandIn,
    teams: StandIn,
    mgmt: StandIn,
    smtp: SmtpServer,
}

async fn start(rules: &str) -> (Workdir, Stands, Herald) {
    let s = Stands {
        slack: StandIn::start().await,
        teams: StandIn::start().await,
        mgmt: StandIn::start().await,
        smtp: SmtpServer::start().await,
    };
    let work = Workdir::new(rules);
    let herald = Start::new(&work)
        .env("SLACK_URL", s.slack.url("/slack"))
        .env("TEAMS_URL", s.teams.url("/teams"))
        .env("MGMT_URL", s.mgmt.url("/mgmt"))
        .env("SMTP_URL", format!("smtp://{}", s.smtp.addr))
        .env("SO_TOKEN", "so-token-secret-1")
        .run()
        .await;
    (work, s, herald)
}

#[tokio::test]
async fn a_quote_order_says_who_what_and_how_much_everywhere() {
    let api = SoApi::start().await;
    let (_work, s, herald) = start(&rules(&fixed(&api, ""))).await;
    assert_eq!(herald.send(&event("quote.ordered", 1042)).await.0, 200);

    let slack = s.slack.wait_for(1).await[0].json();
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.contains("ACME AS ordered Server upgrade: 120,000.00 NOK"),
        "{slack}"
    );
    let blocks = slack["blocks"].to_string();
    assert!(
        blocks.contains("Jane Doe") && blocks.contains("quote 1042, version 3"),
        "{blocks}"
    );

    let card = s.teams.wait_for(1).await[0].json()["attachments"][0]["content"].clone();
    let facts = card["body"][1]["facts"].to_string();
    assert!(
        card["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains("ACME AS ordered Server upgrade")
    );
    assert!(
        facts.contains("120,000.00 NOK") && facts.contains("Jane Doe"),
        "{facts}"
    );

    let mail = &s.smtp.wait_for(1).await[0];
    let parsed = MessageParser::default().parse(&mail.data).unwrap();
    assert_eq!(parsed.subject(), Some("ACME AS ordered Server upgrade"));
    let body = parsed.body_text(0).unwrap();
    assert!(
        body.contains("Total:     120,000.00 NOK") && body.contains("Owner:     Jane Doe"),
        "{body}"
    );

    let calls = api.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.authorization.as_deref() == Some("Bearer so-token-secret-1"))
    );
    assert!(!herald.logs().contains("so-token-secret-1"));
}

#[tokio::test]
async fn a_rule_on_the_sale_amount_fires_for_a_large_order_only() {
    let api = SoApi::start().await;
    let (work, s, herald) = start(&rules(&fixed(&api, ""))).await;
    let small = event("quote.ordered", 1043);
    herald.send(&small).await;
    herald.send(&event("quote.ordered", 1042)).await;
    let mgmt = s.mgmt.wait_for(1).await;
    assert_eq!(mgmt[0].json()["text"], "big order from ACME AS: 120000.0");
    let id = small["EventId"].as_str().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            herald_cmd(
                work.path(),
                &["deliveries", "--event", id, "--channel", "management"],
                &[],
            )
            .1
            .contains("skipped")
        })
        .await
    );
    s.slack.wait_for(2).await;
    assert_eq!(s.mgmt.requests().len(), 1);
}

#[tokio::test]
async fn api_failures_are_retried_then_sent_without_and_refusals_are_dead_letters() {
    // 500 once, then 200: the message is enriched after a retry.
    let api = SoApi::start().await;
    api.fail_next(&[500]);
    let (_work, s, herald) = start(&rules(&fixed(&api, ""))).await;
    herald.send(&event("quote.ordered", 1042)).await;
    let texts = || {
        s.slack
            .requests()
            .iter()
            .map(|r| r.json()["text"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    s.slack.wait_for(1).await;
    assert!(texts()[0].contains("ACME AS ordered"), "{:?}", texts());
    assert!(
        herald
            .logs()
            .contains("cannot enrich the event yet, will retry")
    );
    drop(herald);

    // 500 beyond the bound: sent without enrichment, marked as such.
    let api = SoApi::start().await;
    api.always(Some(500));
    let (_work, s, herald) = start(&rules(&fixed(&api, "  retry_for: 1s\n"))).await;
    herald.send(&event("quote.ordered", 1042)).await;
    let slack = s.slack.wait_for(1).await[0].json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with(":tada: Quote 1042 ordered"),
        "{slack}"
    );
    assert!(
        slack["blocks"].to_string().contains("Details unavailable"),
        "{slack}"
    );
    assert!(herald.logs().contains("sending without enriched data"));
    drop(herald);

    // 401: a dead letter with the reason, and an ERROR line.
    let api = SoApi::start().await;
    api.always(Some(401));
    let (work, _s, herald) = start(&rules(&fixed(&api, ""))).await;
    herald.send(&event("quote.ordered", 1042)).await;
    assert!(
        herald
            .wait_for_line(&["ERROR", "delivery failed permanently", "answered 401"])
            .await,
        "{}",
        herald.logs()
    );
    let (_, dead, _) = herald_cmd(work.path(), &["deliveries", "--status", "dead"], &[]);
    assert!(dead.contains("reason: SuperOffice API v1/Agents/Quote/GetQuoteEntity answered 401: check the credentials"), "{dead}");
    let metrics = herald.metrics().await;
    assert!(
        metrics.contains("herald_enrichment_errors_total{kind=\"permanent\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn ten_events_for_one_quote_make_one_lookup_and_a_version_id_falls_back() {
    let api = SoApi::start().await;
    let (_work, s, herald) = start(&rules(&fixed(&api, ""))).await;
    // Ten events for the same quote, at once.
    let events: Vec<_> = (0..10).map(|_| event("quote.ordered", 1042)).collect();
    for answer in futures_util::future::join_all(events.iter().map(|e| herald.send(e))).await {
        assert_eq!(answer.0, 200);
    }
    s.slack.wait_for(10).await;
    assert_eq!(api.count("GetQuoteEntity"), 1, "{:?}", api.calls());
    assert_eq!(api.count("Sale/88231"), 1);

    // 3002 is a quote version's id, not a quote's: herald finds the quote through it.
    herald.send(&event("quote.ordered", 3002)).await;
    let got = s.slack.wait_for(11).await;
    assert!(got.iter().any(|r| {
        r.json()["text"]
            .as_str()
            .unwrap()
            .contains("Initech AS ordered Spare cables")
    }));
}

#[tokio::test]
async fn the_tenant_api_root_is_looked_up_cached_and_looked_up_again_after_421() {
    let api = SoApi::start().await;
    let section = format!(
        "  tenant_lookup: {}\n  auth: {{ ticket: \"${{SO_TOKEN}}\", app_token: app-token-9 }}\n",
        api.base()
    );
    let (_work, s, herald) = start(&rules(&section)).await;
    herald.send(&event("quote.ordered", 1042)).await;
    s.slack.wait_for(1).await;
    assert_eq!(api.count("/api/state/Cust12345"), 1);
    let call = api
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("GetQuoteEntity"))
        .unwrap();
    assert_eq!(call.body, r#"{"QuoteId":1042}"#);
    assert_eq!(
        call.authorization.as_deref(),
        Some("SOTicket so-token-secret-1")
    );

    herald.send(&event("quote.ordered", 1043)).await;
    s.slack.wait_for(2).await;
    assert_eq!(api.count("/api/state/Cust12345"), 1, "the root is cached");

    api.fail_next(&[421]);
    herald.send(&event("quote.ordered", 3001)).await;
    s.slack.wait_for(3).await;
    assert_eq!(
        api.count("/api/state/Cust12345"),
        2,
        "looked up again after 421"
    );
}

#[tokio::test]
async fn superoffice_gets_its_200_before_any_api_call_starts() {
    let api = SoApi::start().await;
    api.slow(Duration::from_secs(1));
    let section = fixed(&api, "").replace("timeout: 2s", "timeout: 10s");
    let (_work, s, herald) = start(&rules(&section)).await;
    let started = Instant::now();
    let (status, _) = herald.send(&event("quote.ordered", 1042)).await;
    let answered = Instant::now();
    assert_eq!(status, 200);
    assert!(
        answered - started < Duration::from_secs(1),
        "the answer waited {:?}",
        answered - started
    );
    s.slack.wait_for(1).await;
    let first_call = api.calls().iter().map(|c| c.at).min().unwrap();
    assert!(
        first_call >= answered,
        "an API call started {:?} before the 200",
        answered - first_call
    );
}

#[test]
fn simulate_renders_enriched_messages_from_saved_answers() {
    let work = Workdir::new(
        &rules("  api: http://127.0.0.1:9/api\n  auth: { bearer: unused }\n")
            .replace("${SLACK_URL}", "file://out")
            .replace("${TEAMS_URL}", "file://out")
            .replace("${SMTP_URL}", "file://out")
            .replace("${MGMT_URL}", "file://out"),
    );
    work.write("api/Agents/Quote/GetQuoteEntity/1042.json", r#"{"QuoteId": 1042, "SaleId": 77, "ActiveQuoteVersionId": 5, "AcceptedQuoteAlternativeId": 0}"#);
    work.write(
        "api/Agents/Quote/GetQuoteVersion/5.json",
        r#"{"QuoteVersionId": 5, "QuoteId": 1042, "Number": 2, "LikelyQuoteAlternativeId": 6}"#,
    );
    work.write(
        "api/Agents/Quote/GetQuoteAlternatives/5.json",
        r#"[{"QuoteAlternativeId": 6, "TotalPrice": 250000}]"#,
    );
    work.write("api/Sale/77.json", r#"{"SaleId": 77, "Heading": "Fleet renewal", "Amount": 250000, "Currency": {"Value": "EUR"}, "Contact": {"Name": "Globex"}, "Associate": {"FullName": "Ola Nordmann"}}"#);
    let ev = serde_json::to_string(&event("quote.ordered", 1042)).unwrap();
    work.write("event.json", &ev);
    let (code, out, err) = herald_cmd(
        work.path(),
        &[
            "simulate",
            "event.json",
            "--rules",
            "rules.yaml",
            "--api-responses",
            "api",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Globex ordered Fleet renewal: 250,000.00 EUR"),
        "{out}"
    );
    assert!(out.contains("MATCH     big-orders"), "{out}");
    assert!(out.contains("big order from Globex: 250000"), "{out}");
}

#[test]
fn check_reports_enriched_fields_without_a_superoffice_section() {
    let work = Workdir::new(
        "channels:\n  s: { type: slack, url: \"file://out\" }\nrules:\n  - name: r\n    events: quote.ordered\n    when:\n      - { field: sale.Amount, gte: 1 }\n    notify:\n      - { channel: s, text: \"{{contact.Name}}\" }\n",
    );
    let (code, out, _) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 1);
    assert!(out.contains("rules.yaml:7:18: rule `r`: `sale.Amount` is an enriched field: add a `superoffice:` section"), "{out}");
    assert!(
        out.contains("template uses `contact.Name`, an enriched field"),
        "{out}"
    );
}
