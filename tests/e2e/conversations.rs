//! One conversation per quote: a Slack app's message that follows the quote, replies in its
//! thread, and email threads, against a Slack Web API stand-in and a real SMTP server.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Herald, PgDb, Scripted, SlackApi, SmtpServer, Start, Workdir, event, herald_cmd, wait_until,
};

const TOKEN: &str = "xoxb-1234-test-token";

fn rules(mode: &str, channel: &str) -> String {
    format!(
        r#"
channels:
  deals:
    type: slack
    token: ${{SLACK_BOT_TOKEN}}
    channel: "{channel}"
    api_url: ${{SLACK_API_URL}}
    pace: off
    retry: {{ delays: [1s], then: 1s, give_up_after: 1m }}
rules:
  - name: quotes
    events: [quote.*]
    notify:
      - channel: deals
        template: quote-status
        conversation: {{ key: "quote-{{{{PrimaryKey}}}}", mode: {mode} }}
"#
    )
}

async fn start(work: &Workdir, slack: &SlackApi, extra: &[&'static str]) -> Herald {
    Start::new(work)
        .env("SLACK_BOT_TOKEN", TOKEN)
        .env("SLACK_API_URL", slack.url())
        .args(extra)
        .run()
        .await
}

/// A quote event that happened `minute` minutes into the day (its SuperOffice `Timestamp`).
fn step(name: &str, quote: i64, minute: u32) -> Value {
    let mut e = event(name, quote);
    e["Timestamp"] = format!("2026-11-20T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60).into();
    e
}

async fn send(herald: &Herald, e: &Value) {
    assert_eq!(herald.send(e).await.0, 200);
}

/// Sends a step and waits for the Slack calls it makes.
async fn step_to(herald: &Herald, slack: &SlackApi, e: Value, calls: usize) {
    send(herald, &e).await;
    slack.wait_for(calls).await;
}

fn texts(slack: &SlackApi) -> Vec<String> {
    slack.messages().into_iter().map(|m| m.text).collect()
}

#[tokio::test]
async fn update_mode_keeps_one_message_per_quote_that_follows_it() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;
    step_to(&herald, &slack, step("quote.sent", 1042, 0), 1).await;
    step_to(&herald, &slack, step("quote.approved", 1042, 10), 2).await;
    step_to(&herald, &slack, step("quote.ordered", 1042, 20), 3).await;
    assert_eq!(
        slack.methods(),
        ["chat.postMessage", "chat.update", "chat.update"]
    );
    let calls = slack.calls();
    let ts = slack.messages()[0].ts.clone();
    assert!(calls[1..].iter().all(|c| c.body["ts"] == ts.as_str()));
    let messages = slack.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text, "Ordered: quote 1042");
    let blocks = calls[2].body["blocks"].to_string();
    assert!(blocks.contains("Sent → Approved → *Ordered*"), "{blocks}");

    step_to(&herald, &slack, step("quote.sent", 2001, 30), 4).await;
    assert_eq!(slack.messages().len(), 2, "another quote, another message");
}

#[tokio::test]
async fn thread_mode_replies_in_the_first_messages_thread() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("thread, broadcast: true", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;
    step_to(&herald, &slack, step("quote.sent", 7, 0), 1).await;
    step_to(&herald, &slack, step("quote.approved", 7, 5), 2).await;
    step_to(&herald, &slack, step("quote.ordered", 7, 9), 3).await;
    let messages = slack.messages();
    let first = &messages[0];
    assert_eq!(first.thread_ts, None);
    for reply in &messages[1..] {
        assert_eq!(reply.thread_ts.as_deref(), Some(first.ts.as_str()));
    }
    assert!(
        slack.calls()[1..]
            .iter()
            .all(|c| c.body["reply_broadcast"] == true)
    );
    assert_eq!(first.edits, 0);
}

#[tokio::test]
async fn a_late_retry_of_an_earlier_step_does_not_turn_the_message_back() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;
    step_to(&herald, &slack, step("quote.sent", 5, 0), 1).await;
    // Approved's edit fails once (retried a second later); ordered's goes through meanwhile.
    slack.script("chat.update", Scripted::Error("internal_error"));
    step_to(&herald, &slack, step("quote.approved", 5, 10), 2).await;
    step_to(&herald, &slack, step("quote.ordered", 5, 20), 3).await;
    assert!(
        herald
            .wait_for_line(&["shows a later step: not updated"])
            .await
    );
    assert_eq!(texts(&slack), ["Ordered: quote 5"]);
    assert_eq!(
        slack.methods(),
        ["chat.postMessage", "chat.update", "chat.update"],
        "the late step makes no call"
    );
}

#[tokio::test]
async fn a_message_that_is_gone_is_posted_again_and_followed_from_then_on() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;
    step_to(&herald, &slack, step("quote.sent", 9, 0), 1).await;
    let gone = slack.messages()[0].ts.clone();
    slack.delete(&gone);
    step_to(&herald, &slack, step("quote.approved", 9, 10), 3).await;
    assert_eq!(
        slack.methods(),
        ["chat.postMessage", "chat.update", "chat.postMessage"]
    );
    let again = slack.messages()[0].ts.clone();
    assert_ne!(again, gone);
    step_to(&herald, &slack, step("quote.ordered", 9, 20), 4).await;
    assert_eq!(slack.calls()[3].body["ts"], again.as_str());
    assert_eq!(texts(&slack), ["Ordered: quote 9"]);
}

#[tokio::test]
async fn after_a_sigkill_the_next_step_updates_the_same_message() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;
    step_to(&herald, &slack, step("quote.sent", 11, 0), 1).await;
    assert!(herald.wait_for_line(&["delivered", "posted message"]).await);
    Command::new("kill")
        .args(["-KILL", &herald.pid().to_string()])
        .status()
        .unwrap();
    drop(herald);
    let herald = start(&work, &slack, &[]).await;
    step_to(&herald, &slack, step("quote.ordered", 11, 30), 2).await;
    assert_eq!(slack.methods(), ["chat.postMessage", "chat.update"]);
    assert_eq!(slack.calls()[1].body["ts"], slack.messages()[0].ts.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_replica_on_postgresql_updates_the_same_message() {
    let slack = SlackApi::start(TOKEN).await;
    let db = PgDb::create().await;
    let url = db.url();
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let replica = || {
        Start::new(&work)
            .env("SLACK_BOT_TOKEN", TOKEN)
            .env("SLACK_API_URL", slack.url())
            .args(&["--db", &url])
            .run()
    };
    let (a, b) = (replica().await, replica().await);
    step_to(&a, &slack, step("quote.sent", 12, 0), 1).await;
    step_to(&b, &slack, step("quote.approved", 12, 10), 2).await;
    step_to(&a, &slack, step("quote.ordered", 12, 20), 3).await;
    assert_eq!(
        slack.methods(),
        ["chat.postMessage", "chat.update", "chat.update"]
    );
    assert_eq!(texts(&slack), ["Ordered: quote 12"]);
}

#[tokio::test]
async fn a_wrong_token_is_a_dead_letter_that_says_invalid_auth_without_retries() {
    let slack = SlackApi::start("xoxb-the-right-one").await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;
    send(&herald, &step("quote.sent", 13, 0)).await;
    assert!(
        herald
            .wait_for_line(&["delivery failed permanently", "invalid_auth"])
            .await
    );
    let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--status", "dead"], &[]);
    assert!(
        out.contains("invalid_auth: the bot token is not valid"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "the token is never shown: {out}");
    assert_eq!(
        slack.calls().len(),
        1,
        "no retry storm: {:?}",
        slack.methods()
    );
}

#[tokio::test]
async fn a_channel_name_is_found_once_across_pages_and_rate_limits_are_waited_out() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "#other"));
    let herald = start(&work, &slack, &[]).await;
    slack.script("chat.postMessage", Scripted::RateLimited { retry_after: 1 });
    send(&herald, &step("quote.sent", 14, 0)).await;
    assert!(
        wait_until(Duration::from_secs(20), || slack.messages().len() == 1).await,
        "{:?}",
        slack.methods()
    );
    assert_eq!(slack.messages()[0].channel, "C0OTHER01");
    step_to(&herald, &slack, step("quote.sent", 15, 0), 5).await;
    let lists = slack
        .methods()
        .iter()
        .filter(|m| *m == "conversations.list")
        .count();
    assert_eq!(lists, 2, "two pages, once: {:?}", slack.methods());

    let quiet = Workdir::new(&rules("update", "#quiet"));
    let herald = start(&quiet, &slack, &[]).await;
    send(&herald, &step("quote.sent", 16, 0)).await;
    assert!(
        herald
            .wait_for_line(&["the bot is not in #quiet", "/invite"])
            .await
    );
}

#[tokio::test]
async fn email_replies_thread_under_the_first_message() {
    let smtp = SmtpServer::start().await;
    let rules = format!(
        r#"
channels:
  mail:
    type: email
    smtp: smtp://127.0.0.1:{}
    from: "Quotes <quotes@example.com>"
    to: [sales@example.com]
rules:
  - name: quotes
    events: [quote.*]
    notify:
      - channel: mail
        template: quote-status
        conversation: {{ key: "quote-{{{{PrimaryKey}}}}" }}
"#,
        smtp.addr.port()
    );
    let work = Workdir::new(&rules);
    let herald = Start::new(&work).run().await;
    send(&herald, &step("quote.sent", 21, 0)).await;
    smtp.wait_for(1).await;
    send(&herald, &step("quote.approved", 21, 10)).await;
    let mails = smtp.wait_for(2).await;
    let parse = |i: usize| {
        mail_parser::MessageParser::default()
            .parse(&mails[i].data)
            .unwrap()
    };
    let (first, second) = (parse(0), parse(1));
    let first_id = first.message_id().unwrap().to_string();
    assert_eq!(second.in_reply_to().as_text(), Some(first_id.as_str()));
    assert_eq!(second.references().as_text(), Some(first_id.as_str()));
    let subject = first.subject().unwrap();
    assert_eq!(second.subject().unwrap(), format!("Re: {subject}"));
    assert!(second.body_text(0).unwrap().contains("Sent -> [Approved]"));
}

#[tokio::test]
async fn simulate_says_whether_a_message_posts_or_updates() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let env = [
        ("SLACK_BOT_TOKEN", TOKEN),
        ("SLACK_API_URL", &slack.url()[..]),
    ];
    let event = crate::support::repo().join("examples/events/quote.approved.json");
    let simulate = || {
        let args = ["simulate", event.to_str().unwrap(), "--rules", "rules.yaml"];
        let (code, out, err) = herald_cmd(work.path(), &args, &env);
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    assert!(
        simulate().contains("posts a new message for quote-1042"),
        "{}",
        simulate()
    );
    let herald = start(&work, &slack, &[]).await;
    // Sent before the sample approval (2026-11-19 08:13).
    let mut sent = step("quote.sent", 1042, 0);
    sent["Timestamp"] = "2026-11-01T08:00:00Z".into();
    step_to(&herald, &slack, sent, 1).await;
    assert!(herald.wait_for_line(&["delivered", "posted message"]).await);
    let out = simulate();
    assert!(
        out.contains("updates the message for quote-1042 (posted "),
        "{out}"
    );
    assert!(out.contains("Sent → *Approved*"), "{out}");
}

#[test]
fn check_refuses_conversations_where_they_cannot_work() {
    let rules = r#"
channels:
  hook-slack: { type: slack, url: "file://outbox" }
  teams: { type: teams, url: "file://outbox" }
  app: { type: slack, token: "xoxb-x", channel: "sales" }
rules:
  - name: quotes
    events: [quote.*]
    notify:
      - channel: hook-slack
        text: "{{conversation.state}}"
        conversation: { key: "quote-{{PrimaryKey}}" }
      - channel: teams
        text: "x"
        conversation: { key: "quote-{{PrimaryKey}}" }
      - channel: hook-slack
        text: "{{conversation.state}}"
"#;
    let work = Workdir::new(rules);
    let (code, out, _) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "rules.yaml:5:49: channel `app`: channel must be a channel ID like C0123456789",
        "rules.yaml:12:23: rule `quotes`: conversation: channel `hook-slack` is a Slack incoming webhook, which returns no message id",
        "rules.yaml:15:23: rule `quotes`: conversation: channel `teams` is a Teams Workflows webhook, which cannot edit a message or reply in its thread",
        "rules.yaml:17:15: rule `quotes`: text: template uses `conversation.state`: it is there when the action has `conversation:`",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

/// Slack's answer names the message herald follows up: a `ts` missing or not text made herald
/// store `""` and later record "updated" for calls that changed nothing, and the answer's
/// `channel` replaced the configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_message_without_a_ts_fails_and_the_answer_never_moves_the_conversation() {
    let slack = SlackApi::start(TOKEN).await;
    let work = Workdir::new(&rules("update", "C0DEALS01"));
    let herald = start(&work, &slack, &[]).await;

    slack.script(
        "chat.postMessage",
        Scripted::Answer(serde_json::json!({"ok": true, "channel": "C0DEALS01", "ts": 1712345678})),
    );
    step_to(&herald, &slack, step("quote.sent", 501, 0), 1).await;
    assert!(
        wait_until(Duration::from_secs(20), || {
            let (_, out, _) = herald_cmd(work.path(), &["deliveries", "--status", "dead"], &[]);
            out.contains("without a message ts")
        })
        .await
    );

    slack.script(
        "chat.postMessage",
        Scripted::Answer(
            serde_json::json!({"ok": true, "channel": "C0OTHER01", "ts": "1712345678.000100"}),
        ),
    );
    step_to(&herald, &slack, step("quote.sent", 502, 0), 2).await;
    step_to(&herald, &slack, step("quote.approved", 502, 5), 3).await;
    let update = &slack.calls()[2];
    assert_eq!(update.method, "chat.update");
    assert_eq!(update.body["channel"], "C0DEALS01", "{:?}", update.body);
    assert_eq!(update.body["ts"], "1712345678.000100");
}
