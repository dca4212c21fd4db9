//! herald as a newcomer gets it: the Containerfile's build stage has every file the build
//! needs, whatever is added to the workspace later.

use std::path::Path;
use std::process::Command;

use crate::support::{copy_dir, repo};

/// The sources the Containerfile's build stage copies (`COPY SRC... DEST` before the second
/// `FROM`), each with where it goes.
fn build_stage_copies(containerfile: &str) -> Vec<(String, String)> {
    // The lines from the first `FROM` to the second: the build stage.
    let stage: Vec<&str> = containerfile
        .lines()
        .skip_while(|l| !l.starts_with("FROM "))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("FROM "))
        .map(|(_, l)| l)
        .collect();
    let mut out = Vec::new();
    for line in stage.iter().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        assert!(
            !words.iter().any(|w| w.starts_with("--")),
            "the build stage copies with options: {line}"
        );
        let (dest, sources) = words.split_last().expect("COPY SRC DEST");
        for src in sources {
            out.push((src.to_string(), dest.to_string()));
        }
    }
    out
}

fn place(src: &Path, dest: &Path) {
    if src.is_dir() {
        copy_dir(src, dest);
    } else {
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(src, dest).unwrap();
    }
}

/// `cargo check`, not `build`: it loads every manifest and compiles every source (macros that
/// read files included) as the build does, without writing a `herald` binary over the one the
/// other tests run.
#[test]
fn the_containerfile_copies_everything_its_build_needs() {
    let containerfile = std::fs::read_to_string(repo().join("Containerfile")).unwrap();
    let copies = build_stage_copies(&containerfile);
    assert!(copies.len() >= 3, "{copies:?}");
    let dir = tempfile::tempdir().unwrap();
    for (src, dest) in &copies {
        let to = match dest.as_str() {
            "./" | "." => dir.path().join(Path::new(src).file_name().unwrap()),
            d => dir.path().join(d),
        };
        place(&repo().join(src), &to);
    }
    let out = Command::new(env!("CARGO"))
        .args(["check", "--locked", "--offline", "--bin", "herald"])
        .current_dir(dir.path())
        // The tests' own target folder: the dependencies checked for clippy are not checked again.
        .env("CARGO_TARGET_DIR", crate::support::target_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Containerfile's build stage would fail:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_licenses_cargo_toml_names_are_there() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""));
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(text.len() > 500, "{file} is not a license");
    }
    let changelog = std::fs::read_to_string(repo().join("CHANGELOG.md")).unwrap();
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        changelog.contains(&format!("## [{version}]")),
        "CHANGELOG.md has no entry for {version}"
    );
}

#[test]
fn the_bash_completion_loads_and_completes_subcommands() {
    let (code, script, err) = crate::support::herald_cmd(&repo(), &["completions", "bash"], &[]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.bash");
    std::fs::write(&file, &script).unwrap();
    // Load it, then ask bash what `herald se<TAB>` completes to, as readline would.
    let probe = format!(
        "source {}; complete -p herald; COMP_WORDS=(herald se); COMP_CWORD=1; COMP_LINE='herald se'; COMP_POINT=9; _herald herald se herald; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered = stdout.lines().next().unwrap_or_default();
    assert!(
        registered.starts_with("complete ") && registered.ends_with(" -F _herald herald"),
        "{stdout}"
    );
    let words: Vec<&str> = stdout.lines().skip(1).collect();
    assert!(
        words.contains(&"serve") && words.contains(&"send"),
        "{stdout}"
    );
}

#[test]
fn the_manual_page_renders_without_warnings_and_covers_every_subcommand() {
    let (code, page, err) = crate::support::herald_cmd(&repo(), &["manpage"], &[]);
    assert_eq!(code, 0, "{err}");
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff (Debian's groff-base, which man needs)");
    use std::io::Write;
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = groff.wait_with_output().unwrap();
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && warnings.is_empty(), "{warnings}");
    for sub in [
        "serve",
        "check",
        "simulate",
        "test",
        "replay",
        "completions",
    ] {
        assert!(
            page.contains(&format!(".SH \"HERALD {}\"", sub.to_uppercase())),
            "no section for herald {sub}"
        );
    }
}

/// The `herald_…` metric names a file mentions.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (at, _) in text.match_indices("herald_") {
        if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

/// GitHub's anchor for a README heading: lower case, punctuation dropped, spaces to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[tokio::test]
async fn the_alerts_and_the_dashboard_name_only_metrics_herald_exports_from_its_first_scrape() {
    let rules = std::fs::read_to_string(repo().join("rules.example.yaml")).unwrap();
    let work = crate::support::Workdir::new(&rules);
    let herald = crate::support::Start::new(&work).run().await;
    // Before any event: every series an alert needs is there, at zero.
    let first = herald.metrics().await;
    assert!(
        first.contains("herald_delivery_attempts_total{channel=\"erp\",outcome=\"failed\"} 0"),
        "{first}"
    );
    assert!(
        first.contains("herald_oldest_due_age_seconds{channel=\"erp\"} 0"),
        "{first}"
    );
    assert!(
        first.contains("herald_panics_total{place=\"delivery\"} 0"),
        "{first}"
    );
    let event = crate::support::event("quote.ordered", 1042);
    assert_eq!(herald.send(&event).await.0, 200);
    // The histogram's buckets are there once an attempt was timed.
    let timed = crate::support::eventually(std::time::Duration::from_secs(20), || async {
        herald
            .metrics()
            .await
            .contains("herald_delivery_attempt_duration_seconds_bucket")
    })
    .await;
    assert!(timed, "no attempt was timed");
    let exported = herald.metrics().await;
    let mut missing = Vec::new();
    for file in [
        "contrib/prometheus/herald-alerts.yaml",
        "contrib/grafana/herald.json",
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for name in metric_names(&text) {
            // The example rules have no `superoffice:` section: no webhook to watch.
            let aside = name.starts_with("herald_superoffice_");
            if !aside && !exported.contains(&format!("\n{name}")) {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in /metrics: {missing:?}\n{exported}"
    );
    let readme = crate::support::readme();
    let anchors: Vec<String> = readme
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(anchor)
        .collect();
    let alerts =
        std::fs::read_to_string(repo().join("contrib/prometheus/herald-alerts.yaml")).unwrap();
    for line in alerts.lines().filter(|l| l.trim().starts_with("runbook:")) {
        let target = line.split('#').nth(1).unwrap().trim_end_matches('"');
        assert!(
            anchors.iter().any(|a| a == target),
            "no README section #{target}"
        );
    }
}

/// The completions and the manual page the Debian package installs are committed (so that a
/// plain `cargo deb` finds them); they must be what herald prints today.
#[test]
fn the_packaged_completions_and_manual_page_are_the_commands_output() {
    for (file, args) in [
        (
            "contrib/completions/herald.bash",
            &["completions", "bash"][..],
        ),
        ("contrib/completions/_herald", &["completions", "zsh"][..]),
        (
            "contrib/completions/herald.fish",
            &["completions", "fish"][..],
        ),
        ("contrib/man/herald.1", &["manpage"][..]),
    ] {
        let (code, out, err) = crate::support::herald_cmd(&repo(), args, &[]);
        assert_eq!(code, 0, "{err}");
        let committed = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(
            committed == out,
            "{file} is not `herald {}`'s output: run it again into the file",
            args.join(" ")
        );
    }
}
