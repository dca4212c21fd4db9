//! Property tests that throw generated and mangled input at everything that reads data from
//! outside: the webhook body parser, the signature check, the rules loader, template check and
//! render, and the `Retry-After` and duration parsers. None may panic, and what they accept
//! must hold up.
//!
//! CI runs a few hundred cases per property. For a long run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test fuzz
//! ```

use std::time::Duration;

use proptest::prelude::*;

use herald::event::Event;
use herald::ingress::signature::{Verifier, sign};

fn config() -> ProptestConfig {
    // PROPTEST_CASES overrides this, for long runs.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces that make templates interesting: tags, blocks, subexpressions, partials, names.
fn template_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{{#if x}}".to_string()),
        Just("{{/if}}".to_string()),
        Just("{{#each list}}".to_string()),
        Just("{{/each}}".to_string()),
        Just("{{else}}".to_string()),
        Just("(not ".to_string()),
        Just(")".to_string()),
        Just("{{> me}}".to_string()),
        Just("{{#*inline \"me\"}}".to_string()),
        Just("{{/inline}}".to_string()),
        Just("{{x}}".to_string()),
        Just("{{{x}}}".to_string()),
        Just("{{date x \"%Y\" tz=\"Europe/Oslo\"}}".to_string()),
        Just("{{money n currency=\"NOK\"}}".to_string()),
        Just("{{truncate x 3}}".to_string()),
        Just("{{!-- c --}}".to_string()),
        Just("\\{{".to_string()),
        "[a-z ]{0,5}",
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop::collection::vec(template_piece(), 0..40).prop_map(|v| v.concat())
}

/// A valid rules file, then mangled: bytes replaced, removed or the text cut short.
fn mangled_rules() -> impl Strategy<Value = String> {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.example.yaml"))
        .expect("the example rules");
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(edits, cut)| {
            let mut bytes = base.clone().into_bytes();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
            String::from_utf8_lossy(&bytes).into_owned()
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_body_parser_never_panics_and_keeps_its_promises(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(e) = Event::parse(&bytes) {
            prop_assert!(!e.id().trim().is_empty() && !e.name().trim().is_empty());
            prop_assert!(!e.id().chars().any(char::is_control));
        }
    }

    #[test]
    fn the_body_parser_takes_json_events_of_any_shape(
        id in "\\PC{0,140}",
        name in "\\PC{0,120}",
        extra in prop::collection::btree_map("[A-Za-z]{1,8}", any::<i64>(), 0..5),
    ) {
        let mut body = serde_json::json!({"EventId": id, "Event": name});
        for (k, v) in extra {
            body[k] = v.into();
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Ok(e) = Event::parse(&bytes) {
            prop_assert!(e.name().chars().count() <= herald::event::MAX_NAME_CHARS);
        }
    }

    #[test]
    fn a_signature_verifies_its_body_and_nothing_else(
        secret in "[ -~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        flip in any::<prop::sample::Index>(),
        garbage in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let v = Verifier::new([secret.clone()]);
        let good = sign(&secret, &body);
        prop_assert!(v.verify(Some(good.as_bytes()), body.clone().into()).is_ok());
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            prop_assert!(v.verify(Some(good.as_bytes()), tampered.into()).is_err());
        }
        let _ = v.verify(Some(&garbage), body.into());
    }

    #[test]
    fn the_rules_loader_reports_instead_of_panicking(text in mangled_rules()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.yaml");
        std::fs::write(&file, text).unwrap();
        let env = |_: &str| None;
        if let Err(problems) = herald::rules::load_with_env(&file, &env) {
            prop_assert!(!problems.items.is_empty());
        }
    }

    #[test]
    fn the_rules_loader_survives_any_text(text in "\\PC{0,300}") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.yaml");
        std::fs::write(&file, text).unwrap();
        let _ = herald::rules::load_with_env(&file, &|_| None);
    }

    #[test]
    fn a_template_that_compiles_renders_or_fails_cleanly(source in template()) {
        let mut renderer = herald::render::Renderer::new();
        let known = |_: &str| true;
        if let Ok(text) = renderer.compile(&source, herald::render::Escape::Html, &known) {
            let data = serde_json::json!({"x": "a<b", "n": 1200.5, "list": [1, 2, 3]});
            let _ = renderer.render(&text, &handlebars::Context::from(data));
        }
    }

    #[test]
    fn retry_after_is_always_bounded(value in "\\PC{0,40}", secs in any::<u64>()) {
        let cap = herald::http::RETRY_AFTER_CEILING;
        for v in [value, secs.to_string(), format!("{secs}0")] {
            if let Some(wait) = herald::http::parse_retry_after(&v) {
                prop_assert!(wait <= cap);
            }
        }
    }

    #[test]
    fn durations_are_bounded(value in "[0-9]{0,25}(ms|s|m|h|d| d|x)?") {
        if let Some(d) = herald::config::decode::parse_duration(&value) {
            prop_assert!(d <= herald::config::decode::MAX_DURATION);
            prop_assert!(d < Duration::MAX);
        }
    }
}

#[test]
fn deeply_nested_yaml_is_refused_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    for text in [
        "a: ".to_string() + &"[".repeat(100_000),
        "a: ".to_string() + &"{b: ".repeat(100_000),
        "- ".repeat(50_000),
    ] {
        std::fs::write(&file, text).unwrap();
        assert!(herald::rules::load_with_env(&file, &|_| None).is_err());
    }
}

#[test]
fn deeply_nested_json_is_refused_not_a_stack_overflow() {
    let body = format!(
        r#"{{"EventId":"a","Event":"b","x":{}}}"#,
        "[".repeat(100_000)
    );
    assert!(Event::parse(body.as_bytes()).is_err());
}
