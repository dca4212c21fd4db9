//! The second hardening pass: what real destinations, real CRM data and real browsers do to
//! herald, each from the situation as it was found, through the real binary.

use crate::support::{PgDb, StandIn, Start, Workdir, herald_cmd};

const RULES: &str = r#"
channels:
  hook: { type: webhook, url: "${HOOK_URL}", pace: off }
rules:
  - name: all
    events: quote.*
    notify:
      - { channel: hook, text: "{{WebhookName}}|{{PrimaryKey}}" }
"#;

/// A quote event whose `WebhookName` is `text` as it stands in the JSON (escapes and all).
fn raw_event(id: &str, key: i64, text: &str) -> Vec<u8> {
    format!(
        r#"{{"EventId":"{id}","Timestamp":"2026-12-01T10:00:0{key}Z","Changes":[],"Event":"quote.ordered","PrimaryKey":{key},"Entity":"quote","ContextIdentifier":"Cust1","ChangedByAssociateId":5,"WebhookName":{text}}}"#
    )
    .into_bytes()
}

/// An event with `\u0000` and one with a lone surrogate are acknowledged, stored (the raw body
/// kept), listed and delivered, on SQLite and on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_with_nul_and_lone_surrogates_are_stored_and_delivered_on_both_backends() {
    let pg = PgDb::create().await;
    for db in ["sqlite://herald.db".to_string(), pg.url()] {
        let hook = StandIn::start().await;
        let work = Workdir::new(RULES);
        let herald = Start::new(&work)
            .env("HOOK_URL", hook.url("/hook"))
            .args(&["--db", &db])
            .run()
            .await;
        let cases = [
            ("nul-1", 1, r#""a\u0000b""#),
            ("surrogate-2", 2, r#""cut \ud800x""#),
            ("low-3", 3, r#""\udfff alone""#),
        ];
        for (id, key, text) in cases {
            let body = raw_event(id, key, text);
            let sig = herald::ingress::signature::sign(crate::support::SECRET, &body);
            let (status, answer) = herald.post(body, Some(sig)).await;
            assert_eq!(status, 200, "{db}: {text}: {answer}");
        }
        let got = hook.wait_for(3).await;
        let mut texts: Vec<String> = got
            .iter()
            .map(|r| r.json()["text"].as_str().unwrap().to_string())
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            ["a\u{0}b|1", "cut \u{fffd}x|2", "\u{fffd} alone|3"],
            "{db}"
        );
        let (code, out, err) = herald_cmd(work.path(), &["events", "--db", &db], &[]);
        assert_eq!(code, 0, "{db}: {out}{err}");
        for (id, _, _) in cases {
            assert!(out.contains(id), "{db}: {out}");
        }
        herald.stop();
    }
}
