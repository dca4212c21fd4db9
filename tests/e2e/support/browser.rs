//! Headless Chromium driven through ChromeDriver (Debian's `chromium` and `chromium-driver`,
//! which `.ci/run` installs when they are missing).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

pub struct Browser {
    driver: Child,
    pub client: Client,
    /// ChromeDriver's port and the session it started, to end it (and its Chromium) on drop.
    port: u16,
    session: Option<String>,
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: install Debian's chromium and chromium-driver (.ci/run does)");
        let url = format!("http://127.0.0.1:{port}");
        let ready = super::eventually(Duration::from_secs(20), || async {
            reqwest::get(format!("{url}/status")).await.is_ok()
        })
        .await;
        assert!(ready, "chromedriver did not start");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a browser session");
        let session = client.session_id().await.ok().flatten();
        Browser {
            driver,
            client,
            port,
            session,
        }
    }

    /// Saves a screenshot of the page as `ui-screenshots/NAME.png` in cargo's target folder
    /// (`CARGO_TARGET_DIR` when set); returns its path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = super::target_dir().join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The page's text, once there is a page (it may be between two while navigating).
    pub async fn text(&self) -> String {
        let body = fantoccini::Locator::Css("body");
        for _ in 0..100 {
            if let Ok(el) = self.client.wait().for_element(body).await
                && let Ok(text) = el.text().await
            {
                return text;
            }
        }
        panic!("the page has no body")
    }

    /// The text of the first element `css` finds, once there is one.
    pub async fn text_of(&self, css: &str) -> String {
        self.client
            .wait()
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// Clicks the first element `css` finds, once there is one.
    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Waits until the address has `part` in it: a click's navigation is done.
    pub async fn wait_for_url(&self, part: &str) {
        let found = super::eventually(Duration::from_secs(10), || async {
            self.client
                .current_url()
                .await
                .is_ok_and(|u| u.as_str().contains(part))
        })
        .await;
        assert!(found, "the browser never got to a page with {part}");
    }
}

impl Drop for Browser {
    /// Ends the session first, so that ChromeDriver closes its Chromium (killing ChromeDriver
    /// alone leaves the browser running), then stops ChromeDriver.
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            end_session(self.port, session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}`, blocking (a drop cannot wait on the async client), within 10 s.
fn end_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
