//! `herald send-test CHANNEL`: a fixed test message through the channel's real destination,
//! without a running herald; the destination's answer printed, exit 0 only on success.

use mail_parser::MessageParser;

use crate::support::standin::Reply;
use crate::support::{SmtpServer, StandIn, Workdir, herald_cmd};

fn rules(hook: &StandIn, smtp: &SmtpServer) -> String {
    format!(
        r#"
channels:
  hook: {{ type: webhook, url: "{}" }}
  teams: {{ type: teams, url: "{}" }}
  mail: {{ type: email, smtp: "smtp://{}", from: quotes@example.com, to: [sales@example.com, "{{{{owner.email}}}}"] }}
rules:
  - name: r
    events: quote.ordered
    notify:
      - {{ channel: hook, text: hi }}
"#,
        hook.url("/hook"),
        hook.url("/teams"),
        smtp.addr
    )
}

async fn send_test(work: &Workdir, channel: &str) -> (i32, String, String) {
    let dir = work.path().to_path_buf();
    let channel = channel.to_string();
    tokio::task::spawn_blocking(move || {
        herald_cmd(&dir, &["send-test", &channel, "--rules", "rules.yaml"], &[])
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_test_message_goes_through_each_channel_and_the_answer_is_printed() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    let work = Workdir::new(&rules(&hook, &smtp));

    let (code, out, err) = send_test(&work, "hook").await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("sent to hook (webhook): 200"), "{out}");
    let got = hook.wait_for(1).await;
    let body = got[0].json();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Test message from herald: this channel (hook) works"),
        "{body}"
    );

    let (code, out, _) = send_test(&work, "teams").await;
    assert_eq!(code, 0, "{out}");
    let card = hook.wait_for(2).await[1].json().to_string();
    assert!(
        card.contains("AdaptiveCard") && card.contains("this channel (teams) works"),
        "{card}"
    );

    // Email: to the channel's written addresses; a templated one has no event to fill it.
    let (code, out, err) = send_test(&work, "mail").await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("note: skipped {{owner.email}}"), "{out}");
    let mail = smtp.wait_for(1).await[0].clone();
    assert_eq!(mail.rcpt_to, ["<sales@example.com>"]);
    let parsed = MessageParser::default().parse(&mail.data).unwrap();
    assert_eq!(parsed.subject(), Some("herald test message for mail"));
    assert_eq!(hook.requests().len(), 2, "nothing else was sent");
}

#[tokio::test]
async fn a_refusal_is_printed_with_its_status_and_exits_1() {
    let (hook, smtp) = (StandIn::start().await, SmtpServer::start().await);
    hook.always(Reply::new(400, "invalid_payload"));
    let work = Workdir::new(&rules(&hook, &smtp));
    let (code, out, _) = send_test(&work, "hook").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("failed to send to hook (webhook): 400"),
        "{out}"
    );
    assert!(out.contains("invalid_payload"), "{out}");
    assert_eq!(hook.requests().len(), 1, "a test message is never retried");

    let (code, _, err) = send_test(&work, "nope").await;
    assert_eq!(code, 1);
    assert!(
        err.contains("no channel `nope`") && err.contains("hook, mail, teams"),
        "{err}"
    );
}
