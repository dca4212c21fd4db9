//! Data from the CRM cannot format, ping, script or reshape anything: each destination
//! escapes it its own way, and every JSON body still parses with the template's structure.

use mail_parser::MessageParser;

use crate::delivery::{Stands, stands, start_with};
use crate::support::{Workdir, event};

const HOSTILE: &str = "<script>x</script> & <!channel> \" }";

const RULES: &str = r#"
channels:
  slack: { type: slack, url: "${SLACK_URL}" }
  teams: { type: teams, url: "${TEAMS_URL}" }
  erp: { type: webhook, url: "${ERP_URL}", headers: { Authorization: "Bearer ${ERP_TOKEN}" } }
  mail: { type: email, smtp: "${SMTP_URL}", from: quotes@example.com, to: [sales@example.com] }
rules:
  - name: hostile
    events: quote.ordered
    notify:
      - { channel: slack, template: hostile }
      - { channel: teams, template: hostile }
      - { channel: erp, template: hostile }
      - { channel: mail, template: hostile }
  - name: hostile-inline
    events: quote.ordered
    notify:
      - { channel: erp, text: "name {{WebhookName}}" }
"#;

#[tokio::test]
async fn a_hostile_webhook_name_comes_out_inert_everywhere() {
    let s: Stands = stands().await;
    let work = Workdir::new(RULES);
    work.write("templates/hostile/slack.yaml", "text: \"Hook {{WebhookName}}\"\nblocks:\n  - type: section\n    text: { type: mrkdwn, text: \"*{{WebhookName}}*\" }\n");
    work.write(
        "templates/hostile/teams.yaml",
        "type: AdaptiveCard\nbody:\n  - type: TextBlock\n    text: \"Hook {{WebhookName}}\"\n",
    );
    work.write(
        "templates/hostile/webhook.yaml",
        "name: \"{{WebhookName}}\"\nfixed: 1\n",
    );
    work.write(
        "templates/hostile/email.subject.hbs",
        "Hook {{WebhookName}}\n",
    );
    work.write("templates/hostile/email.text.hbs", "Hook {{WebhookName}}\n");
    work.write(
        "templates/hostile/email.html.hbs",
        "<p>Hook {{WebhookName}}</p>\n",
    );
    let herald = start_with(&work, &s).await;

    let mut ev = event("quote.ordered", 9);
    ev["WebhookName"] = HOSTILE.into();
    assert_eq!(herald.send(&ev).await.0, 200);

    let slack = s.slack.wait_for(1).await[0].json();
    let escaped = "&lt;script&gt;x&lt;/script&gt; &amp; &lt;!channel&gt; \" }";
    assert_eq!(slack["text"], format!("Hook {escaped}"));
    assert_eq!(slack["blocks"][0]["text"]["text"], format!("*{escaped}*"));
    assert_eq!(slack.as_object().unwrap().len(), 2, "{slack}");

    // Teams renders no HTML: the text arrives exactly as written, JSON-encoded.
    let teams = s.teams.wait_for(1).await[0].json();
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], format!("Hook {HOSTILE}"));
    assert_eq!(card["body"].as_array().unwrap().len(), 1);

    let bodies: Vec<serde_json::Value> = s.erp.wait_for(2).await.iter().map(|r| r.json()).collect();
    let templated = bodies.iter().find(|b| b.get("fixed").is_some()).unwrap();
    assert_eq!(templated, &serde_json::json!({"name": HOSTILE, "fixed": 1}));
    let inline = bodies.iter().find(|b| b.get("text").is_some()).unwrap();
    assert_eq!(inline["text"], format!("name {HOSTILE}"));
    assert_eq!(inline["event"]["WebhookName"], HOSTILE);

    let mail = &s.smtp.wait_for(1).await[0];
    let parsed = MessageParser::default().parse(&mail.data).unwrap();
    let html = parsed.body_html(0).unwrap();
    assert!(
        html.contains("&lt;script&gt;x&lt;/script&gt; &amp; &lt;!channel&gt; &quot; }"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        format!("Hook {HOSTILE}")
    );
    assert_eq!(parsed.subject(), Some(format!("Hook {HOSTILE}").as_str()));
}
