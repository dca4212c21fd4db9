//! A signed event reaches every kind of destination, and failures are retried or not as the
//! destination says.

use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};

use crate::support::{Herald, Reply, SmtpServer, StandIn, Start, Workdir, event};

pub const ALL_CHANNELS: &str = r#"
channels:
  slack:
    type: slack
    url: ${SLACK_URL}
  teams:
    type: teams
    url: ${TEAMS_URL}
  erp:
    type: webhook
    url: ${ERP_URL}
    headers:
      Authorization: "Bearer ${ERP_TOKEN}"
      X-Source: herald
  mail:
    type: email
    smtp: ${SMTP_URL}
    from: "Quotes <quotes@example.com>"
    to: [sales@example.com]
rules:
  - name: quote-ordered
    events: quote.ordered
    notify:
      - { channel: slack, template: quote-ordered }
      - { channel: teams, template: quote-ordered }
      - { channel: erp, template: quote-ordered }
      - { channel: mail, template: quote-ordered, to: [orders@example.com] }
"#;

pub struct Stands {
    pub slack: StandIn,
    pub teams: StandIn,
    pub erp: StandIn,
    pub smtp: SmtpServer,
}

pub const SLACK_PATH: &str = "/services/T0HERALD/B0HERALD/slackpathsecret123";
pub const ERP_TOKEN: &str = "erp-token-secret-456";
pub const SMTP_PASSWORD: &str = "smtp-password-789";

pub async fn stands() -> Stands {
    Stands {
        slack: StandIn::start().await,
        teams: StandIn::start().await,
        erp: StandIn::start().await,
        smtp: SmtpServer::start().await,
    }
}

pub async fn start_with(work: &Workdir, s: &Stands) -> Herald {
    Start::new(work)
        .env("SLACK_URL", s.slack.url(SLACK_PATH))
        .env("TEAMS_URL", s.teams.url("/workflows/run?sig=teamssig000"))
        .env("ERP_URL", s.erp.url("/hooks/quote"))
        .env("ERP_TOKEN", ERP_TOKEN)
        .env(
            "SMTP_URL",
            format!("smtp://herald:{SMTP_PASSWORD}@{}", s.smtp.addr),
        )
        .run()
        .await
}

#[tokio::test]
async fn a_signed_quote_ordered_reaches_slack_teams_webhook_and_email() {
    let s = stands().await;
    let work = Workdir::new(ALL_CHANNELS);
    let herald = start_with(&work, &s).await;

    let ev = event("quote.ordered", 527331);
    let (status, body) = herald.send(&ev).await;
    assert_eq!(status, 200, "{body}");

    let slack = &s.slack.wait_for(1).await[0];
    assert_eq!(slack.path, SLACK_PATH);
    assert_eq!(
        slack.header("content-type").as_deref(),
        Some("application/json")
    );
    let msg = slack.json();
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .contains("Quote 527331 ordered"),
        "{msg}"
    );
    assert!(
        msg["blocks"].as_array().is_some_and(|b| !b.is_empty()),
        "{msg}"
    );

    let teams = s.teams.wait_for(1).await[0].json();
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let blocks: Vec<_> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "TextBlock")
        .collect();
    assert!(!blocks.is_empty());
    assert!(blocks.iter().all(|b| b["wrap"] == true), "{card}");
    assert!(blocks[0]["text"].as_str().unwrap().contains("527331"));

    let erp = &s.erp.wait_for(1).await[0];
    assert_eq!(erp.method, "POST");
    assert_eq!(erp.path, "/hooks/quote");
    assert_eq!(
        erp.header("authorization"),
        Some(format!("Bearer {ERP_TOKEN}"))
    );
    assert_eq!(erp.header("x-source").as_deref(), Some("herald"));
    let body = erp.json();
    assert_eq!(body["event"], "quote.ordered");
    assert_eq!(body["event_id"], ev["EventId"]);
    assert_eq!(body["quote_id"], "527331");

    let mail = &s.smtp.wait_for(1).await[0];
    assert_eq!(
        mail.auth,
        Some(("herald".to_string(), SMTP_PASSWORD.to_string()))
    );
    assert_eq!(mail.mail_from, "<quotes@example.com>");
    assert_eq!(mail.rcpt_to, vec!["<orders@example.com>"]);
    let parsed = MessageParser::default()
        .parse(&mail.data)
        .expect("a MIME message");
    assert_eq!(parsed.subject(), Some("Quote 527331 ordered"));
    let from = parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Quotes"), Some("quotes@example.com"))
    );
    let to = parsed.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.address(), Some("orders@example.com"));
    let content_type = parsed.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    assert!(parsed.body_text(0).unwrap().contains("Quote:     527331"));
    assert!(parsed.body_html(0).unwrap().contains("<h2"));
    assert!(parsed.body_html(0).unwrap().contains("527331"));

    assert!(herald.wait_for_log("channel=\"mail\"").await);
    let logs = herald.logs();
    assert_eq!(logs.matches(" delivered ").count(), 4, "{logs}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait_and_delivered_once() {
    let s = stands().await;
    s.slack.script(vec![
        Reply::new(429, "rate_limited").header("Retry-After", "1"),
    ]);
    let work = Workdir::new(ALL_CHANNELS);
    let herald = start_with(&work, &s).await;

    let (status, _) = herald.send(&event("quote.ordered", 1)).await;
    assert_eq!(status, 200);
    let requests = s.slack.wait_for(2).await;
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}, before Retry-After"
    );
    assert!(
        herald
            .wait_for_line(&["channel=\"slack\"", "attempt=2"])
            .await,
        "{}",
        herald.logs()
    );
    // The other channels finish too; then Slack must still have exactly the two requests.
    s.smtp.wait_for(1).await;
    assert!(herald.wait_for_log("channel=\"mail\"").await);
    assert_eq!(s.slack.requests().len(), 2);
    assert!(herald.logs().contains("will retry"));
}

#[tokio::test]
async fn a_400_invalid_payload_is_permanent_and_sent_once() {
    let s = stands().await;
    s.slack.always(Reply::new(400, "invalid_payload"));
    let work = Workdir::new(ALL_CHANNELS);
    let herald = start_with(&work, &s).await;

    herald.send(&event("quote.ordered", 2)).await;
    assert!(
        herald.wait_for_log("delivery failed permanently").await,
        "{}",
        herald.logs()
    );
    // Let the rest of the event's deliveries finish: a retry would have been scheduled by now.
    s.smtp.wait_for(1).await;
    assert!(herald.wait_for_log("channel=\"mail\"").await);
    assert_eq!(s.slack.requests().len(), 1);
    let line = herald
        .logs()
        .lines()
        .find(|l| l.contains("delivery failed permanently"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("invalid_payload") && line.contains("channel=\"slack\""),
        "{line}"
    );
    assert!(line.contains("status=400"), "{line}");
}
