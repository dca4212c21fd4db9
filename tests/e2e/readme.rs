//! The README's quick start works as written: its commands run here, in a fresh copy of the
//! files it needs.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{copy_dir, fenced_after, herald_bin, readme, repo, wait_until};

/// The shell lines of the README block that follows the marker comment.
fn block(readme: &str, marker: &str) -> Vec<String> {
    fenced_after(readme, marker, "sh")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// `cargo run --release -- ARGS` runs the binary the tests already built.
fn argv(line: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    while words
        .first()
        .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
    {
        let w = words.remove(0);
        let (k, v) = w.split_once('=').unwrap();
        env.push((k.to_string(), v.to_string()));
    }
    if words.first().map(String::as_str) == Some("cargo") {
        let dashes = words
            .iter()
            .position(|w| w == "--")
            .expect("cargo run -- ...");
        let mut rest = vec![herald_bin().to_string()];
        rest.extend(words.drain(dashes + 1..));
        words = rest;
    }
    (env, words)
}

#[tokio::test]
async fn the_quick_start_works_as_written() {
    let readme = readme();
    let serve = block(&readme, "<!-- quick-start: serve -->");
    let try_it = block(&readme, "<!-- quick-start: try -->");
    assert_eq!(serve.len(), 1, "one command runs the service: {serve:?}");

    let dir = example_copy();

    let (env, words) = argv(&serve[0]);
    assert!(words.iter().any(|w| w == "serve"), "{words:?}");
    let mut server = Command::new(&words[0]);
    server
        .args(&words[1..])
        .env_remove("HERALD_WEBHOOK_SECRET")
        .envs(env)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server.spawn().unwrap());

    let mut outputs = Vec::new();
    for line in &try_it {
        let (env, words) = argv(line);
        if words[0] == "ls" {
            let outbox = dir.path().join(&words[1]);
            let ok = wait_until(Duration::from_secs(20), || {
                std::fs::read_dir(&outbox).is_ok_and(|d| d.count() >= 5)
            })
            .await;
            assert!(
                ok,
                "{} holds no messages after {outputs:?}",
                outbox.display()
            );
            continue;
        }
        // The service may still be starting: `herald send` is retried until it connects.
        let mut last = String::new();
        let ok = wait_until(Duration::from_secs(30), || {
            let out = Command::new(&words[0])
                .args(&words[1..])
                .env_remove("HERALD_WEBHOOK_SECRET")
                .envs(env.clone())
                .current_dir(dir.path())
                .output()
                .unwrap();
            last = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            !last.contains("cannot reach")
        })
        .await;
        assert!(ok, "{line}: {last}");
        outputs.push(last);
    }
    assert!(
        outputs
            .iter()
            .any(|o| o.contains("HTTP 200 OK") && o.contains("accepted")),
        "{outputs:?}"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("-quote-ordered-sales-slack-")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with(".eml")), "{names:?}");
}

/// A fresh folder with the example rules, their templates and the saved examples, as a user
/// who copied the repository has them.
fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["templates", "examples"] {
        copy_dir(&repo().join(d), &dir.path().join(d));
    }
    std::fs::copy(
        repo().join("rules.example.yaml"),
        dir.path().join("rules.example.yaml"),
    )
    .unwrap();
    dir
}

fn yaml_after(readme: &str, anchor: &str) -> String {
    fenced_after(readme, anchor, "yaml")
}

#[test]
fn the_readme_rules_snippets_pass_check() {
    let readme = readme();
    let env = [
        ("SLACK_WEBHOOK_URL", "file://outbox"),
        ("SUPEROFFICE_TOKEN", "token-for-the-test"),
    ];

    // The shape of rules.yaml, as written.
    let work =
        crate::support::Workdir::new(&yaml_after(&readme, "A complete, commented example is"));
    let (code, out, _) =
        crate::support::herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &env);
    assert_eq!(code, 0, "{out}");

    // The enrichment section, a channel with pace and retry, conditions, and the big-orders rule.
    let when: String = yaml_after(&readme, "`not`, nested freely:")
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    let composed = format!(
        "{}{}  management-email: {{ type: email, smtp: \"file://outbox\", from: quotes@example.com, to: [management@example.com] }}\nrules:\n{}  - name: conditions\n    events: quote.sent\n{when}    notify:\n      - {{ channel: sales-slack, text: hi }}\n",
        yaml_after(&readme, "## Enrichment"),
        yaml_after(&readme, "Per channel, in `rules.yaml`:"),
        yaml_after(&readme, "`enriched` | `true` when the data is there"),
    );
    let work = crate::support::Workdir::new(&composed);
    let key = repo().join("tests/fixtures/superoffice/app-key.xml");
    std::fs::copy(key, work.path().join("superoffice-private.pem")).unwrap();
    let env = [
        env[0],
        ("SUPEROFFICE_SYSTEM_USER_TOKEN", "HeraldTests-token"),
        ("SUPEROFFICE_CLIENT_SECRET", "client-secret-for-the-test"),
    ];
    let (code, out, _) =
        crate::support::herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &env);
    assert_eq!(code, 0, "{composed}\n{out}");
    assert!(
        out.contains("big-orders: events quote.ordered -> management-email (email, inline text)"),
        "{out}"
    );

    // People from the CRM: the owner as a recipient and a Slack mention.
    let people = yaml_after(&readme, "### People from the CRM").replacen(
        "channels:\n",
        "channels:\n  deals: { type: slack, token: xoxb-readme, channel: C0123456789, api_url: \"file://outbox\" }\n",
        1,
    );
    let composed = format!("{}{people}", yaml_after(&readme, "## Enrichment"));
    std::fs::write(work.rules(), &composed).unwrap();
    let env = [env[0], env[1], env[2], ("SMTP_URL", "file://outbox")];
    let (code, out, _) =
        crate::support::herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &env);
    assert_eq!(code, 0, "{composed}\n{out}");
}

#[test]
fn the_readme_noise_recipes_pass_check_and_simulate_says_what_they_do() {
    let readme = readme();
    let channels = "channels:\n  sales-slack: { type: slack, url: \"file://outbox\" }\n  sales-teams: { type: teams, url: \"file://outbox\" }\n  sales-email: { type: email, smtp: \"file://outbox\", from: quotes@example.com, to: [sales@example.com] }\n";
    let inline = yaml_after(&readme, "email and JSON; inline `text:` works too:");
    let rules = format!(
        "{channels}{}  - name: inline\n    events: sale.sold\n    notify:\n      - channel: sales-slack\n        {}        digest: {{ window: 1m }}\n",
        yaml_after(&readme, "## Less noise"),
        inline
    );
    let work = crate::support::Workdir::new(&rules);
    let (code, out, _) =
        crate::support::herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &[]);
    assert_eq!(code, 0, "{rules}\n{out}");
    let event = repo().join("examples/events/quote.approved.json");
    let (code, out, _) = crate::support::herald_cmd(
        work.path(),
        &["simulate", event.to_str().unwrap(), "--rules", "rules.yaml"],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("digest, sent at "), "{out}");
    assert!(out.contains(" Europe/Oslo"), "{out}");
    assert!(out.contains("1 quote update"), "{out}");
}

#[test]
fn the_readme_conversation_example_passes_check() {
    let readme = readme();
    let rules = yaml_after(&readme, "## Conversations: one message per quote");
    let work = crate::support::Workdir::new(&rules);
    let env = [("SLACK_BOT_TOKEN", "xoxb-for-the-test")];
    let (code, out, _) =
        crate::support::herald_cmd(work.path(), &["check", "--rules", "rules.yaml"], &env);
    assert_eq!(code, 0, "{rules}\n{out}");
    assert!(
        out.contains("quote-story: events quote.sent, quote.approved, quote.rejected, quote.ordered -> deals (slack, template quote-status)"),
        "{out}"
    );
}

#[test]
fn the_readme_test_file_example_passes() {
    let readme = readme();
    let dir = example_copy();
    let tests = yaml_after(&readme, "<!-- test-file example -->");
    std::fs::write(dir.path().join("readme.test.yaml"), &tests).unwrap();
    let (code, out, err) =
        crate::support::herald_cmd(dir.path(), &["test", "readme.test.yaml"], &[]);
    assert_eq!(code, 0, "{tests}\n{out}{err}");
    assert!(out.ends_with("3 passed, 0 failed\n"), "{out}");
}

#[test]
fn the_readme_watchdog_example_passes_check() {
    let readme = readme();
    let so = yaml_after(&readme, "<!-- watchdog example -->");
    let rules = format!(
        "{so}channels:\n  ops-slack: {{ type: slack, url: \"file://outbox\" }}\n  admin-email: {{ type: email, smtp: \"file://outbox\", from: herald@example.com, to: [it@example.com] }}\nrules:\n  - name: q\n    events: quote.*\n    notify:\n      - {{ channel: ops-slack, template: quote-ordered }}\n"
    );
    let work = crate::support::Workdir::new(&rules);
    let (code, out, _) =
        crate::support::herald_cmd(work.path(), &["check"], &[("SUPEROFFICE_TOKEN", "t")]);
    assert_eq!(code, 0, "{rules}\n{out}");
}

/// The flag's default as `herald serve --help` states it (`[default: 16]`), the help text being
/// the code's own clap definitions.
fn help_default(help: &str, flag: &str) -> Option<String> {
    let long = format!("--{flag} ");
    let mut lines = help.lines().skip_while(|l| {
        let l = l.trim_start();
        !(l.starts_with(&long) || l.contains(&format!(", {long}")))
    });
    let first = lines.next()?;
    let rest = lines.take_while(|l| !l.trim_start().starts_with('-'));
    let text = std::iter::once(first)
        .chain(rest)
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    let start = text.find("[default: ")? + "[default: ".len();
    Some(text[start..].split(']').next()?.to_string())
}

#[test]
fn the_readme_states_the_versions_and_defaults_the_code_has() {
    let readme = readme();
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let rust = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        readme.contains(&format!("You need Rust ({rust} or newer)")),
        "the README's Rust version is not Cargo.toml's {rust}"
    );
    let (_, help, _) = crate::support::herald_cmd(&repo(), &["serve", "--help"], &[]);
    let mut checked = 0;
    // The serve table: | `--flag` | `ENV` | `default`… |
    for row in readme.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let flag = cells[1].trim_matches('`').trim_start_matches("--");
        let stated = cells[3].split('`').nth(1).unwrap_or_default();
        if let Some(default) = help_default(&help, flag) {
            assert_eq!(
                stated, default,
                "README says `--{flag}` defaults to {stated}"
            );
            checked += 1;
        }
    }
    // Prose: "`--flag` (…, N by default)".
    for (at, _) in readme.match_indices("by default)") {
        let before = &readme[readme[..at].rfind("`--").unwrap_or(at)..at];
        let Some((flag, rest)) = before.strip_prefix("`--").and_then(|b| b.split_once('`')) else {
            continue;
        };
        // Only "`--flag` (…": the parenthesis that follows the flag, on the same line.
        if !rest.starts_with(" (") || rest.contains([')', '\n']) {
            continue;
        }
        // "(sends at once, 16 " or "(1 MiB ": the value after the parenthesis' last comma.
        let paren = before.rsplit('(').next().unwrap_or_default();
        let stated: String = paren
            .rsplit(',')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if let Some(default) = help_default(&help, flag) {
            assert_eq!(
                stated, default,
                "README prose says `--{flag}` defaults to {stated}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} defaults found to check");
}

/// The README's `ops-alerts` rule is the one `rules.example.yaml` has (its comments aside).
#[test]
fn the_readme_own_events_rule_is_the_examples() {
    let readme = readme();
    let rule = yaml_after(&readme, "<!-- own events example -->");
    let example =
        std::fs::read_to_string(crate::support::repo().join("rules.example.yaml")).unwrap();
    let without_comments: Vec<String> = example
        .lines()
        .map(|l| match l.find(" #") {
            Some(at) if !l.trim_start().starts_with('#') => l[..at].trim_end().to_string(),
            _ => l.to_string(),
        })
        .collect();
    for line in rule.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            without_comments.iter().any(|l| l == line),
            "rules.example.yaml lacks the README's line {line:?}"
        );
    }
}
