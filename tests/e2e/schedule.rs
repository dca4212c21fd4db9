//! Day names as people write them: `mon-fri` was accepted by `check` and meant Monday only
//! (names were matched on their first three letters, so `monkey` was Monday too).

use crate::support::{Workdir, herald_cmd};

fn rules(days: &str) -> String {
    format!(
        r#"
channels:
  hook:
    type: webhook
    url: "file://out"
    active_hours: {{ timezone: Europe/Oslo, days: [{days}], from: "08:00", to: "17:00" }}
rules:
  - name: all
    events: quote.*
    notify:
      - {{ channel: hook, text: "{{{{PrimaryKey}}}}" }}
"#
    )
}

/// A case at `at` (Oslo time), expecting `decision`.
fn case(name: &str, at: &str, decision: &str) -> String {
    format!(
        "  - name: {name}\n    event: {{ Event: quote.ordered, EventId: e-{decision}, PrimaryKey: 1 }}\n    at: \"{at}\"\n    expect:\n      deliveries:\n        - {{ channel: hook, decision: {decision} }}\n"
    )
}

#[test]
fn a_range_of_days_holds_nothing_on_a_weekday_and_holds_at_the_weekend() {
    let work = Workdir::new(&rules("mon-fri"));
    let tests = format!(
        "rules: rules.yaml\ntests:\n{}{}{}",
        case(
            "wednesday noon goes now",
            "2026-12-02T12:00:00+01:00",
            "now"
        ),
        case("friday noon goes now", "2026-12-04T12:00:00+01:00", "now"),
        case("saturday noon is held", "2026-12-05T12:00:00+01:00", "held"),
    );
    work.write("rules.test.yaml", &tests);
    let (code, out, err) = herald_cmd(work.path(), &["test", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");
}

#[test]
fn a_word_that_is_not_a_day_is_refused_with_its_position() {
    let work = Workdir::new(&rules("mon, monkey"));
    let (code, out, err) = herald_cmd(work.path(), &["check"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("rules.yaml:6:56: channel `hook`: active_hours: days: `monkey` is not a day or a range of days"),
        "{out}"
    );
}

const WEEKDAYS_ONLY: &str = r#"
channels:
  hook: { type: webhook, url: "${HOOK_URL}", pace: off }
rules:
  - name: weekdays
    events: quote.*
    when:
      - not: { time: { days: [sat, sun], timezone: Europe/Oslo } }
    notify:
      - { channel: hook, text: "{{PrimaryKey}}" }
"#;

/// "Nothing at weekends" is one condition on the time of the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_the_time_of_the_event_drops_weekends_in_its_time_zone() {
    let hook = crate::support::StandIn::start().await;
    let work = Workdir::new(WEEKDAYS_ONLY);
    let herald = crate::support::Start::new(&work)
        .env("HOOK_URL", hook.url("/hook"))
        .run()
        .await;
    let at = |key: i64, when: &str| {
        let mut e = crate::support::event("quote.ordered", key);
        e["Timestamp"] = when.into();
        e
    };
    // Saturday 10:00 in Oslo, then Monday 10:00.
    assert_eq!(herald.send(&at(6, "2026-12-05T09:00:00Z")).await.0, 200);
    assert_eq!(herald.send(&at(1, "2026-12-07T09:00:00Z")).await.0, 200);
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].json()["text"], "1");
    let (_, out, _) = herald_cmd(work.path(), &["events"], &[]);
    assert!(out.lines().count() >= 2, "{out}");
    assert_eq!(hook.requests().len(), 1);

    let tests = "rules: rules.yaml\ntests:\n  - name: saturday is dropped\n    event: { Event: quote.ordered, EventId: a, PrimaryKey: 6, Timestamp: \"2026-12-05T10:00:00+01:00\" }\n    expect:\n      matched: []\n  - name: monday is sent\n    event: { Event: quote.ordered, EventId: b, PrimaryKey: 1, Timestamp: \"2026-12-07T10:00:00+01:00\" }\n    expect:\n      matched: [weekdays]\n      deliveries:\n        - { channel: hook, contains: [\"1\"] }\n";
    work.write("rules.test.yaml", tests);
    let (code, out, err) = herald_cmd(
        work.path(),
        &["test", "--rules", "rules.yaml"],
        &[("HOOK_URL", "file://out")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[test]
fn the_readme_time_condition_passes_check() {
    let readme = crate::support::readme();
    let when: String = crate::support::fenced_after(&readme, "**The time of the event.**", "yaml")
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    let rules = format!(
        "channels:\n  hook: {{ type: webhook, url: \"file://out\" }}\nrules:\n  - name: r\n    events: quote.*\n{when}    notify:\n      - {{ channel: hook, text: hi }}\n"
    );
    let work = Workdir::new(&rules);
    let (code, out, err) = herald_cmd(work.path(), &["check"], &[]);
    assert_eq!(code, 0, "{rules}\n{out}{err}");
}
