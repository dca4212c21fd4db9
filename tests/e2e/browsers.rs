//! The status page and the admin API against other web pages: a page that rebinds its own name
//! to herald's address (reached through the SSH tunnel the README recommends), a page that
//! frames the replay buttons, a cross-site reload, and someone guessing the admin token.

use crate::support::{Herald, Start, Workdir};

const TOKEN: &str = "admin-token-5678";
const RULES: &str = r#"
channels:
  hook: { type: webhook, url: "file://out" }
rules:
  - name: all
    events: quote.*
    notify:
      - { channel: hook, text: "{{PrimaryKey}}" }
"#;

async fn start(work: &Workdir) -> Herald {
    Start::new(work)
        .env("HERALD_ADMIN_TOKEN", TOKEN)
        .args(&[
            "--admin-allow",
            "127.0.0.1/32",
            "--allowed-host",
            "herald.example.com",
        ])
        .run()
        .await
}

fn client(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_name_is_refused_and_no_page_can_be_framed() {
    let work = Workdir::new(RULES);
    let herald = start(&work).await;
    let local = client("127.0.0.1");
    let port = herald.addr.port();
    for (host, want) in [
        (format!("evil.example:{port}"), 421),
        (format!("herald.example.com.evil.example:{port}"), 421),
        (format!("herald.example.com:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("127.0.0.1:{port}"), 200),
    ] {
        for path in ["/ui/", "/ui/rules", "/ui/login"] {
            let page = local
                .get(herald.url(path))
                .header("Host", &host)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status().as_u16(), want, "{path} for Host {host}");
            let headers = page.headers();
            assert_eq!(headers["x-frame-options"], "DENY", "{path}");
            assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
        }
    }
    let reload = local
        .post(herald.url("/-/reload"))
        .header("Host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status().as_u16(), 421);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_reload_is_refused() {
    let work = Workdir::new(RULES);
    let herald = start(&work).await;
    let local = client("127.0.0.1");
    let forged = local
        .post(herald.url("/-/reload"))
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let own = local.post(herald.url("/-/reload")).send().await.unwrap();
    assert_eq!(own.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_gives_a_session_and_guessing_the_token_is_slowed_and_logged_once() {
    let work = Workdir::new(RULES);
    let herald = start(&work).await;
    let remote = client("127.0.0.2");
    let login = |token: &'static str, https: bool| {
        let mut request = remote
            .post(herald.url("/ui/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"));
        if https {
            request = request.header("X-Forwarded-Proto", "https");
        }
        request.send()
    };
    let signed_in = login(TOKEN, true).await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!cookie.contains(TOKEN), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let id = session.split('=').nth(1).unwrap();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{session}"
    );
    let page = |cookie: String| {
        remote
            .get(herald.url("/ui/"))
            .header("Cookie", cookie)
            .send()
    };
    assert_eq!(page(session.clone()).await.unwrap().status().as_u16(), 200);
    let token_as_cookie = format!("herald_session={TOKEN}");
    assert_eq!(page(token_as_cookie).await.unwrap().status().as_u16(), 403);
    let plain = login(TOKEN, false).await.unwrap();
    let cookie = plain.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(!cookie.contains("Secure"), "{cookie}");

    for _ in 0..12 {
        let wrong = login("guess", false).await.unwrap();
        assert!(matches!(wrong.status().as_u16(), 403 | 429));
    }
    let slowed = login(TOKEN, false).await.unwrap();
    assert_eq!(
        slowed.status().as_u16(),
        429,
        "the right token right after guesses"
    );
    let logs = herald.stop();
    let lines = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("127.0.0.2"))
        .count();
    assert!(
        lines <= 2,
        "{lines} WARN lines for one guessing peer:\n{logs}"
    );
}

/// `/ui/rules` masked the file on disk with the secrets of the configuration in force: after a
/// rotated literal secret and a typo elsewhere, the new secret was shown whole. Now the file is
/// masked with its own secrets, and not shown at all when it does not load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_page_never_shows_a_secret_of_a_file_that_does_not_load() {
    let rules = |secret: &str, channel: &str| {
        format!(
            "channels:\n  erp: {{ type: webhook, url: \"https://erp.example.com/hooks/{secret}\" }}\nrules:\n  - name: all\n    events: quote.*\n    notify:\n      - {{ channel: {channel}, text: hi }}\n"
        )
    };
    let work = Workdir::new(&rules("oldsecret0123456789abc", "erp"));
    let herald = start(&work).await;
    let local = client("127.0.0.1");
    let page = || async {
        let page = local.get(herald.url("/ui/rules")).send().await.unwrap();
        page.text().await.unwrap()
    };
    let shown = page().await;
    assert!(
        !shown.contains("oldsecret0123456789abc") && shown.contains("***"),
        "{shown}"
    );

    std::fs::write(work.rules(), rules("newsecret9876543210xyz", "erpp")).unwrap();
    let shown = page().await;
    assert!(!shown.contains("newsecret9876543210xyz"), "{shown}");
    assert!(shown.contains("does not load"), "{shown}");
}

/// An EventId with `/`, `?` or `#` opened the wrong page from the events list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_with_slashes_and_marks_links_to_its_own_page() {
    let work = Workdir::new(RULES);
    let herald = start(&work).await;
    let mut event = crate::support::event("quote.ordered", 7);
    event["EventId"] = "odd/id?x=1#frag %".into();
    assert_eq!(herald.send(&event).await.0, 200);
    let local = client("127.0.0.1");
    let list = local.get(herald.url("/ui/events")).send().await.unwrap();
    let html = list.text().await.unwrap();
    let href = html
        .split("href=\"")
        .map(|h| h.split('"').next().unwrap())
        .find(|h| h.starts_with("/ui/events/odd"))
        .unwrap_or_else(|| panic!("no link to the event: {html}"));
    assert_eq!(href, "/ui/events/odd%2Fid%3Fx%3D1%23frag%20%25");
    let page = local.get(herald.url(href)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("odd/id?x&#x3D;1#frag %"), "{page}");
}
