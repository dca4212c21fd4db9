//! `herald test`: test files beside the rules, their three output forms and exit codes, and
//! `serve --test-on-reload`.

use crate::support::standin::StandIn;
use crate::support::{Start, Workdir, copy_dir, event, herald_cmd, repo};

const RULES: &str = r#"
superoffice:
  api: http://127.0.0.1:9/api
  auth: { bearer: unused }
channels:
  sales-slack: { type: slack, url: "file://out" }
  management-email:
    type: email
    smtp: "file://out"
    from: "Quotes <quotes@example.com>"
    to: [management@example.com]
  erp: { type: webhook, url: "file://out" }
rules:
  - name: quote-ordered
    events: quote.ordered
    notify:
      - { channel: sales-slack, template: quote-ordered }
      - { channel: erp, template: quote-ordered }
  - name: big-orders
    events: quote.ordered
    when:
      - { field: alternative.TotalPrice, gte: 100000 }
    notify:
      - { channel: management-email, template: quote-ordered }
"#;

const TESTS: &str = r#"
tests:
  - name: an order over 100k reaches management
    event: events/ordered.json
    api_responses: api
    expect:
      matched: [quote-ordered, big-orders]
      deliveries:
        - channel: management-email
          template: quote-ordered
          contains: ["ACME AS", "120,000.00 NOK"]
          not_contains: ["{{"]
          subject: "ACME AS ordered Server upgrade"
        - channel: sales-slack
          json: { "/text": ":tada: ACME AS ordered Server upgrade: 120,000.00 NOK" }
        - channel: erp
          json: { "/event": "quote.ordered" }

  - name: a small order stays with sales
    event: events/small.json
    api_responses: api
    expect:
      matched: [quote-ordered]
      not_delivered: [management-email]

  - name: without saved answers the message says less
    event: events/ordered.json
    expect:
      deliveries:
        - channel: sales-slack
          not_contains: ["ACME AS"]

  - name: nothing matches a sale
    event:
      EventId: 0d9b7e1c-0000-4000-8000-000000000001
      Timestamp: "2026-11-20T11:02:09Z"
      Event: sale.sold
      PrimaryKey: 88232
    expect:
      matched: []
"#;

/// A folder with the rules above, their test file, two saved events and the saved API answers
/// the repository ships.
fn workdir() -> Workdir {
    let work = Workdir::new(RULES);
    work.write("rules.test.yaml", TESTS);
    copy_dir(&repo().join("examples/api"), &work.path().join("api"));
    let ordered = event("quote.ordered", 527331);
    work.write("events/ordered.json", &ordered.to_string());
    work.write(
        "events/small.json",
        &event("quote.ordered", 1043).to_string(),
    );
    work
}

fn test_cmd(work: &Workdir, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["test"];
    args.extend_from_slice(extra);
    let (code, out, err) = herald_cmd(work.path(), &args, &[]);
    (code, format!("{out}{err}"))
}

#[test]
fn passing_cases_for_matches_content_and_enrichment_exit_0() {
    let work = workdir();
    let (code, out) = test_cmd(&work, &[]);
    assert_eq!(code, 0, "{out}");
    for name in [
        "PASS an order over 100k reaches management",
        "PASS a small order stays with sales",
        "PASS without saved answers the message says less",
        "PASS nothing matches a sale",
    ] {
        assert!(out.contains(name), "{name}\n{out}");
    }
    assert!(out.ends_with("4 passed, 0 failed\n"), "{out}");
}

#[test]
fn a_rules_change_that_breaks_two_cases_fails_them_with_what_differed() {
    let work = workdir();
    let changed = RULES.replace("gte: 100000", "gte: 10000").replace(
        "{ channel: sales-slack, template: quote-ordered }",
        "{ channel: sales-slack, text: \"ordered\" }",
    );
    work.write("rules.yaml", &changed);
    let (code, out) = test_cmd(&work, &[]);
    assert_eq!(code, 1, "{out}");
    let expected = [
        "FAIL an order over 100k reaches management",
        "     sales-slack: json /text",
        "       -:tada: ACME AS ordered Server upgrade: 120,000.00 NOK",
        "       +ordered",
        "FAIL a small order stays with sales",
        "     matched",
        "       expected: [quote-ordered]",
        "       got:      [quote-ordered, big-orders]",
        "     not_delivered: management-email",
        "PASS nothing matches a sale",
    ];
    for line in expected {
        assert!(out.lines().any(|l| l == line), "{line}\n{out}");
    }
    assert!(out.ends_with("2 passed, 2 failed\n"), "{out}");

    let (code, xml) = test_cmd(&work, &["--format", "junit"]);
    assert_eq!(code, 1, "{xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let failing: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(
        failing,
        [
            "an order over 100k reaches management",
            "a small order stays with sales"
        ],
        "{xml}"
    );
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 4, "{xml}");

    let (_, json) = test_cmd(&work, &["--format", "json", "--filter", "over 100k"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["failed"], 1, "{json}");
    assert_eq!(json["passed"], 0, "{json}");
}

#[test]
fn a_broken_test_file_exits_2_with_its_position() {
    let work = workdir();
    work.write(
        "rules.test.yaml",
        "tests:\n  - name: typo\n    event: events/ordered.json\n    expect:\n      matched: [quote-orderd]\n      deliverd: []\n",
    );
    let (code, out) = test_cmd(&work, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("rules.test.yaml:6:7: unknown key `deliverd`"),
        "{out}"
    );
    work.write(
        "rules.test.yaml",
        "tests:\n  - name: typo\n    event: events/ordered.json\n    expect:\n      matched: [quote-orderd]\n",
    );
    let (code, out) = test_cmd(&work, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("rules.test.yaml:5:17: no rule `quote-orderd` in rules.yaml (did you mean `quote-ordered`?)"),
        "{out}"
    );
}

#[test]
fn check_renders_templates_and_reports_what_the_platforms_refuse() {
    let blocks: String = (0..51)
        .map(|i| format!("  - {{ type: section, text: {{ type: mrkdwn, text: \"{i} {{{{PrimaryKey}}}}\" }} }}\n"))
        .collect();
    let work = Workdir::new(
        r#"
channels:
  slack: { type: slack, url: "file://out" }
  teams: { type: teams, url: "file://out" }
  mail: { type: email, smtp: "file://out", from: "a@example.com", to: not-an-address }
rules:
  - name: quotes
    events: quote.*
    notify:
      - channel: slack
        template: many-blocks
      - channel: teams
        template: odd-card
"#,
    );
    work.write(
        "templates/many-blocks/slack.yaml",
        &format!("text: \"{{{{Event}}}}\"\nblocks:\n{blocks}"),
    );
    work.write(
        "templates/odd-card/teams.yaml",
        "type: AdaptiveCard\nversion: \"1.4\"\nbody:\n  - { type: TextBlok, text: \"{{Event}}\" }\n",
    );
    let (code, out, _) = herald_cmd(work.path(), &["check"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "rules.yaml:5:71: channel `mail`: to: \"not-an-address\" is not an email address"
        ),
        "{out}"
    );
    assert!(out.contains("RFC 5322"), "{out}");
    assert!(out.contains("rules.yaml:10:9: rule `quotes`: notify slack (template many-blocks), rendered for a sample quote.approved event: the Slack message has 51 blocks; Slack takes at most 50 (docs.slack.dev/reference/block-kit/blocks)"), "{out}");
    assert!(
        out.contains("rules.yaml:12:9: rule `quotes`: notify teams (template odd-card)"),
        "{out}"
    );
    assert!(
        out.contains("`TextBlok` is not an Adaptive Card element type (did you mean `TextBlock`?)"),
        "{out}"
    );
    assert!(out.ends_with("rules.yaml: 3 problems\n"), "{out}");
}

#[tokio::test]
async fn with_test_on_reload_an_edit_that_breaks_a_test_is_refused() {
    let hook = StandIn::start().await;
    let rules = |text: &str| {
        format!(
            "channels:\n  hook: {{ type: webhook, url: \"{}\" }}\nrules:\n  - name: sold\n    events: sale.sold\n    notify:\n      - {{ channel: hook, text: \"{text} {{{{PrimaryKey}}}}\" }}\n",
            hook.url("/hook")
        )
    };
    let work = Workdir::new(&rules("sold"));
    work.write(
        "rules.test.yaml",
        "tests:\n  - name: a sale is announced\n    event: { EventId: e1, Event: sale.sold, PrimaryKey: 7 }\n    expect:\n      deliveries:\n        - { channel: hook, json: { /text: sold 7 } }\n",
    );
    let herald = Start::new(&work)
        .args(&["--test-on-reload", "--no-watch"])
        .run()
        .await;

    work.write("rules.yaml", &rules("lost"));
    let answer = reqwest::Client::new()
        .post(herald.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let report: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("FAIL a sale is announced: hook: json /text"),
        "{report}"
    );
    assert!(
        problems.contains("sold 7") && problems.contains("lost 7"),
        "{report}"
    );

    herald.send(&event("sale.sold", 8)).await;
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].json()["text"], "sold 8", "{}", herald.logs());

    work.write("rules.yaml", &rules("sold"));
    let answer = reqwest::Client::new()
        .post(herald.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[test]
fn the_example_rules_pass_their_tests() {
    let (code, out, err) = herald_cmd(&repo(), &["test", "--rules", "rules.example.yaml"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}
