//! `herald check` and `herald simulate` on the example and on broken files.

use crate::support::{Workdir, herald_cmd, repo};

const EXAMPLE_RULES: &[&str] = &[
    "quote-ordered",
    "quote-approved",
    "quote-rejected",
    "quote-sent",
    "quote-story",
    "management-digest",
    "big-sale-won",
    "ops-alerts",
];

#[test]
fn check_passes_on_the_example_and_lists_each_rule() {
    let (code, out, err) = herald_cmd(&repo(), &["check", "--rules", "rules.example.yaml"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    for rule in EXAMPLE_RULES {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{rule}: events "))),
            "{rule} missing:\n{out}"
        );
    }
    assert!(
        out.contains(
            "quote-ordered: events quote.ordered -> sales-slack (slack, template quote-ordered)"
        ),
        "{out}"
    );
    assert!(out.trim_end().ends_with("OK, 8 rules, 5 channels"), "{out}");
}

const FIVE_MISTAKES: &str = r#"channels:
  slack:
    type: slack
    url: file://outbox
    colour: red
  mail:
    type: email
    smtp: file://outbox
    from: "not an address"
    to: [sales@example.com]
rules:
  - name: a
    events: quote.order
    notify:
      - channel: slak
        text: hi
  - name: b
    events: quote.sent
    when:
      - field: WebhookName
        matches: "(unclosed"
    notify:
      - channel: slack
        template: quote-sent
"#;

#[test]
fn check_reports_every_mistake_at_once_with_line_and_column() {
    let work = Workdir::new(FIVE_MISTAKES);
    let (code, out, _) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 1, "{out}");
    let problems: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("rules.yaml:") && !l.starts_with("rules.yaml: "))
        .collect();
    let expected = [
        ("rules.yaml:5:5:", "unknown key `colour` in channel `slack`"),
        (
            "rules.yaml:9:11:",
            "\"not an address\" is not an email address",
        ),
        (
            "rules.yaml:13:13:",
            "rule `a`: `quote.order` matches no SuperOffice event (did you mean `quote.ordered`?)",
        ),
        (
            "rules.yaml:15:18:",
            "rule `a`: channel `slak` does not exist (did you mean `slack`?)",
        ),
        (
            "rules.yaml:21:18:",
            "rule `b`: matches: regex \"(unclosed\" does not compile",
        ),
    ];
    assert_eq!(problems.len(), expected.len(), "{out}");
    for ((position, message), line) in expected.iter().zip(&problems) {
        assert!(
            line.starts_with(position) && line.contains(message),
            "expected {position} {message}\ngot {line}"
        );
    }
    assert!(out.trim_end().ends_with("rules.yaml: 5 problems"), "{out}");
}

#[test]
fn check_reports_template_problems_where_they_are() {
    let work = Workdir::new(
        r#"channels:
  slack: { type: slack, url: "file://outbox" }
  mail: { type: email, smtp: "file://outbox", from: a@example.com, to: [b@example.com] }
  hook: { type: webhook, url: "file://outbox" }
rules:
  - name: a
    events: quote.*
    notify:
      - { channel: slack, template: custom }
      - { channel: mail, template: custom }
      - { channel: hook, template: missing-one }
      - { channel: hook, text: "{{Nope}}" }
      - { channel: slack }
  - name: a
    events: sale.sold
    notify: [{ channel: slack, text: ok }]
"#,
    );
    work.write("templates/custom/slack.yaml", "text: \"{{PrimaryKy}}\"\n");
    work.write(
        "templates/custom/email.text.hbs",
        "line one\n{{#if Event}}\n",
    );
    let (code, out, _) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 1, "{out}");
    let has = |needle: &str| assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    has(
        "templates/custom/slack.yaml:1:7: template uses `PrimaryKy`, but no event has a field `PrimaryKy`",
    );
    has("templates/custom/email.text.hbs:2:");
    has("template does not compile");
    assert!(
        !out.contains("email.html.hbs"),
        "no HTML part was written, so none is reported:\n{out}"
    );
    has("rules.yaml:11:36: rule `a`: template `missing-one` not found");
    has("rules.yaml:12:32: rule `a`: text: template uses `Nope`");
    has(
        "rules.yaml:13:9: rule `a`: a notify entry needs `template:` (a folder in templates/) or `text:`",
    );
    has("rules.yaml:14:5: rule `a`: duplicate rule name (first used on line 6)");
}

#[test]
fn check_names_an_unset_variable_and_its_line() {
    let work = Workdir::new(
        "channels:\n  s:\n    type: slack\n    url: ${HERALD_TEST_UNSET_URL}\nrules: []\n",
    );
    let (code, out, _) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("rules.yaml:4:10: environment variable HERALD_TEST_UNSET_URL is not set"),
        "{out}"
    );
}

fn simulate(event: &str, json: bool) -> String {
    let path = format!("examples/events/{event}.json");
    let mut args = vec!["simulate", path.as_str(), "--rules", "rules.example.yaml"];
    if json {
        args.push("--json");
    }
    let (code, out, err) = herald_cmd(&repo(), &args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    out
}

#[test]
fn simulate_shows_every_rule_for_every_sample_event() {
    for event in [
        "quote.ordered",
        "quote.approved",
        "quote.rejected",
        "quote.sent",
        "sale.sold",
        "test",
    ] {
        let out = simulate(event, false);
        for rule in EXAMPLE_RULES {
            let verdict = out
                .lines()
                .find(|l| {
                    l.split_whitespace()
                        .nth(if l.starts_with("NO MATCH") { 2 } else { 1 })
                        .map(|n| n.trim_end_matches(':'))
                        == Some(rule)
                })
                .unwrap_or_else(|| panic!("{event}: no verdict for {rule}:\n{out}"));
            assert!(
                verdict.starts_with("MATCH")
                    || verdict.starts_with("NO MATCH")
                    || verdict.starts_with("SKIPPED"),
                "{verdict}"
            );
        }
    }
    let approved = simulate("quote.approved", false);
    assert!(approved.contains("MATCH     quote-approved"), "{approved}");
    assert!(
        approved.contains("NO MATCH  management-digest: when: any [PrimaryKey gte 500000, not (WebhookName matches \"(?i)^test\")] (seen: none held; first: PrimaryKey gte 500000 (seen: 1042))"),
        "{approved}"
    );
    assert!(approved.contains(
        "NO MATCH  quote-ordered: event `quote.approved` is not in events [quote.ordered]"
    ));
    assert!(
        approved.contains("Subject: Quote 1042 approved"),
        "{approved}"
    );

    let ordered = simulate("quote.ordered", false);
    assert!(
        ordered.contains("\"text\": \":tada: Quote 527331 ordered\""),
        "{ordered}"
    );
    assert!(ordered.contains("\"contentType\": \"application/vnd.microsoft.card.adaptive\""));

    let sale = simulate("sale.sold", false);
    assert!(sale.contains("MATCH     big-sale-won"), "{sale}");
    assert!(
        sale.contains("Sale *Server upgrade* was won: 120,000.00"),
        "{sale}"
    );
}

#[test]
fn simulate_json_gives_each_verdict_and_message() {
    let report: serde_json::Value = serde_json::from_str(&simulate("quote.ordered", true)).unwrap();
    let rules = report["rules"].as_array().unwrap();
    assert_eq!(rules.len(), EXAMPLE_RULES.len());
    let ordered = &rules[0];
    assert_eq!(
        (ordered["rule"].as_str(), ordered["outcome"].as_str()),
        (Some("quote-ordered"), Some("match"))
    );
    let kinds: Vec<&str> = ordered["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["slack", "teams", "email", "webhook"]);
    assert_eq!(
        ordered["messages"][2]["message"]["subject"],
        "Quote 527331 ordered"
    );
    assert_eq!(rules[1]["outcome"], "no_match");
}
