//! What herald says, said right: counts in the singular, a missing folder named, a template that
//! fails at render time named without the library's words.

use crate::support::{Start, Workdir, event, herald_cmd, repo};

const ONE: &str = r#"
channels:
  hook: { type: webhook, url: "file://out" }
rules:
  - name: only
    events: quote.*
    notify:
      - { channel: hook, text: "{{PrimaryKey}}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rule_and_one_delivery_are_said_in_the_singular() {
    let work = Workdir::new(ONE);
    let (code, out, _) = herald_cmd(work.path(), &["check"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with("OK, 1 rule, 1 channel"), "{out}");
    let herald = Start::new(&work).run().await;
    let (status, answer) = herald.send(&event("quote.ordered", 1)).await;
    assert_eq!((status, answer.as_str()), (200, "accepted: 1 delivery\n"));
}

#[test]
fn simulate_names_a_missing_answers_folder_and_warns_when_answers_go_unused() {
    let work = Workdir::new(ONE);
    let event = repo().join("examples/events/quote.ordered.json");
    let event = event.to_str().unwrap();
    let (code, _, err) = herald_cmd(
        work.path(),
        &["simulate", event, "--api-responses", "no-such-dir"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such-dir"), "{err}");
    std::fs::create_dir(work.path().join("answers")).unwrap();
    let (code, _, err) = herald_cmd(
        work.path(),
        &["simulate", event, "--api-responses", "answers"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("are unused") && err.contains("no `superoffice:` section"),
        "{err}"
    );
}

#[test]
fn a_template_that_fails_when_rendered_is_named_in_words() {
    let work = Workdir::new(
        r#"
channels:
  hook: { type: webhook, url: "file://out" }
rules:
  - name: only
    events: quote.*
    notify:
      - { channel: hook, text: "{{FieldValues.contact_id}}" }
"#,
    );
    work.write(
        "event.json",
        r#"{"EventId":"e1","Event":"quote.ordered","PrimaryKey":1,"Timestamp":"2026-12-01T10:00:00Z"}"#,
    );
    let (_, out, err) = herald_cmd(work.path(), &["simulate", "event.json"], &[]);
    let said = format!("{out}{err}");
    assert!(
        said.contains("`FieldValues.contact_id` is not in this event's data"),
        "{said}"
    );
    assert!(
        !said.contains("Unnamed template") && !said.contains("Some("),
        "{said}"
    );
}
