//! Signing in to SuperOffice Online as a new user would: a system user whose tickets herald gets
//! and renews itself, OAuth with a refresh token, `herald superoffice whoami`, against stand-ins
//! for SuperOffice's login service and API that check what SuperOffice checks and refuse expired
//! credentials; answers full of `null`; and one event sent twice under two EventIds.

use std::time::Duration;

use crate::support::so_login::{
    CLIENT_ID, CLIENT_SECRET, Login, REFRESH_TOKEN, SYSTEM_TOKEN, TENANT, fixtures,
};
use crate::support::superoffice::SoApi;
use crate::support::{Herald, StandIn, Start, Workdir, event, herald_cmd, wait_until};

const ENV: [(&str, &str); 5] = [
    ("HOOK_URL", "http://127.0.0.1:9/unused"),
    ("SO_SYSTEM_TOKEN", SYSTEM_TOKEN),
    ("SO_CLIENT_SECRET", CLIENT_SECRET),
    ("SO_REFRESH_TOKEN", REFRESH_TOKEN),
    ("HERALD_WEBHOOK_SECRET", crate::support::SECRET),
];

/// Every secret the tests give herald, and the lines of the key file.
fn secrets(api: &SoApi) -> Vec<String> {
    let mut all: Vec<String> = [SYSTEM_TOKEN, CLIENT_SECRET, REFRESH_TOKEN]
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(api.login().issued());
    let key = std::fs::read_to_string(fixtures().join("app-key.pem")).unwrap();
    all.extend(
        key.lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_string),
    );
    let xml = std::fs::read_to_string(fixtures().join("app-key.xml")).unwrap();
    all.extend(
        xml.split(['<', '>'])
            .filter(|v| v.len() > 16)
            .map(str::to_string),
    );
    all
}

fn assert_no_secret(text: &str, api: &SoApi) {
    for secret in secrets(api) {
        assert!(
            !text.contains(&secret),
            "a secret ({secret:.12}…) was shown:\n{text}"
        );
    }
}

fn system_user(api: &SoApi, key: &str, extra: &str) -> String {
    format!(
        r#"
superoffice:
  tenant: {TENANT}
  cache_ttl: 0s
{extra}
  auth:
    system_user:
      token: ${{SO_SYSTEM_TOKEN}}
      private_key: {key}
      client_secret: ${{SO_CLIENT_SECRET}}
      login: {login}
"#,
        login = api.login_url()
    )
}

fn oauth(api: &SoApi) -> String {
    format!(
        r#"
superoffice:
  api: {root}
  cache_ttl: 0s
  auth:
    oauth:
      client_id: {CLIENT_ID}
      client_secret: ${{SO_CLIENT_SECRET}}
      refresh_token: ${{SO_REFRESH_TOKEN}}
      login: {login}
"#,
        root = api.root(),
        login = api.login_url()
    )
}

/// The rules: every ordered quote to a webhook, with the customer and amount.
fn with_rules(superoffice: &str) -> String {
    format!(
        r#"{superoffice}
channels:
  hook: {{ type: webhook, url: "${{HOOK_URL}}", pace: off }}
rules:
  - name: orders
    events: quote.ordered
    notify:
      - {{ channel: hook, text: "{{{{#if enriched}}}}{{{{contact.Name}}}} {{{{sale.Amount}}}}{{{{else}}}}not enriched{{{{/if}}}}" }}
"#
    )
}

fn workdir(rules: &str) -> Workdir {
    let work = Workdir::new(rules);
    for f in ["app-key.pem", "app-key.xml"] {
        std::fs::copy(fixtures().join(f), work.path().join(f)).unwrap();
    }
    work
}

fn whoami(work: &Workdir) -> (i32, String) {
    let (code, out, err) = herald_cmd(work.path(), &["superoffice", "whoami"], &ENV);
    (code, format!("{out}{err}"))
}

async fn serve(work: &Workdir, hook: &StandIn) -> Herald {
    let mut start = Start::new(work);
    for (k, v) in ENV {
        start = start.env(k, v);
    }
    start.env("HOOK_URL", hook.url("/hook")).run().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_signs_in_as_a_system_user_with_a_pem_or_an_rsa_xml_key() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3600)), false).await;
    for key in ["app-key.pem", "app-key.xml"] {
        let work = workdir(&with_rules(&system_user(&api, key, "")));
        let (code, out) = whoami(&work);
        assert_eq!(code, 0, "{key}: {out}");
        assert!(out.contains(&format!("tenant:      {TENANT}")), "{out}");
        assert!(
            out.contains(&format!("API:         {}", api.root())),
            "{out}"
        );
        assert!(
            out.contains("signed in:   herald (system user) (HERALD, associate 7)"),
            "{out}"
        );
        assert!(
            out.contains("system user ticket, renewed by herald; expires"),
            "{out}"
        );
        assert_no_secret(&out, &api);
    }
    assert_eq!(api.refused(), Vec::<&str>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_what_went_wrong() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3600)), false).await;
    let work = workdir(&with_rules(&system_user(&api, "app-key.pem", "")));

    api.login().behaviour.lock().unwrap().rogue = true;
    let (code, out) = whoami(&work);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("its signature does not verify against any key at"),
        "{out}"
    );
    assert!(out.contains("/login/.well-known/jwks"), "{out}");
    assert!(
        api.calls().is_empty(),
        "the API saw the untrusted ticket: {:?}",
        api.calls()
    );

    let mut behaviour = api.login().behaviour.lock().unwrap();
    behaviour.rogue = false;
    behaviour.refuse = Some("The system user token has been revoked by the tenant".into());
    drop(behaviour);
    let (code, out) = whoami(&work);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("SuperOffice refused the system user sign-in: The system user token has been revoked by the tenant"),
        "{out}"
    );
    assert_no_secret(&out, &api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_that_expire_are_renewed_once_however_many_events_wait() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3)), false).await;
    let hook = StandIn::start().await;
    let work = workdir(&with_rules(&system_user(&api, "app-key.pem", "")));
    let herald = serve(&work, &hook).await;

    for _ in 0..3 {
        assert_eq!(herald.send(&event("quote.ordered", 1042)).await.0, 200);
    }
    hook.wait_for(3).await;
    let login = api.login();
    assert!(wait_until(Duration::from_secs(20), || login.all_expired()).await);
    for _ in 0..3 {
        assert_eq!(herald.send(&event("quote.ordered", 1043)).await.0, 200);
    }
    hook.wait_for(6).await;
    assert!(
        api.refused().iter().filter(|r| **r == "expired").count() <= 1,
        "expired tickets used: {:?}",
        api.refused()
    );

    assert!(wait_until(Duration::from_secs(20), || login.all_expired()).await);
    let before = login.exchanges();
    let burst: Vec<_> = (0..20).map(|_| event("quote.ordered", 1042)).collect();
    let sends = burst.iter().map(|e| herald.send(e));
    for (status, _) in futures_util::future::join_all(sends).await {
        assert_eq!(status, 200);
    }
    let got = hook.wait_for(26).await;
    assert!(
        login.exchanges() - before <= 2,
        "{} exchanges for one burst",
        login.exchanges() - before
    );
    for r in &got {
        let text = r.json()["text"].as_str().unwrap().to_string();
        assert!(
            text.starts_with("ACME AS ") || text.starts_with("Initech AS "),
            "{text}"
        );
    }
    let logs = herald.stop();
    assert_no_secret(&logs, &api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_ticket_is_never_used_and_messages_go_without_enrichment() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3600)), false).await;
    api.login().behaviour.lock().unwrap().rogue = true;
    let hook = StandIn::start().await;
    let extra = "  on_enrichment_error: send_without";
    let work = workdir(&with_rules(&system_user(&api, "app-key.pem", extra)));
    let herald = serve(&work, &hook).await;

    assert_eq!(herald.send(&event("quote.ordered", 1042)).await.0, 200);
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].json()["text"], "not enriched");
    assert!(
        herald
            .wait_for_line(&[
                "ERROR",
                "cannot sign in to SuperOffice",
                "its signature does not verify"
            ])
            .await,
        "{}",
        herald.logs()
    );
    assert!(
        api.calls().is_empty(),
        "the API saw the untrusted ticket: {:?}",
        api.calls()
    );
    let logs = herald.stop();
    assert_no_secret(&logs, &api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_access_tokens_are_refreshed_when_they_run_out() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3)), false).await;
    let hook = StandIn::start().await;
    let work = workdir(&with_rules(&oauth(&api)));
    let herald = serve(&work, &hook).await;

    assert_eq!(herald.send(&event("quote.ordered", 1042)).await.0, 200);
    hook.wait_for(1).await;
    let login = api.login();
    assert!(wait_until(Duration::from_secs(20), || login.all_expired()).await);
    assert_eq!(herald.send(&event("quote.ordered", 1043)).await.0, 200);
    let got = hook.wait_for(2).await;
    assert_eq!(got[0].json()["text"], "ACME AS 120000.0");
    assert_eq!(got[1].json()["text"], "Initech AS 5000.0");
    assert!(login.issued().len() >= 2, "{:?}", login.issued().len());
    let logs = herald.stop();
    assert_no_secret(&logs, &api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrichment_and_whoami_read_answers_full_of_null() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3600)), true).await;
    let hook = StandIn::start().await;
    let work = workdir(&with_rules(&system_user(&api, "app-key.xml", "")));
    let (code, out) = whoami(&work);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("signed in:   herald (system user) (associate 7)"),
        "{out}"
    );

    let herald = serve(&work, &hook).await;
    assert_eq!(herald.send(&event("quote.ordered", 1042)).await.0, 200);
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].json()["text"], "ACME AS 120000.0");
}

#[tokio::test]
async fn the_same_event_under_two_event_ids_is_delivered_once() {
    let hook = StandIn::start().await;
    let work = Workdir::new(
        r#"
channels:
  hook: { type: webhook, url: "${HOOK_URL}", pace: off }
rules:
  - name: orders
    events: quote.ordered
    notify:
      - { channel: hook, text: "{{EventId}}" }
"#,
    );
    let herald = serve(&work, &hook).await;
    let first = event("quote.ordered", 1042);
    let mut again = first.clone();
    again["EventId"] = "11111111-2222-4333-8444-555555555555".into();
    assert_eq!(herald.send(&first).await.0, 200);
    assert_eq!(herald.send(&again).await.0, 200);
    let other = event("quote.ordered", 1042);
    assert_eq!(herald.send(&other).await.0, 200);
    hook.wait_for(2).await;
    let metrics = herald.metrics().await;
    assert!(
        metrics.lines().any(|l| l
            == "herald_events_received_total{event_type=\"quote.ordered\",outcome=\"duplicate\"} 1"),
        "{metrics}"
    );
    assert_eq!(hook.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_a_key_that_cannot_sign_and_an_empty_token_with_positions() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3600)), false).await;
    let cases = [
        ("missing.pem", "cannot read"),
        ("app-public.pem", "is a public key"),
        ("certificate.pem", "is a certificate"),
        (
            "garbage.pem",
            "is neither a PEM private key nor SuperOffice's RSA XML",
        ),
    ];
    for (key, why) in cases {
        let rules = with_rules(&system_user(&api, key, ""));
        let work = workdir(&rules);
        for f in ["app-public.pem", "certificate.pem"] {
            std::fs::copy(fixtures().join(f), work.path().join(f)).unwrap();
        }
        work.write("garbage.pem", "not a key at all\n");
        let line = rules
            .lines()
            .position(|l| l.contains("private_key:"))
            .unwrap()
            + 1;
        let (code, out, err) = herald_cmd(work.path(), &["check"], &ENV);
        assert_eq!(code, 1, "{key}: {out}{err}");
        let at = format!("rules.yaml:{line}:20: superoffice: auth: system_user: private_key:");
        assert!(out.contains(&at) && out.contains(why), "{key}: {out}{err}");
    }

    let rules = with_rules(&system_user(&api, "app-key.pem", ""));
    let work = workdir(&rules);
    let line = rules.lines().position(|l| l.contains("token: ${")).unwrap() + 1;
    let mut env = ENV.to_vec();
    env.retain(|(k, _)| *k != "SO_SYSTEM_TOKEN");
    env.push(("SO_SYSTEM_TOKEN", ""));
    let (code, out, err) = herald_cmd(work.path(), &["check"], &env);
    assert_eq!(code, 1, "{out}{err}");
    let at = format!("rules.yaml:{line}:14: superoffice: auth: system_user: token is empty");
    assert!(out.contains(&at), "{out}{err}");
    assert_no_secret(&format!("{out}{err}"), &api);
}

/// What SuperOffice says reaches the log; a CRLF in it would forge a second log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_with_a_crlf_stays_on_its_log_line() {
    let api = SoApi::with_login(Login::new(Duration::from_secs(3600)), false).await;
    let work = workdir(&with_rules(&system_user(&api, "app-key.pem", "")));
    api.login().behaviour.lock().unwrap().refuse =
        Some("revoked\r\n2026-12-03T10:00:00Z  INFO herald: forged".into());
    let (code, _, err) = herald_cmd(work.path(), &["superoffice", "whoami"], &ENV);
    assert_ne!(code, 0);
    let logged = err
        .lines()
        .find(|l| l.contains("ERROR"))
        .expect("an ERROR line");
    assert!(
        logged.contains("revoked\\u{d}\\u{a}2026-12-03T10:00:00Z"),
        "{err}"
    );
    assert!(
        !err.lines()
            .any(|l| l.starts_with("2026-12-03T10:00:00Z  INFO")),
        "{err}"
    );
    assert!(err.lines().count() <= 2, "{err}");
}
