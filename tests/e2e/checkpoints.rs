//! What is committed reaches the database file itself soon after, not only its WAL: a copy of
//! `herald.db` alone (a backup that forgot `herald.db-wal`) holds the events a quiet herald
//! has taken, because the checkpointer thread copies each commit's pages back within moments,
//! and a stopped one holds everything.

use std::time::Duration;

use crate::support::{StandIn, Start, Workdir, event, wait_until};

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

/// The events in a copy of `herald.db` taken without its WAL; `None` while the copy cannot be
/// read (taken in the middle of a write).
fn events_in_file_alone(work: &Workdir) -> Option<i64> {
    let copy = work.path().join("copy.db");
    std::fs::copy(work.path().join("herald.db"), &copy).ok()?;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(&copy, flags).ok()?;
    db.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .ok()
}

#[tokio::test]
async fn a_quiet_herald_has_its_events_in_the_database_file_not_only_the_wal() {
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
    let copied = wait_until(Duration::from_secs(10), || {
        events_in_file_alone(&work) == Some(3)
    })
    .await;
    assert!(
        copied,
        "herald.db alone holds {:?} events, not 3",
        events_in_file_alone(&work)
    );
}

// Two threads: `stop` blocks its thread until herald exits, and the stand-in must still
// answer the last send meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_herald_leaves_everything_in_the_database_file() {
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
    // Stopped at once: the last outcomes were committed moments ago, if not still in flight.
    let logs = herald.stop();
    let copy = work.path().join("copy.db");
    std::fs::copy(work.path().join("herald.db"), &copy).unwrap();
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(&copy, flags).unwrap();
    let sent: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sent, 3, "{logs}");
}
