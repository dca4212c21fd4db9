//! Test support: the real `herald` binary on port 0, stand-ins for Slack, Teams and webhooks,
//! a real SMTP server on loopback, and waiting on conditions (never fixed sleeps).

pub mod browser;
#[path = "../../common/pg.rs"]
pub mod pg;
pub mod proxy;
pub mod slack;
pub mod smtp;
pub mod so_login;
pub mod so_webhooks;
pub mod standin;
pub mod superoffice;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use pg::PgDb;
pub use proxy::TcpProxy;
pub use slack::{Scripted, SlackApi};
pub use smtp::SmtpServer;
pub use standin::{Reply, StandIn};

pub const SECRET: &str = "test-webhook-secret-0001";

/// cargo's target folder: `CARGO_TARGET_DIR` when set, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// The repository root, where the example rules, templates and events live.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn herald_bin() -> &'static str {
    env!("CARGO_BIN_EXE_herald")
}

/// The README's text.
pub fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

/// The body of the first ```LANG block after `anchor` in `text`, without its fences.
pub fn fenced_after(text: &str, anchor: &str, lang: &str) -> String {
    let start = text
        .find(anchor)
        .unwrap_or_else(|| panic!("README lacks {anchor:?}"));
    let rest = &text[start..];
    let fence = format!("```{lang}\n");
    let open = rest
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} block after {anchor:?}"))
        + fence.len();
    let close = rest[open..].find("```").expect("a closing fence");
    rest[open..open + close].to_string()
}

/// A series' value in a `/metrics` text, by name and labels as written; `None` when absent.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A GET's status and body.
pub async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("herald answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Polls `cond` until it holds or `timeout` passes. Returns whether it held.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`wait_until`], for conditions that need to await (a request, say).
pub async fn eventually<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sample event with a fresh EventId.
pub fn event(name: &str, primary_key: i64) -> serde_json::Value {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serde_json::json!({
        "EventId": format!("00000000-0000-4000-8000-{:06}{:06}", std::process::id() % 1_000_000, n),
        // Each its own moment: the same content under another EventId is a duplicate.
        "Timestamp": format!("2026-11-20T13:05:44.{:07}Z", n % 10_000_000),
        "Changes": [],
        "Event": name,
        "PrimaryKey": primary_key,
        "Entity": name.split('.').next().unwrap_or(""),
        "ContextIdentifier": "Cust12345",
        "ChangedByAssociateId": 37201,
        "WebhookName": "herald tests"
    })
}

/// A folder with a rules file and a copy of the repository's templates.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new(rules: &str) -> Workdir {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&repo().join("templates"), &dir.path().join("templates"));
        std::fs::write(dir.path().join("rules.yaml"), rules).expect("write rules");
        Workdir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rules(&self) -> PathBuf {
        self.path().join("rules.yaml")
    }

    /// Makes herald's database read-only under its feet (`on`), or writable again. As root,
    /// file modes do not stop writes; the immutable attribute does, even through a file
    /// already open. Needs a filesystem with file attributes (ext4, xfs).
    pub fn database_read_only(&self, on: bool) {
        let files: Vec<PathBuf> = ["herald.db", "herald.db-wal"]
            .iter()
            .map(|f| self.path().join(f))
            .filter(|f| f.exists())
            .collect();
        let flag = if on { "+i" } else { "-i" };
        let status = Command::new("chattr")
            .arg(flag)
            .args(&files)
            .status()
            .expect("chattr runs");
        assert!(
            status.success(),
            "chattr {flag} failed: this test needs a filesystem with file attributes"
        );
    }

    pub fn write(&self, relative: &str, text: &str) {
        let p = self.path().join(relative);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A running `herald serve`.
pub struct Herald {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

/// How to start herald.
pub struct Start<'a> {
    pub workdir: &'a Workdir,
    pub listen: String,
    pub env: Vec<(&'a str, String)>,
    pub args: Vec<&'a str>,
}

impl<'a> Start<'a> {
    pub fn new(workdir: &'a Workdir) -> Self {
        Start {
            workdir,
            listen: "127.0.0.1:0".into(),
            env: vec![("HERALD_WEBHOOK_SECRET", SECRET.to_string())],
            args: Vec::new(),
        }
    }

    pub fn env(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr.to_string();
        self
    }

    pub fn arg(mut self, arg: &'a str) -> Self {
        self.args.push(arg);
        self
    }

    pub fn args(mut self, args: &[&'a str]) -> Self {
        self.args.extend_from_slice(args);
        self
    }

    pub async fn run(self) -> Herald {
        herald::install_crypto_provider();
        let mut cmd = Command::new(herald_bin());
        cmd.current_dir(self.workdir.path())
            .arg("serve")
            .arg("--rules")
            .arg(self.workdir.rules())
            .arg("--listen")
            .arg(&self.listen)
            .args(&self.args)
            .env_remove("HERALD_WEBHOOK_SECRET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start herald");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let mut herald = Herald {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
            logs,
            client: reqwest::Client::new(),
        };
        // Listening, or gone (then say so at once, with what it said).
        let mut exited = None;
        wait_until(Duration::from_secs(30), || {
            exited = herald.child.try_wait().ok().flatten();
            exited.is_some() || herald.listening_addr().is_some()
        })
        .await;
        assert!(
            herald.listening_addr().is_some(),
            "herald did not start ({}); its output:\n{}",
            exited.map_or("still running after 30 s".into(), |s| format!(
                "it exited: {s}"
            )),
            herald.logs()
        );
        herald.addr = herald.listening_addr().unwrap();
        herald
    }
}

impl Herald {
    fn listening_addr(&self) -> Option<SocketAddr> {
        self.logs.lock().unwrap().iter().find_map(|l| {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(l) {
                return (json["message"] == "listening")
                    .then(|| json["addr"].as_str()?.parse().ok())?;
            }
            let rest = l.split(" listening addr=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything herald has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub async fn wait_for_log(&self, needle: &str) -> bool {
        self.wait_for_line(&[needle]).await
    }

    /// Waits for a log line that contains every one of `needles`.
    pub async fn wait_for_line(&self, needles: &[&str]) -> bool {
        wait_until(Duration::from_secs(30), || {
            self.logs
                .lock()
                .unwrap()
                .iter()
                .any(|l| needles.iter().all(|n| l.contains(n)))
        })
        .await
    }

    /// Posts raw bytes with the given signature header (if any).
    pub async fn post(&self, body: Vec<u8>, signature: Option<String>) -> (u16, String) {
        let mut req = self
            .client
            .post(self.url("/webhook"))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("User-Agent", "NetServer-Webhook/8.8.6684.1719");
        if let Some(sig) = signature {
            req = req.header("X-Superoffice-Signature", sig);
        }
        let response = req.body(body).send().await.expect("herald answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Posts an event signed with [`SECRET`].
    pub async fn send(&self, event: &serde_json::Value) -> (u16, String) {
        let body = serde_json::to_vec(event).unwrap();
        let sig = herald::ingress::signature::sign(SECRET, &body);
        self.post(body, Some(sig)).await
    }

    /// What `/metrics` says now.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks herald to stop (SIGTERM); how it exited, if it did within `within`.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let mut exited = None;
        wait_until(within, || {
            exited = self.child.try_wait().ok().flatten();
            exited.is_some()
        })
        .await;
        exited
    }

    /// Asks herald to stop (SIGTERM) and waits for it.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.logs()
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `herald ARGS` to completion in `dir`; returns exit code, stdout and stderr.
pub fn herald_cmd(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(herald_bin());
    cmd.current_dir(dir)
        .args(args)
        .env_remove("HERALD_WEBHOOK_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run herald");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
