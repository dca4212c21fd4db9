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
