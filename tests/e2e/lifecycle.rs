//! The SuperOffice side: `herald superoffice register` and `status` against a stand-in for
//! SuperOffice's webhook API (which posts its `test` event to the running herald on save), the
//! watchdog in `serve`, and links back to the CRM.

use std::time::Duration;

use serde_json::Value;

use crate::support::so_webhooks::SoWebhooks;
use crate::support::standin::{Reply, StandIn};
use crate::support::{Herald, SECRET, Start, Workdir, copy_dir, eventually, herald_cmd, repo};

const TOKEN: &str = "so-admin-token-42";

fn rules(api: &str, extra_rules: &str, extra_so: &str, alerts_url: &str) -> String {
    format!(
        r#"
superoffice:
  api: {api}
  auth: {{ bearer: "${{SO_TOKEN}}" }}
{extra_so}
channels:
  hook: {{ type: webhook, url: "file://out" }}
  ops: {{ type: webhook, url: "{alerts_url}" }}
rules:
  - name: quotes
    events: quote.*
    notify:
      - {{ channel: hook, text: "quote {{{{PrimaryKey}}}}" }}
  - name: sales
    events: sale.sold
    notify:
      - {{ channel: hook, text: "sale {{{{PrimaryKey}}}}" }}
{extra_rules}"#
    )
}

fn superoffice(work: &Workdir, args: &[&str], token: &str) -> (i32, String) {
    let mut all = vec!["superoffice"];
    all.extend_from_slice(args);
    let env = [("SO_TOKEN", token), ("HERALD_WEBHOOK_SECRET", SECRET)];
    let (code, out, err) = herald_cmd(work.path(), &all, &env);
    (code, format!("{out}{err}"))
}

/// herald serving `work`'s rules, registered with SuperOffice's stand-in: the running herald
/// and the id of its webhook.
async fn serve_registered(so: &SoWebhooks, work: &Workdir) -> (Herald, i64) {
    let herald = Start::new(work).env("SO_TOKEN", TOKEN).run().await;
    let (code, out) = superoffice(work, &["register", "--url", &herald.url("/webhook")], TOKEN);
    assert_eq!(code, 0, "{out}");
    let id = so.hooks()[0]["WebhookId"].as_i64().unwrap();
    (herald, id)
}

fn events(body: &Value) -> Vec<&str> {
    body["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_creates_the_webhooks_then_changes_nothing_then_follows_the_rules() {
    let so = SoWebhooks::start(TOKEN).await;
    let work = Workdir::new(&rules(&so.root(), "", "", "file://out"));
    let herald = Start::new(&work).env("SO_TOKEN", TOKEN).run().await;
    let url = herald.url("/webhook");

    let (code, out) = superoffice(&work, &["register", "--url", &url], TOKEN);
    assert_eq!(code, 0, "{out}");
    let changes = so.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let main = &changes[0].body;
    assert_eq!(
        (changes[0].method.as_str(), changes[0].path.as_str()),
        ("POST", "/api/v1/Webhook")
    );
    assert_eq!(
        events(main),
        [
            "quote.approved",
            "quote.ordered",
            "quote.rejected",
            "quote.sent",
            "sale.sold"
        ]
    );
    assert_eq!(main["Secret"], SECRET);
    assert_eq!(main["Type"], "webhook");
    assert_eq!(main["State"], "Active");
    assert_eq!(main["TargetUrl"], url);
    assert_eq!(main["Name"], "herald");
    let id = so.hooks()[0]["WebhookId"].as_i64().unwrap();
    let state = &changes[1].body;
    assert_eq!(state["Name"], "herald state");
    let expected: Vec<String> = ["errors", "started", "stopped"]
        .iter()
        .map(|e| format!("webhook{id}.{e}"))
        .collect();
    assert_eq!(events(state), expected);
    assert!(
        out.contains(&format!(
            "webhook `herald` (id {id}): created, Active, 5 events"
        )),
        "{out}"
    );
    assert!(
        herald
            .wait_for_log("received the registration test event")
            .await,
        "SuperOffice's test event reached herald: {}",
        herald.logs()
    );

    let (code, again) = superoffice(&work, &["register", "--url", &url], TOKEN);
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        so.changes().len(),
        2,
        "a second run changes nothing: {again}"
    );
    assert!(
        again.contains(&format!("webhook `herald` (id {id}): up to date")),
        "{again}"
    );

    let more = "  - name: new-customers\n    events: contact.created\n    notify:\n      - { channel: hook, text: \"new\" }\n";
    work.write("rules.yaml", &rules(&so.root(), more, "", "file://out"));
    let (code, third) = superoffice(&work, &["register", "--url", &url], TOKEN);
    assert_eq!(code, 0, "{third}");
    let changes = so.changes();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[2].method, "PUT");
    assert_eq!(changes[2].path, format!("/api/v1/Webhook/{id}"));
    assert!(events(&changes[2].body).contains(&"contact.created"));
    assert!(
        third.contains("updated: events + contact.created"),
        "{third}"
    );

    let (code, dry) = superoffice(
        &work,
        &[
            "register",
            "--url",
            "https://elsewhere.example.com/webhook",
            "--name",
            "other",
            "--dry-run",
        ],
        TOKEN,
    );
    assert_eq!(code, 0, "{dry}");
    assert!(
        dry.contains("would POST v1/Webhook") && dry.contains("\"Secret\": \"***\""),
        "{dry}"
    );
    assert!(!dry.contains(SECRET), "{dry}");
    assert_eq!(so.changes().len(), 3, "a dry run changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_says_why_when_superoffice_refuses() {
    let so = SoWebhooks::start(TOKEN).await;
    let down = StandIn::start().await;
    down.always(Reply::new(503, "maintenance"));
    let work = Workdir::new(&rules(&so.root(), "", "", "file://out"));

    let (code, out) = superoffice(&work, &["register", "--url", &down.url("/webhook")], TOKEN);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("SuperOffice would not save the webhook"),
        "{out}"
    );
    assert!(out.contains("the target answered 503"), "{out}");
    assert!(
        out.contains("HERALD_WEBHOOK_SECRET") && out.contains("https"),
        "{out}"
    );
    assert!(so.hooks().is_empty());

    let (code, out) = superoffice(
        &work,
        &["register", "--url", &down.url("/webhook")],
        "wrong",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("SuperOffice answered 401 to GET v1/Webhook: it refused the credentials in `superoffice: auth`"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_status_read_answers_full_of_null_and_name_the_restricted_agent() {
    let so = SoWebhooks::start(TOKEN).await;
    so.sparse();
    let work = Workdir::new(&rules(&so.root(), "", "", "file://out"));
    let (herald, id) = serve_registered(&so, &work).await;
    let (code, out) = superoffice(
        &work,
        &["register", "--url", &herald.url("/webhook")],
        TOKEN,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("webhook `herald` (id {id}): up to date")),
        "{out}"
    );
    let (code, out) = superoffice(&work, &["status"], TOKEN);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Active"), "{out}");

    so.restricted(true);
    let (code, out) = superoffice(&work, &["status"], TOKEN);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("the Webhook agent is restricted"), "{out}");
    assert!(
        out.contains("Access must be requested specifically when app is registered"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_stopped_webhook_with_its_last_error_and_exits_1() {
    let so = SoWebhooks::start(TOKEN).await;
    let work = Workdir::new(&rules(&so.root(), "", "", "file://out"));
    let (_herald, id) = serve_registered(&so, &work).await;
    let (code, out) = superoffice(&work, &["status"], TOKEN);
    assert_eq!(code, 0, "{out}");

    so.stop(
        id,
        "TooManyErrors",
        9,
        "503 Service Unavailable from https://herald.example.com/webhook",
    );
    let (code, out) = superoffice(&work, &["status"], TOKEN);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("webhook `herald` (id {id}): TooManyErrors")),
        "{out}"
    );
    assert!(out.contains("errors in a row: 9"), "{out}");
    assert!(out.contains("last error: 503 Service Unavailable"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_alerts_drops_the_metric_and_reactivates() {
    let so = SoWebhooks::start(TOKEN).await;
    let ops = StandIn::start().await;
    let watch = "  watch_every: 300ms\n  alerts: [ops]\n";
    let work = Workdir::new(&rules(&so.root(), "", watch, &ops.url("/alerts")));
    let (herald, id) = serve_registered(&so, &work).await;
    let metric = "herald_superoffice_webhook_active{webhook=\"herald\"}";
    let metrics = || async { herald.metrics().await };
    assert!(
        eventually(Duration::from_secs(10), || async {
            metrics().await.contains(&format!("{metric} 1"))
        })
        .await
    );

    so.stop(id, "TooManyErrors", 9, "connection refused");
    let alert = ops.wait_for(1).await;
    let body = alert[0].json();
    let message = body["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("SuperOffice stopped sending to herald")
            && message.contains("9 errors in a row")
            && message.contains("last error: connection refused"),
        "{body}"
    );
    assert!(herald.logs().contains("ERROR"), "{}", herald.logs());
    assert!(metrics().await.contains(&format!("{metric} 0")));

    work.write(
        "rules.yaml",
        &rules(
            &so.root(),
            "",
            &format!("{watch}  reactivate: true\n"),
            &ops.url("/alerts"),
        ),
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            so.state_of(id) == "Active"
        })
        .await,
        "{}",
        herald.logs()
    );
    let put = so
        .changes()
        .into_iter()
        .rfind(|c| c.method == "PUT")
        .expect("a PUT");
    assert_eq!(put.path, format!("/api/v1/Webhook/{id}"));
    assert_eq!(put.body["State"], "Active");
    assert!(
        eventually(Duration::from_secs(10), || async {
            metrics().await.contains(&format!("{metric} 1"))
        })
        .await
    );
    assert!(
        herald
            .logs()
            .contains("watchdog set the webhook back to Active"),
        "{}",
        herald.logs()
    );
    assert_eq!(ops.requests().len(), 1, "one alert for one stop");
}

#[test]
fn simulate_shows_the_link_to_the_sale_in_every_destination() {
    let work = Workdir::new(
        "superoffice:\n  api: https://sod2.superoffice.com/Cust12345/api\n  auth: { bearer: unused }\nchannels:\n  slack: { type: slack, url: \"file://out\" }\n  teams: { type: teams, url: \"file://out\" }\n  mail: { type: email, smtp: \"file://out\", from: q@example.com, to: [s@example.com] }\nrules:\n  - name: ordered\n    events: quote.ordered\n    notify:\n      - { channel: slack, template: quote-ordered }\n      - { channel: teams, template: quote-ordered }\n      - { channel: mail, template: quote-ordered }\n",
    );
    copy_dir(&repo().join("examples/api"), &work.path().join("api"));
    let event = repo().join("examples/events/quote.ordered.json");
    let event = event.to_str().unwrap();
    let (code, out, err) = herald_cmd(
        work.path(),
        &["simulate", event, "--api-responses", "api", "--json"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let link = "https://sod2.superoffice.com/Cust12345/default.aspx?sale.main.quote?sale_id=88231";
    let report: Value = serde_json::from_str(&out).unwrap();
    let messages = report["rules"][0]["messages"].as_array().unwrap();
    let slack = &messages[0]["message"]["body"]["blocks"];
    assert!(slack.to_string().contains(link), "{slack}");
    let teams = &messages[1]["message"]["body"]["attachments"][0]["content"]["actions"][0];
    assert_eq!(teams["type"], "Action.OpenUrl", "{teams}");
    assert_eq!(teams["url"], link);
    assert!(
        messages[2]["message"]["text"]
            .as_str()
            .unwrap()
            .contains(link),
        "{}",
        messages[2]
    );

    // Without `superoffice:` the same templates render as before, with no link.
    let plain = Workdir::new(
        "channels:\n  slack: { type: slack, url: \"file://out\" }\nrules:\n  - name: ordered\n    events: quote.ordered\n    notify:\n      - { channel: slack, template: quote-ordered }\n",
    );
    let (code, out, err) = herald_cmd(plain.path(), &["simulate", event, "--json"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("default.aspx") && out.contains("Quote 527331 ordered"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_event_makes_the_watchdog_look_at_once_and_a_reload_names_missing_events() {
    let so = SoWebhooks::start(TOKEN).await;
    let ops = StandIn::start().await;
    let watch = "  watch_every: 1h\n  alerts: [ops]\n";
    let work = Workdir::new(&rules(&so.root(), "", watch, &ops.url("/alerts")));
    let (herald, id) = serve_registered(&so, &work).await;

    so.stop(id, "Stopped", 0, "");
    let mut stopped = crate::support::event(&format!("webhook{id}.stopped"), id);
    stopped["Entity"] = Value::Null;
    assert_eq!(herald.send(&stopped).await.0, 200);
    let alert = ops.wait_for(1).await;
    assert!(
        alert[0].json()["message"]
            .as_str()
            .unwrap()
            .contains(&format!("webhook `herald` (id {id}) is Stopped")),
        "{:?}",
        alert[0].json()
    );

    let more = "  - name: new-customers\n    events: contact.created\n    notify:\n      - { channel: hook, text: \"new\" }\n";
    work.write(
        "rules.yaml",
        &rules(&so.root(), more, watch, &ops.url("/alerts")),
    );
    assert!(
        herald
            .wait_for_line(&[
                "does not send events the rules use",
                "contact.created",
                "herald superoffice register --url"
            ])
            .await,
        "{}",
        herald.logs()
    );
}

/// The overview says what the watchdog last saw of the webhook, and the credential's state;
/// an ordinary rule on `herald.superoffice.stopped` hears of the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_the_webhook_as_last_seen_and_a_rule_hears_it_stopped() {
    let so = SoWebhooks::start(TOKEN).await;
    let ops = StandIn::start().await;
    ops.always(Reply::new(200, "ok"));
    let told = "  - name: so-stopped\n    events: herald.superoffice.stopped\n    notify:\n      - { channel: ops, text: \"RULE {{message}}\" }\n";
    let work = Workdir::new(&rules(
        &so.root(),
        told,
        "  watch_every: 300ms\n",
        &ops.url("/ops"),
    ));
    let (herald, id) = serve_registered(&so, &work).await;
    let registered = so.hooks()[0].clone();
    let asked = events(&registered);
    assert!(
        !asked.is_empty() && asked.iter().all(|e| !e.starts_with("herald.")),
        "SuperOffice is never asked for herald's own events: {registered}"
    );
    let page = || async { crate::support::get(&herald.url("/ui/")).await.1 };
    let active = format!("herald (id {id}) is Active");
    assert!(
        eventually(Duration::from_secs(10), || async {
            page().await.contains(&active)
        })
        .await,
        "{}",
        page().await
    );
    let overview = page().await;
    assert!(
        overview.contains("static credential: <span class=\"ok\">signed in</span>"),
        "{overview}"
    );

    so.stop(id, "TooManyErrors", 9, "connection refused");
    let stopped = format!("herald (id {id}) is TooManyErrors");
    assert!(
        eventually(Duration::from_secs(10), || async {
            page().await.contains(&stopped)
        })
        .await,
        "{}",
        page().await
    );
    let told = ops.wait_for(1).await[0].json();
    let text = told["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("RULE SuperOffice stopped sending to herald"),
        "{told}"
    );
}
