//! Starting herald for a run: one replica on a fresh SQLite file, or N replicas on a fresh
//! PostgreSQL database, all with one unpaced webhook channel to the sink.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sqlx::Connection;

use crate::SECRET;

/// Where a run keeps its state.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite,
    /// The server's admin URL: a fresh database is made on it for each run, and dropped.
    Postgres(String),
}

impl Db {
    pub fn name(&self, replicas: usize) -> String {
        match self {
            Db::Sqlite => "SQLite".into(),
            Db::Postgres(_) => format!(
                "PostgreSQL, {replicas} replica{}",
                if replicas == 1 { "" } else { "s" }
            ),
        }
    }
}

/// How each replica is started: its `--concurrency`, and any other flags of `herald serve`.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub sends: usize,
    pub extra: Vec<String>,
}

/// Running replicas, stopped and cleaned up on drop.
pub struct Herald {
    children: Vec<Child>,
    pub urls: Vec<String>,
    dir: PathBuf,
    database: Option<(String, String)>,
}

impl Herald {
    pub async fn start(
        bin: &Path,
        db: &Db,
        replicas: usize,
        launch: &Launch,
        sink: SocketAddr,
    ) -> anyhow::Result<Herald> {
        let dir = std::env::temp_dir().join(format!(
            "herald-bench-{}-{:x}",
            std::process::id(),
            fastrand_u32()
        ));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("rules.yaml"),
            format!(
                "channels:\n  sink:\n    type: webhook\n    url: http://{sink}/sink\n    pace: off\nrules:\n  - name: all\n    events: quote.ordered\n    notify:\n      - {{ channel: sink, text: \"{{{{EventId}}}}\" }}\n"
            ),
        )?;
        let (url, database) = match db {
            Db::Sqlite => ("sqlite://bench.db".to_string(), None),
            Db::Postgres(admin) => {
                let (url, name) = fresh_database(admin).await?;
                (url, Some((admin.clone(), name)))
            }
        };
        let mut herald = Herald {
            children: Vec::new(),
            urls: Vec::new(),
            dir,
            database,
        };
        for _ in 0..replicas {
            let (child, addr) = herald.spawn(bin, &url, launch)?;
            herald.children.push(child);
            herald.urls.push(format!("http://{addr}/webhook"));
        }
        Ok(herald)
    }

    fn spawn(&self, bin: &Path, db: &str, launch: &Launch) -> anyhow::Result<(Child, SocketAddr)> {
        let mut child = Command::new(bin)
            .current_dir(&self.dir)
            .args([
                "serve",
                "--rules",
                "rules.yaml",
                "--listen",
                "127.0.0.1:0",
                "--db",
                db,
            ])
            .args(["--concurrency", &launch.sends.to_string(), "--no-watch"])
            .args(&launch.extra)
            .env("HERALD_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "warn,herald::cli::serve=info")
            .stderr(Stdio::piped())
            .spawn()?;
        let addr = listening_addr(child.stderr.take().expect("piped"))?;
        Ok((child, addr))
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// The largest peak resident memory of the replicas, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        self.pids().into_iter().map(peak_rss_mb).fold(0.0, f64::max)
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.database.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                    }
                });
            })
            .join();
        }
    }
}

fn fastrand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// A new database on the server, for one run: its URL and name.
async fn fresh_database(admin: &str) -> anyhow::Result<(String, String)> {
    let name = format!("herald_bench_{:x}", fastrand_u32());
    let mut c = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await?;
    let mut url: url::Url = admin.parse()?;
    url.set_path(&name);
    Ok((url.to_string(), name))
}

fn listening_addr(stderr: std::process::ChildStderr) -> anyhow::Result<SocketAddr> {
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split(" listening addr=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default().parse()?;
            // Keep draining herald's output so it never blocks on a full pipe; keep it in
            // HERALD_BENCH_LOG if set.
            let keep = std::env::var("HERALD_BENCH_LOG").ok();
            std::thread::spawn(move || {
                let mut file = keep.and_then(|f| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(f)
                        .ok()
                });
                for line in lines.map_while(Result::ok) {
                    if let Some(f) = file.as_mut() {
                        use std::io::Write;
                        let _ = writeln!(f, "{line}");
                    }
                }
            });
            return Ok(addr);
        }
    }
    anyhow::bail!("herald exited before listening")
}

pub fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time the process has used so far (user and system), in seconds: with the events it
/// handled in between, the cost of one event, steadier on a shared machine than a rate.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at state; utime and stime
    // are the 14th and 15th fields of the line, in clock ticks.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf reads a constant of the running kernel.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz.max(1.0)
}
