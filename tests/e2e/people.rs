//! People from the CRM as recipients: the quote's owner by email (SuperOffice's Associate →
//! Person → Emails, from the API stand-in) through a real SMTP server, `allowed_domains`, the
//! owner mentioned in Slack through `users.lookupByEmail`, and digests that carry each quote's
//! customer and amount.

use std::time::Duration;

use mail_parser::MessageParser;

use crate::support::slack::SlackApi;
use crate::support::superoffice::SoApi;
use crate::support::{Herald, SmtpServer, StandIn, Start, Workdir, event, herald_cmd, wait_until};

fn superoffice(api: &SoApi) -> String {
    format!(
        "superoffice:\n  api: {}\n  auth: {{ bearer: so-token }}\n  timeout: 2s\n",
        api.root()
    )
}

const MAIL_RULES: &str = r#"
channels:
  mail:
    type: email
    smtp: "${SMTP_URL}"
    from: quotes@example.com
    to: [sales@example.com]
    allowed_domains: [example.com]
rules:
  - name: rejected
    events: quote.rejected
    notify:
      - channel: mail
        to: ["{{owner.email}}", sales@example.com]
        cc: ["{{person.email}}"]
        subject: "Quote {{PrimaryKey}} rejected"
        text: "{{owner.FullName}}: {{contact.Name}} rejected quote {{PrimaryKey}}."
"#;

async fn start_mail(api: &SoApi) -> (Workdir, SmtpServer, Herald) {
    let smtp = SmtpServer::start().await;
    let work = Workdir::new(&format!("{}{MAIL_RULES}", superoffice(api)));
    let herald = Start::new(&work)
        .env("SMTP_URL", format!("smtp://{}", smtp.addr))
        .run()
        .await;
    (work, smtp, herald)
}

/// Every delivery settled: sent, dead or skipped.
async fn settled(work: &Workdir, n: usize) -> serde_json::Value {
    let mut rows = serde_json::Value::Null;
    let done = wait_until(Duration::from_secs(20), || {
        let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--json"], &[]);
        rows = serde_json::from_str(&out).unwrap_or_default();
        rows.as_array().is_some_and(|r| {
            r.len() == n
                && r.iter()
                    .all(|d| ["sent", "dead", "skipped"].contains(&d["status"].as_str().unwrap()))
        })
    })
    .await;
    assert!(done, "deliveries did not settle: {rows:#}");
    rows
}

#[tokio::test]
async fn the_owner_gets_the_email_and_one_without_an_address_is_skipped_not_the_rest() {
    let api = SoApi::start().await;
    let (work, smtp, herald) = start_mail(&api).await;
    // 1042: owned by Jane Doe, whose work address ranks first.
    assert_eq!(herald.send(&event("quote.rejected", 1042)).await.0, 200);
    let mail = smtp.wait_for(1).await[0].clone();
    let mut rcpt: Vec<String> = mail
        .rcpt_to
        .iter()
        .map(|r| r.trim_matches(['<', '>']).to_string())
        .collect();
    rcpt.sort();
    assert_eq!(rcpt, ["jane.doe@example.com", "sales@example.com"]);
    let parsed = MessageParser::default().parse(&mail.data).unwrap();
    assert_eq!(parsed.subject(), Some("Quote 1042 rejected"));
    assert!(
        parsed
            .body_text(0)
            .unwrap()
            .contains("Jane Doe: ACME AS rejected")
    );

    // 1043: owned by Per Olsen, who has no address; sales still hears of it.
    assert_eq!(herald.send(&event("quote.rejected", 1043)).await.0, 200);
    let second = smtp.wait_for(2).await[1].clone();
    assert_eq!(second.rcpt_to, ["<sales@example.com>"]);

    let rows = settled(&work, 2).await;
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "sent"),
        "{rows:#}"
    );
    let (_, text, _) = herald_cmd(work.path(), &["deliveries"], &[]);
    assert!(
        text.contains("skipped {{owner.email}}: Per Olsen has no email address"),
        "{text}"
    );
    // The contact person's address is outside allowed_domains, for both.
    assert_eq!(
        text.matches("refused kari@partner.example: outside allowed_domains")
            .count(),
        2,
        "{text}"
    );
    let json = rows.to_string();
    assert!(json.contains("Per Olsen has no email address"), "{json}");
    assert!(api.count("/api/v1/Associate/37202") >= 1);
    assert!(
        !smtp
            .received()
            .iter()
            .any(|m| m.rcpt_to.iter().any(|r| r.contains("partner")))
    );
}

#[tokio::test]
async fn a_message_with_nobody_left_to_write_to_is_skipped_with_the_reason() {
    let api = SoApi::start().await;
    let rules = MAIL_RULES.replace(
        r#"to: ["{{owner.email}}", sales@example.com]"#,
        r#"to: ["{{owner.email}}"]"#,
    );
    let smtp = SmtpServer::start().await;
    let work = Workdir::new(&format!("{}{rules}", superoffice(&api)));
    let herald = Start::new(&work)
        .env("SMTP_URL", format!("smtp://{}", smtp.addr))
        .run()
        .await;
    assert_eq!(herald.send(&event("quote.rejected", 1043)).await.0, 200);
    let rows = settled(&work, 1).await;
    assert_eq!(rows[0]["status"], "skipped", "{rows:#}");
    let reason = rows[0]["last_error"].as_str().unwrap();
    assert!(
        reason.contains("skipped {{owner.email}}: Per Olsen has no email address")
            && reason.contains("refused kari@partner.example"),
        "{reason}"
    );
    assert!(smtp.received().is_empty());
}

#[test]
fn check_refuses_a_written_address_outside_allowed_domains_and_a_recipient_that_is_no_address() {
    let check = |rules: String| {
        let work = Workdir::new(&format!(
            "superoffice:\n  api: https://example.invalid/api\n  auth: {{ bearer: t }}\n{rules}"
        ));
        let env = [("SMTP_URL", "smtp://127.0.0.1:2525")];
        let (code, out, err) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &env);
        (code, format!("{out}{err}"))
    };
    let (code, out) =
        check(MAIL_RULES.replace("to: [sales@example.com]", "to: [sales@partner.example]"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rules.yaml:10:9: channel `mail`: to: sales@partner.example is outside allowed_domains (example.com)"),
        "{out}"
    );
    let (code, out) = check(MAIL_RULES.replace(
        r#"cc: ["{{person.email}}"]"#,
        r#"cc: ["{{owner.FullName}}"]"#,
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rule `rejected`: notify mail: for a sample quote.rejected event, skipped {{owner.FullName}}: \"Ola Nordmann\" is not an email address"),
        "{out}"
    );
}

const SLACK_RULES: &str = r#"
channels:
  deals: { type: slack, token: xoxb-people-test, channel: C0DEALS01, api_url: "${SLACK_API}", pace: off }
rules:
  - name: owner
    events: quote.ordered
    when:
      - { field: PrimaryKey, equals: 1042 }
    notify:
      - channel: deals
        text: "{{slack_mention owner.email}} closed {{contact.Name}}"
  - name: contact-person
    events: quote.ordered
    when:
      - { field: PrimaryKey, equals: 1043 }
    notify:
      - channel: deals
        text: "{{slack_mention person.email}} (owner {{slack_mention owner.email}}) closed {{contact.Name}}"
"#;

#[tokio::test]
async fn the_owner_is_mentioned_in_slack_or_named_when_slack_does_not_know_them() {
    let api = SoApi::start().await;
    let slack = SlackApi::start("xoxb-people-test").await;
    let work = Workdir::new(&format!("{}{SLACK_RULES}", superoffice(&api)));
    let herald = Start::new(&work).env("SLACK_API", slack.url()).run().await;
    assert_eq!(herald.send(&event("quote.ordered", 1042)).await.0, 200);
    let found = wait_until(Duration::from_secs(20), || slack.messages().len() == 1).await;
    assert!(found, "{:?}", slack.methods());
    assert_eq!(slack.messages()[0].text, "<@U0JANE001> closed ACME AS");

    // Slack does not know Kari's address (users_not_found), and Per Olsen has none: both
    // fall back to the name, never the address.
    assert_eq!(herald.send(&event("quote.ordered", 1043)).await.0, 200);
    let found = wait_until(Duration::from_secs(20), || slack.messages().len() == 2).await;
    assert!(found, "{:?}", slack.methods());
    assert_eq!(
        slack.messages()[1].text,
        "Kari Nordmann (owner Per Olsen) closed Initech AS"
    );
    let lookups: Vec<_> = slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "users.lookupByEmail")
        .map(|c| c.body["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lookups, ["jane.doe@example.com", "kari@partner.example"]);
}

#[tokio::test]
async fn a_digest_lists_each_quotes_customer_and_amount() {
    let api = SoApi::start().await;
    let hook = StandIn::start().await;
    let mail = SmtpServer::start().await;
    let rules = format!(
        r#"{}channels:
  mgmt: {{ type: webhook, url: "${{HOOK}}" }}
  mail: {{ type: email, smtp: "${{SMTP_URL}}", from: quotes@example.com, to: [boss@example.com] }}
rules:
  - name: digest
    events: quote.ordered
    notify:
      - {{ channel: mgmt, template: quote-digest, digest: {{ window: 2s, max: 3 }} }}
      - {{ channel: mail, template: quote-digest, digest: {{ window: 2s, max: 3 }} }}
"#,
        superoffice(&api)
    );
    let work = Workdir::new(&rules);
    let herald = Start::new(&work)
        .env("HOOK", hook.url("/hook"))
        .env("SMTP_URL", format!("smtp://{}", mail.addr))
        .run()
        .await;
    for quote in [1042, 1043, 1044] {
        assert_eq!(herald.send(&event("quote.ordered", quote)).await.0, 200);
    }
    let body = hook.wait_for(1).await[0].json();
    let items = body["events"].as_array().unwrap();
    let got: Vec<(String, String)> = items
        .iter()
        .map(|e| (e["customer"].to_string(), e["total"].to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("\"ACME AS\"".into(), "\"120000.0\"".into()),
            ("\"Initech AS\"".into(), "\"5000.0\"".into()),
            ("\"Globex AS\"".into(), "\"48000.0\"".into()),
        ],
        "{body:#}"
    );
    let email = mail.wait_for(1).await[0].clone();
    let parsed = MessageParser::default().parse(&email.data).unwrap();
    let text = parsed.body_text(0).unwrap();
    for line in [
        "ACME AS: Server upgrade, 120,000.00 NOK",
        "Initech AS: Spare cables, 5,000.00 NOK",
        "Globex AS: Fleet renewal, 48,000.00 NOK",
    ] {
        assert!(text.contains(line), "{text}");
    }
}
