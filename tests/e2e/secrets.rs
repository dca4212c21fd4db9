//! No secret reaches a log line, an error or the tools' output: not the webhook secret, not
//! the SMTP password, not the Slack URL's path, not a value from `${…}`.

use std::net::TcpListener;

use crate::delivery::{ALL_CHANNELS, ERP_TOKEN, SLACK_PATH, SMTP_PASSWORD, stands};
use crate::support::{Herald, Reply, SECRET, Start, Workdir, event, herald_cmd};

#[tokio::test]
async fn no_secret_appears_in_logs_errors_or_tool_output() {
    let s = stands().await;
    s.teams.always(Reply::new(500, "teams is down"));
    // A Slack URL nobody listens on: the connection error must not quote the URL.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    drop(TcpListener::bind(closed));
    let slack_url = format!("http://{closed}{SLACK_PATH}");
    let teams_url = s.teams.url("/workflows/run?sig=teamssig000secret");
    let smtp_url = format!("smtp://herald:{SMTP_PASSWORD}@{}", s.smtp.addr);
    let work = Workdir::new(ALL_CHANNELS);
    let herald: Herald = Start::new(&work)
        .env("SLACK_URL", slack_url.clone())
        .env("TEAMS_URL", teams_url.clone())
        .env("ERP_URL", s.erp.url("/hooks/quote"))
        .env("ERP_TOKEN", ERP_TOKEN)
        .env("SMTP_URL", smtp_url.clone())
        .env("RUST_LOG", "debug")
        .run()
        .await;
    herald.send(&event("quote.ordered", 1)).await;
    let body = serde_json::to_vec(&event("quote.ordered", 2)).unwrap();
    herald.post(body, Some("d3Jvbmc=".into())).await;
    assert!(
        herald
            .wait_for_line(&["channel=\"slack\"", "attempt=1"])
            .await,
        "{}",
        herald.logs()
    );
    assert!(
        herald
            .wait_for_line(&["channel=\"teams\"", "attempt=1"])
            .await
    );
    assert!(herald.wait_for_log("channel=\"mail\"").await);

    let env = [
        ("SLACK_URL", slack_url.as_str()),
        ("TEAMS_URL", teams_url.as_str()),
        ("ERP_URL", "http://127.0.0.1:9/hooks"),
        ("ERP_TOKEN", ERP_TOKEN),
        ("SMTP_URL", smtp_url.as_str()),
        ("HERALD_WEBHOOK_SECRET", SECRET),
    ];
    let event_file = crate::support::repo().join("examples/events/quote.ordered.json");
    let (_, check_out, check_err) =
        herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &env);
    let (_, sim_out, sim_err) = herald_cmd(
        work.path(),
        &[
            "simulate",
            event_file.to_str().unwrap(),
            "--rules",
            "rules.yaml",
        ],
        &env,
    );
    // A broken file whose bad values came from the environment.
    work.write("broken.yaml", "channels:\n  m:\n    type: email\n    smtp: ${SMTP_URL}\n    from: ${ERP_TOKEN}\n    to: [a@example.com]\nrules: []\n");
    let (code, broken_out, _) = herald_cmd(work.path(), &["check", "--rules", "broken.yaml"], &env);
    assert_eq!(code, 1);
    assert!(
        broken_out.contains("broken.yaml:5:11:") && broken_out.contains("is not an email address"),
        "{broken_out}"
    );
    let (_, help, _) = herald_cmd(work.path(), &["serve", "--help"], &env);
    let (_, send_help, _) = herald_cmd(work.path(), &["send", "--help"], &env);

    let outputs = [
        ("logs", herald.stop()),
        ("check", check_out + &check_err),
        ("simulate", sim_out + &sim_err),
        ("check of a broken file", broken_out),
        ("serve --help", help),
        ("send --help", send_help),
    ];
    let secrets = [
        SECRET,
        SMTP_PASSWORD,
        SLACK_PATH,
        "slackpathsecret123",
        "teamssig000secret",
        ERP_TOKEN,
    ];
    for (what, text) in &outputs {
        assert!(!text.is_empty(), "{what} printed nothing");
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{what} shows the secret {secret:?}:\n{text}"
            );
        }
    }
    let logs = &outputs[0].1;
    assert!(logs.contains("could not connect"), "{logs}");
    assert!(logs.contains("teams answered 500"), "{logs}");
}
