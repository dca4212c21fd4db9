//! The status page in a real browser (headless Chromium): finding an event by clicking, its
//! verdicts and attempts, replaying a dead letter, filters, who may look, and CRM data shown as
//! text, never run.

use std::time::Duration;

use fantoccini::Locator;

use crate::support::browser::Browser;
use crate::support::standin::{Reply, StandIn};
use crate::support::{Herald, Start, Workdir, eventually};

fn rules(hook: &StandIn) -> String {
    format!(
        r#"
channels:
  erp:
    type: webhook
    url: "{}"
    retry: {{ delays: [100ms], give_up_after: 1s }}
rules:
  - name: orders-to-erp
    events: [quote.ordered, sale.sold]
    notify:
      - {{ channel: erp, text: "order {{{{PrimaryKey}}}}" }}
"#,
        hook.url("/erp")
    )
}

async fn start(work: &Workdir) -> Herald {
    Start::new(work)
        .env("HERALD_ADMIN_TOKEN", "admin-token-5678")
        .args(&["--admin-allow", "127.0.0.1/32"])
        .run()
        .await
}

async fn click(b: &Browser, css: &str) {
    b.client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_found_by_clicking_with_its_rule_and_attempt() {
    let hook = StandIn::start().await;
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook));
    let herald = start(&work).await;
    let event = crate::support::event("quote.ordered", 1042);
    let id = event["EventId"].as_str().unwrap().to_string();
    herald.send(&event).await;
    hook.wait_for(1).await;

    let b = Browser::start().await;
    b.client.goto(&herald.url("/ui/")).await.unwrap();
    assert!(b.text().await.contains("erp"), "{}", b.text().await);
    b.screenshot("overview").await;
    click(&b, "header a[href='/ui/events']").await;
    b.wait_for_url("/ui/events").await;
    click(&b, &format!("a[href='/ui/events/{id}']")).await;
    b.wait_for_url(&id).await;
    let text = b.text().await;
    assert!(
        text.contains("orders-to-erp") && text.contains("matched"),
        "{text}"
    );
    let status = b
        .client
        .wait()
        .for_element(Locator::Css("tr.attempt td.status-code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "200");
    b.screenshot("event").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_replayed_from_the_browser() {
    let hook = StandIn::start().await;
    hook.always(Reply::new(400, "bad field"));
    let work = Workdir::new(&rules(&hook));
    let herald = start(&work).await;
    let event = crate::support::event("quote.ordered", 7);
    let id = event["EventId"].as_str().unwrap().to_string();
    herald.send(&event).await;
    hook.wait_for(1).await;

    let b = Browser::start().await;
    let page = herald.url(&format!("/ui/events/{id}"));
    let dead = eventually(Duration::from_secs(10), || async {
        b.client.goto(&page).await.unwrap();
        b.text().await.contains("dead")
    })
    .await;
    assert!(dead, "{}", b.text().await);
    hook.always(Reply::new(200, "ok"));
    click(&b, "button[id^='replay-']").await;
    let sent = eventually(Duration::from_secs(10), || async {
        b.client.goto(&page).await.unwrap();
        let text = b.text().await;
        text.contains("replayed") && text.contains("sent") && !text.contains(" dead")
    })
    .await;
    assert!(sent, "{}", b.text().await);
    assert_eq!(hook.requests().len(), 2);
    assert!(
        herald
            .logs()
            .contains("delivery replayed from the status page")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_type_and_search_by_primary_key_find_the_event() {
    let hook = StandIn::start().await;
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook));
    let herald = start(&work).await;
    let ordered = crate::support::event("quote.ordered", 500100);
    let sold = crate::support::event("sale.sold", 500200);
    let other = crate::support::event("quote.ordered", 500300);
    for e in [&ordered, &sold, &other] {
        herald.send(e).await;
    }
    let b = Browser::start().await;
    b.client.goto(&herald.url("/ui/events")).await.unwrap();
    b.client
        .wait()
        .for_element(Locator::Css("select[name='type']"))
        .await
        .unwrap()
        .select_by_value("sale.sold")
        .await
        .unwrap();
    click(&b, "form.filters button").await;
    b.wait_for_url("type=sale.sold").await;
    let text = b.text().await;
    assert!(text.contains(sold["EventId"].as_str().unwrap()), "{text}");
    assert!(
        !text.contains(ordered["EventId"].as_str().unwrap()),
        "{text}"
    );

    b.client.goto(&herald.url("/ui/events")).await.unwrap();
    let q = b
        .client
        .find(Locator::Css("input[name='q']"))
        .await
        .unwrap();
    q.send_keys("500300").await.unwrap();
    click(&b, "form.filters button").await;
    b.wait_for_url("q=500300").await;
    let text = b.text().await;
    assert!(text.contains(other["EventId"].as_str().unwrap()), "{text}");
    assert!(!text.contains(sold["EventId"].as_str().unwrap()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_cross_site_posts_are_refused() {
    let hook = StandIn::start().await;
    let work = Workdir::new(&rules(&hook));
    let herald = start(&work).await;
    let remote = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = remote.get(herald.url("/ui/")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let login = remote
        .post(herald.url("/ui/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("token=admin-token-5678")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let allowed = remote
        .get(herald.url("/ui/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    let local = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A dead letter, so that the confirmation page has its form and token.
    hook.always(Reply::new(400, "bad field"));
    herald
        .send(&crate::support::event("quote.ordered", 9))
        .await;
    let page = herald.url("/ui/channels/erp/replay");
    let has_form = eventually(Duration::from_secs(10), || async {
        let html = local.get(&page).send().await.unwrap().text().await.unwrap();
        html.contains("name=\"csrf\"")
    })
    .await;
    assert!(has_form, "the dead letter never showed");
    let html = local.get(&page).send().await.unwrap().text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|s| s[..64].to_string())
        .unwrap_or_else(|| panic!("the confirmation page has a CSRF token: {html}"));
    let post = |origin: Option<&'static str>, token: Option<String>| {
        let mut req = local.post(herald.url("/ui/channels/erp/replay"));
        if let Some(o) = origin {
            req = req
                .header("Origin", o)
                .header("Sec-Fetch-Site", "cross-site");
        }
        let body = token.map(|t| format!("csrf={t}")).unwrap_or_default();
        req.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let forged = "0".repeat(64);
    assert_eq!(
        post(Some("http://evil.example"), Some(forged.clone()))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(post(None, Some(forged)).await.unwrap().status(), 403);
    assert_eq!(post(None, None).await.unwrap().status(), 403);
    assert_eq!(post(None, Some(csrf)).await.unwrap().status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_webhook_name_is_shown_as_text_and_never_runs() {
    let hook = StandIn::start().await;
    hook.always(Reply::new(200, "ok"));
    let work = Workdir::new(&rules(&hook));
    let herald = start(&work).await;
    let mut event = crate::support::event("quote.ordered", 66);
    let hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">";
    event["WebhookName"] = hostile.into();
    let id = event["EventId"].as_str().unwrap().to_string();
    herald.send(&event).await;

    let b = Browser::start().await;
    b.client
        .goto(&herald.url(&format!("/ui/events/{id}")))
        .await
        .unwrap();
    let text = b.text().await;
    assert!(
        text.contains("<script>window.__pwned = 1</script>"),
        "{text}"
    );
    let ran = b
        .client
        .execute("return window.__pwned === undefined;", vec![])
        .await
        .unwrap();
    assert_eq!(
        ran,
        serde_json::Value::Bool(true),
        "a script from the CRM ran"
    );
}
