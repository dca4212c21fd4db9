//! What is committed reaches the database file itself soon after, not only its WAL: a copy of
//! `herald.db` alone (a backup that forgot `herald.db-wal`) holds the events a quiet herald
//! has taken, because the checkpointer thread copies each commit's pages back within moments,
//! and a stopped one holds everything.

use std::time::Duration;

use crate::support::{Herald, StandIn, Start, Workdir, event, wait_until};

const RULES: &str = r#"
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
rules:
  - name: to-hook
    events: sale.sold
    notify:
      - channel: hook
        text: "sale {{PrimaryKey}}"
"#;

/// `herald.db` copied alone (without its WAL) and opened; `None` while the copy cannot be read
/// (taken in the middle of a write).
fn file_alone(work: &Workdir) -> Option<rusqlite::Connection> {
    let copy = work.path().join("copy.db");
    std::fs::copy(work.path().join("herald.db"), &copy).ok()?;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    rusqlite::Connection::open_with_flags(&copy, flags).ok()
}

/// How many rows `sql` counts in `herald.db` alone; `None` while it cannot be read.
fn count_in_file_alone(work: &Workdir, sql: &str) -> Option<i64> {
    file_alone(work)?.query_row(sql, [], |r| r.get(0)).ok()
}

/// herald started, three events taken and delivered.
async fn three_delivered() -> (Workdir, StandIn, Herald) {
    let hook = StandIn::start().await;
    let work = Workdir::new(RULES);
    let herald = Start::new(&work)
        .env("HOOK_URL", hook.url("/hook"))
        .run()
        .await;
    for n in 1..=3 {
        assert_eq!(herald.send(&event("sale.sold", n)).await.0, 200);
    }
    hook.wait_for(3).await;
    (work, hook, herald)
}

#[tokio::test]
async fn a_quiet_herald_has_its_events_in_the_database_file_not_only_the_wal() {
    let (work, _hook, _herald) = three_delivered().await;
    let events = "SELECT COUNT(*) FROM events";
    let copied = wait_until(Duration::from_secs(10), || {
        count_in_file_alone(&work, events) == Some(3)
    })
    .await;
    assert!(
        copied,
        "herald.db alone holds {:?} events, not 3",
        count_in_file_alone(&work, events)
    );
}

// Two threads: `stop` blocks its thread until herald exits, and the stand-in must still
// answer the last send meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_herald_leaves_everything_in_the_database_file() {
    let (work, _hook, herald) = three_delivered().await;
    // Stopped at once: the last outcomes were committed moments ago, if not still in flight.
    // What this holds is the whole stop (drained, recorded, settled); without `settle`, SQLite
    // can still get there when its last connection closes at exit, so it does not single out
    // `settle`.
    let logs = herald.stop();
    let sent = "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'";
    assert_eq!(count_in_file_alone(&work, sent), Some(3), "{logs}");
}
