//! The JSON Schemas editors read: equal to `herald schema`'s output, accepting the example files
//! and the README's rules, and refusing what `herald check` refuses where a schema can say it.

use serde_json::Value;

use crate::support::{Workdir, herald_cmd, readme, repo};

fn schema_of(which: &str) -> Value {
    let (code, out, err) = herald_cmd(&repo(), &["schema", which], &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

/// The problems the schema finds in a document, as text (empty: valid).
fn problems(schema: &Value, doc: &Value) -> String {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("herald.json", schema.clone())
        .unwrap();
    let id = compiler.compile("herald.json", &mut schemas).unwrap();
    match schemas.validate(doc, id) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn the_committed_schemas_are_what_herald_prints() {
    for which in ["rules", "tests"] {
        let committed =
            std::fs::read_to_string(repo().join(format!("schema/{which}.schema.json"))).unwrap();
        let printed: Value = schema_of(which);
        assert_eq!(
            serde_json::from_str::<Value>(&committed).unwrap(),
            printed,
            "schema/{which}.schema.json is not `herald schema {which}`: write it again"
        );
    }
}

#[test]
fn the_example_files_say_where_their_schema_is_and_pass_it() {
    for (file, which) in [
        ("rules.example.yaml", "rules"),
        ("rules.example.test.yaml", "tests"),
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!("# yaml-language-server: $schema=schema/{which}.schema.json"),
            "{file}"
        );
        let found = problems(&schema_of(which), &yaml(&text));
        assert!(found.is_empty(), "{file}: {found}");
    }
}

/// Every YAML block of the README that is (part of) a rules file: one with a top-level
/// `channels:`, `rules:` or `superoffice:` (or a test file: `tests:`). A part need not have every
/// required key of a whole rules file.
#[test]
fn every_rules_snippet_in_the_readme_passes_the_schema() {
    let mut schema = schema_of("rules");
    schema.as_object_mut().unwrap().remove("required");
    let tests = schema_of("tests");
    let text = readme();
    let mut checked = 0;
    for block in text.split("```yaml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let top = |k: &str| block.lines().any(|l| l.starts_with(&format!("{k}:")));
        if !(top("channels") || top("rules") || top("superoffice")) {
            continue;
        }
        let doc = yaml(block);
        // Another tool's file with a `rules:` of its own (a CI job's) is not herald's.
        if !(top("channels") || top("superoffice") || doc["rules"].is_array() || top("tests")) {
            continue;
        }
        // A test file's example (`tests:`) has a schema of its own.
        let against = if top("tests") { &tests } else { &schema };
        let found = problems(against, &doc);
        assert!(found.is_empty(), "{found}\n{block}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} rules snippets found");
}

const GOOD: &str = r#"
channels:
  mail: { type: email, smtp: "file://outbox", from: a@example.com, to: [b@example.com] }
  hook: { type: webhook, url: "file://outbox" }
rules:
  - name: r
    events: quote.ordered
    notify:
      - { channel: hook, text: hi }
"#;

#[test]
fn what_check_refuses_the_schema_refuses_too() {
    let schema = schema_of("rules");
    let good = problems(&schema, &yaml(GOOD));
    assert!(good.is_empty(), "{good}");
    let broken = [
        (
            "an unknown top-level key",
            GOOD.replace("rules:\n", "rulez: []\nrules:\n"),
        ),
        (
            "an unknown key in a rule",
            GOOD.replace(
                "    events: quote.ordered",
                "    events: quote.ordered\n    priority: high",
            ),
        ),
        (
            "a key of another channel type",
            GOOD.replace(
                "type: webhook, url",
                "type: webhook, smtp: \"file://x\", url",
            ),
        ),
        (
            "an unknown channel type",
            GOOD.replace("type: webhook", "type: sms"),
        ),
        (
            "a wrong type",
            GOOD.replace("    notify:", "    stop: sometimes\n    notify:"),
        ),
        (
            "notify not a list",
            GOOD.replace(
                "    notify:\n      - { channel: hook, text: hi }",
                "    notify: { channel: hook, text: hi }",
            ),
        ),
        (
            "a missing required key",
            GOOD.replace("from: a@example.com, ", ""),
        ),
        (
            "a rule without notify",
            GOOD.replace("    notify:\n      - { channel: hook, text: hi }\n", ""),
        ),
        (
            "an unknown condition operator",
            GOOD.replace(
                "    notify:",
                "    when:\n      - { field: PrimaryKey, bigger: 3 }\n    notify:",
            ),
        ),
        (
            "an unknown conversation mode",
            GOOD.replace(
                "text: hi }",
                "text: hi, conversation: { key: k, mode: shout } }",
            ),
        ),
    ];
    for (what, rules) in broken {
        let work = Workdir::new(&rules);
        let (code, out, err) = herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
        assert_eq!(code, 1, "check accepts {what}:\n{rules}\n{out}{err}");
        let found = problems(&schema, &yaml(&rules));
        assert!(!found.is_empty(), "the schema accepts {what}:\n{rules}");
    }
}

#[test]
fn a_variable_is_accepted_where_the_file_may_interpolate_one() {
    let schema = schema_of("rules");
    let rules = GOOD.replace("    notify:", "    stop: ${STOP:-false}\n    notify:");
    let found = problems(&schema, &yaml(&rules));
    assert!(found.is_empty(), "{found}");
}

#[test]
fn the_schemas_describe_each_key_in_the_readmes_words() {
    use herald::config::schema::words;
    let text = readme();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split(" | ").map(|c| c.trim_matches(['|', ' '])).collect())
        .collect();
    for table in [
        words::CHANNEL,
        words::RULE,
        words::ACTION,
        words::CONDITION,
        words::SUPEROFFICE,
        words::CONVERSATION,
        words::TEST_CASE,
        words::NOISE,
    ] {
        for (key, description) in table {
            let found = rows.iter().any(|cells| {
                cells
                    .first()
                    .is_some_and(|c| c.contains(key) || c.contains(&format!("`{key}`")))
                    && cells.last() == Some(description)
            });
            assert!(
                found,
                "the README's tables do not say of `{key}`: {description}"
            );
        }
    }
}
