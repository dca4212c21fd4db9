//! Store conformance: one suite, run against every backend through the `Store` trait. Each
//! PostgreSQL test works in a database of its own, created and dropped by the test; several
//! `PgStore`s on that database stand in for several replicas.
//!
//! PostgreSQL is at `HERALD_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! these tests fail, never skip, when it cannot be reached.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use herald::store::postgres::{PgStore, Settings};
use herald::store::sqlite::SqliteStore;
use herald::store::{
    Accepted, Attempt, AttemptOutcome, Claim, DeliveryFilter, DeliveryStatus, Instance, Lease,
    Millis, Mode, NewDelivery, NewEvent, Next, Record, Recorded, Replay, Store, now_ms,
};

#[path = "../common/pg.rs"]
mod pg;
use pg::PgDb;

mod conversations;
mod digests;
mod pages;
use conversations::*;
use digests::*;
use pages::*;

/// What a test runs against: `n` handles on one store (replicas, for PostgreSQL).
pub(crate) enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(PgDb),
}

impl Backend {
    async fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Backend {
        Backend::Postgres(PgDb::create().await)
    }

    pub(crate) async fn stores(&self, n: usize) -> Vec<Arc<dyn Store>> {
        match self {
            Backend::Sqlite(dir) => {
                let url = format!("sqlite://{}", dir.path().join("herald.db").display());
                let one: Arc<dyn Store> =
                    Arc::new(SqliteStore::open(&url, Mode::Inspect).await.unwrap());
                vec![one; n]
            }
            Backend::Postgres(db) => {
                let mut out: Vec<Arc<dyn Store>> = Vec::new();
                for _ in 0..n {
                    out.push(Arc::new(
                        PgStore::open(&db.url(), &Settings::default())
                            .await
                            .unwrap(),
                    ));
                }
                out
            }
        }
    }
}

/// Runs one scenario against SQLite and against PostgreSQL.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::postgres().await).await;
                }
            )*
        }
    };
}

conformance!(
    an_event_is_stored_once_even_when_it_arrives_at_several_replicas_at_once,
    the_same_content_under_another_event_id_is_stored_once,
    no_delivery_is_claimed_twice_by_many_concurrent_claimers,
    a_lease_that_runs_out_makes_its_delivery_due_again,
    the_leases_of_an_instance_that_stopped_heartbeating_are_released,
    an_outcome_recorded_under_a_stale_claim_is_rejected,
    a_retry_is_due_at_its_time_and_counts_its_attempts,
    replay_queues_dead_letters_again,
    purge_deletes_old_finished_events_only,
    counts_cover_every_state,
    a_paused_destination_gives_nothing_until_the_pause_ends,
    a_paced_destination_gives_one_delivery_per_spacing_to_all_instances,
    a_housekeeping_lock_has_one_holder_at_a_time,
    concurrent_joins_for_one_key_make_one_digest_with_one_sender,
    the_first_goes_at_once_and_its_retry_is_not_counted_again,
    a_claimed_digest_collects_no_more_and_sending_it_sends_its_members,
    a_full_digest_is_due_at_once,
    a_digest_is_due_at_once_when_its_events_reach_the_byte_budget,
    a_held_delivery_is_due_when_its_hours_open,
    concurrent_first_steps_let_one_delivery_post,
    a_posted_conversation_is_followed_in_superoffices_order,
    the_status_page_finds_pages_and_counts_events,
    every_body_superoffice_can_send_is_stored_found_and_read_back,
);

pub(crate) fn instance(name: &str) -> Instance {
    Instance {
        id: name.into(),
        started_at: now_ms(),
        info: "test".into(),
    }
}

pub(crate) fn event(id: &str, channel: &str, n: usize) -> NewEvent {
    NewEvent {
        headers: None,
        event_id: id.to_string(),
        event_type: "quote.ordered".into(),
        received_at: now_ms(),
        body: format!(r#"{{"EventId":"{id}","Event":"quote.ordered"}}"#).into(),
        matched_rules: vec!["r".into()],
        about: None,
        deliveries: (0..n)
            .map(|i| NewDelivery {
                rule: "r".into(),
                action_index: i as u32,
                channel: channel.into(),
                lease: None,
            })
            .collect(),
        dedup_window_ms: 7 * 86_400_000,
        content_key: None,
    }
}

pub(crate) fn claim(channel: &str, owner: &str, limit: u32, lease_ms: Millis) -> Claim {
    let now = now_ms();
    Claim {
        channel: channel.into(),
        limit,
        now,
        lease: Lease::new(owner.into(), now + lease_ms),
        spacing: None,
    }
}

pub(crate) fn outcome(id: i64, token: i64, next: Next) -> Record {
    Record {
        delivery_id: id,
        token,
        attempt: Some(Attempt {
            started_at: now_ms(),
            duration_ms: 1,
            outcome: match next {
                Next::Sent => AttemptOutcome::Sent,
                Next::RetryAt(_) => AttemptOutcome::Retry,
                _ => AttemptOutcome::Failed,
            },
            status_code: Some(200),
            detail: "test".into(),
            sent: Some(r#"{"kind":"webhook","to":"POST http://127.0.0.1/","body":"{}"}"#.into()),
        }),
        next,
        about: None,
    }
}

pub(crate) async fn status_of(store: &Arc<dyn Store>, id: i64) -> DeliveryStatus {
    let rows = store
        .deliveries(DeliveryFilter {
            limit: 10_000,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    rows.iter()
        .find(|d| d.id == id)
        .expect("the delivery")
        .status
}

async fn an_event_is_stored_once_even_when_it_arrives_at_several_replicas_at_once(b: Backend) {
    let stores = b.stores(4).await;
    assert!(matches!(
        stores[0].accept(event("e1", "c", 1)).await.unwrap(),
        Accepted::Stored(ids) if ids.len() == 1
    ));
    assert_eq!(
        stores[1].accept(event("e1", "c", 1)).await.unwrap(),
        Accepted::Duplicate
    );
    for round in 0..20 {
        let id = format!("race-{round}");
        let mut tasks = Vec::new();
        for s in &stores {
            for _ in 0..3 {
                let (s, e) = (s.clone(), event(&id, "c", 2));
                tasks.push(tokio::spawn(async move { s.accept(e).await.unwrap() }));
            }
        }
        let mut stored = 0;
        for t in tasks {
            if let Accepted::Stored(ids) = t.await.unwrap() {
                assert_eq!(ids.len(), 2);
                stored += 1;
            }
        }
        assert_eq!(
            stored, 1,
            "round {round}: the same id stored {stored} times"
        );
    }
}

/// SuperOffice's next cycle of retries may bring an event again under a new EventId.
async fn the_same_content_under_another_event_id_is_stored_once(b: Backend) {
    let stores = b.stores(3).await;
    let with_content = |id: &str, key: &str| NewEvent {
        content_key: Some(key.to_string()),
        ..event(id, "c", 1)
    };
    assert!(matches!(
        stores[0].accept(with_content("a1", "k1")).await.unwrap(),
        Accepted::Stored(_)
    ));
    assert_eq!(
        stores[1].accept(with_content("a2", "k1")).await.unwrap(),
        Accepted::Duplicate,
        "a new EventId with the same content"
    );
    assert_eq!(
        stores[1].accept(with_content("a1", "k1")).await.unwrap(),
        Accepted::Duplicate,
        "the same EventId again"
    );
    assert!(matches!(
        stores[2].accept(with_content("a3", "k2")).await.unwrap(),
        Accepted::Stored(_)
    ));
    // Past the window, the same content is an event of its own.
    let mut late = with_content("a4", "k1");
    late.received_at += herald::store::CONTENT_WINDOW_MS + 1;
    assert!(matches!(
        stores[0].accept(late).await.unwrap(),
        Accepted::Stored(_)
    ));
    for round in 0..10 {
        let key = format!("race-{round}");
        let mut tasks = Vec::new();
        for (i, s) in stores.iter().enumerate() {
            for j in 0..3 {
                let (s, e) = (s.clone(), with_content(&format!("{key}-{i}-{j}"), &key));
                tasks.push(tokio::spawn(async move { s.accept(e).await.unwrap() }));
            }
        }
        let mut stored = 0;
        for t in tasks {
            stored += usize::from(matches!(t.await.unwrap(), Accepted::Stored(_)));
        }
        assert_eq!(
            stored, 1,
            "round {round}: one content stored {stored} times"
        );
    }
}

async fn no_delivery_is_claimed_twice_by_many_concurrent_claimers(b: Backend) {
    let stores = b.stores(4).await;
    for i in 0..50 {
        stores[0]
            .accept(event(&format!("e{i}"), "c", 10))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for k in 0..8 {
        let s = stores[k % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let claims = s
                    .claim(claim("c", &format!("i{k}"), 7, 60_000))
                    .await
                    .unwrap();
                if claims.deliveries.is_empty() {
                    return got;
                }
                got.extend(claims.deliveries.iter().map(|c| c.delivery_id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 500, "claimed {} of 500", all.len());
    assert_eq!(
        unique.len(),
        500,
        "{} deliveries claimed twice",
        all.len() - unique.len()
    );
}

async fn a_lease_that_runs_out_makes_its_delivery_due_again(b: Backend) {
    let s = &b.stores(1).await[0];
    s.accept(event("e", "c", 1)).await.unwrap();
    let first = s.claim(claim("c", "a", 10, 150)).await.unwrap();
    assert_eq!(first.deliveries.len(), 1);
    assert!(
        s.claim(claim("c", "b", 10, 150))
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = s.claim(claim("c", "b", 10, 60_000)).await.unwrap();
    assert_eq!(again.deliveries.len(), 1);
    assert_ne!(again.deliveries[0].token, first.deliveries[0].token);
}

async fn the_leases_of_an_instance_that_stopped_heartbeating_are_released(b: Backend) {
    let s = &b.stores(1).await[0];
    s.heartbeat(instance("dead")).await.unwrap();
    s.heartbeat(instance("alive")).await.unwrap();
    s.accept(event("e", "c", 3)).await.unwrap();
    assert_eq!(
        s.claim(claim("c", "dead", 2, 3_600_000))
            .await
            .unwrap()
            .deliveries
            .len(),
        2
    );
    assert_eq!(
        s.claim(claim("c", "alive", 1, 3_600_000))
            .await
            .unwrap()
            .deliveries
            .len(),
        1
    );
    // Both heartbeat within the window: nothing is released.
    let now = now_ms();
    assert_eq!(
        s.release_lapsed("alive".into(), now - 60_000, now)
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.heartbeat(instance("alive")).await.unwrap();
    // "dead" stopped 50 ms ago; "alive" just heartbeat.
    let now = now_ms();
    assert_eq!(
        s.release_lapsed("alive".into(), now - 25, now)
            .await
            .unwrap(),
        2
    );
    let back = s.claim(claim("c", "alive", 10, 60_000)).await.unwrap();
    assert_eq!(
        back.deliveries.len(),
        2,
        "the dead instance's two are due again, not alive's one"
    );
}

async fn an_outcome_recorded_under_a_stale_claim_is_rejected(b: Backend) {
    let s = &b.stores(1).await[0];
    s.accept(event("e", "c", 1)).await.unwrap();
    let slow = s
        .claim(claim("c", "a", 1, 100))
        .await
        .unwrap()
        .deliveries
        .remove(0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fast = s
        .claim(claim("c", "b", 1, 60_000))
        .await
        .unwrap()
        .deliveries
        .remove(0);
    assert_eq!(fast.delivery_id, slow.delivery_id);
    let late = s
        .record(outcome(
            slow.delivery_id,
            slow.token,
            Next::Dead("late".into()),
        ))
        .await
        .unwrap();
    assert_eq!(late, Recorded::Stale);
    let current = s
        .record(outcome(fast.delivery_id, fast.token, Next::Sent))
        .await
        .unwrap();
    assert_eq!(current, Recorded::Done);
    assert_eq!(status_of(s, fast.delivery_id).await, DeliveryStatus::Sent);
    let rows = s
        .deliveries(DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows[0].attempt_log.len(),
        1,
        "the stale attempt is not recorded"
    );
}

async fn a_retry_is_due_at_its_time_and_counts_its_attempts(b: Backend) {
    let s = &b.stores(1).await[0];
    s.accept(event("e", "c", 1)).await.unwrap();
    let c = s
        .claim(claim("c", "a", 1, 60_000))
        .await
        .unwrap()
        .deliveries
        .remove(0);
    let at = now_ms() + 300;
    s.record(outcome(c.delivery_id, c.token, Next::RetryAt(at)))
        .await
        .unwrap();
    assert_eq!(status_of(s, c.delivery_id).await, DeliveryStatus::Retrying);
    assert!(
        s.claim(claim("c", "a", 1, 60_000))
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let again = s
        .claim(claim("c", "a", 1, 60_000))
        .await
        .unwrap()
        .deliveries
        .remove(0);
    assert_eq!((again.delivery_id, again.attempts), (c.delivery_id, 1));
}

async fn replay_queues_dead_letters_again(b: Backend) {
    let s = &b.stores(1).await[0];
    s.accept(event("e", "c", 2)).await.unwrap();
    let claimed = s
        .claim(claim("c", "a", 2, 60_000))
        .await
        .unwrap()
        .deliveries;
    for c in &claimed {
        s.record(outcome(c.delivery_id, c.token, Next::Dead("no".into())))
            .await
            .unwrap();
    }
    assert!(
        s.claim(claim("c", "a", 2, 60_000))
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    let one = vec![claimed[0].delivery_id];
    assert_eq!(s.replay(Replay::Ids(one), now_ms()).await.unwrap(), 1);
    assert_eq!(
        s.claim(claim("c", "a", 2, 60_000))
            .await
            .unwrap()
            .deliveries
            .len(),
        1
    );
    let all_dead = Replay::Dead {
        channel: Some("c".into()),
    };
    assert_eq!(s.replay(all_dead, now_ms()).await.unwrap(), 1);
    let back = s
        .claim(claim("c", "a", 2, 60_000))
        .await
        .unwrap()
        .deliveries;
    assert_eq!(
        (back.len(), back[0].attempts),
        (1, 0),
        "a replay starts a new round"
    );
}

async fn purge_deletes_old_finished_events_only(b: Backend) {
    let s = &b.stores(1).await[0];
    s.accept(event("done", "c", 1)).await.unwrap();
    s.accept(event("open", "d", 1)).await.unwrap();
    let c = s
        .claim(claim("c", "a", 1, 60_000))
        .await
        .unwrap()
        .deliveries
        .remove(0);
    s.record(outcome(c.delivery_id, c.token, Next::Sent))
        .await
        .unwrap();
    assert_eq!(
        s.purge(now_ms() - 60_000).await.unwrap(),
        0,
        "nothing is old yet"
    );
    assert_eq!(
        s.purge(now_ms() + 1).await.unwrap(),
        1,
        "the open one stays"
    );
    let left = s
        .events(herald::store::EventFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event_id, "open");
}

async fn counts_cover_every_state(b: Backend) {
    let s = &b.stores(1).await[0];
    s.accept(event("e", "c", 7)).await.unwrap();
    let claimed = s
        .claim(claim("c", "a", 6, 60_000))
        .await
        .unwrap()
        .deliveries;
    let nexts = [
        Next::Sent,
        Next::Dead("x".into()),
        Next::Skipped("x".into()),
        Next::RetryAt(now_ms() + 60_000),
        Next::Held(now_ms() + 60_000),
    ];
    for (c, next) in claimed.iter().zip(nexts) {
        s.record(outcome(c.delivery_id, c.token, next))
            .await
            .unwrap();
    }
    let last = &claimed[5];
    s.join(digests::join(last, "k", now_ms() + 60_000, 0, None))
        .await
        .unwrap();
    let counts = s.counts().await.unwrap();
    for status in DeliveryStatus::ALL {
        // The one never claimed, and the delivery that will send the digest.
        let expected = if status == DeliveryStatus::Pending {
            2
        } else {
            1
        };
        assert_eq!(counts.get(status), expected, "{status}");
    }
}

async fn a_paused_destination_gives_nothing_until_the_pause_ends(b: Backend) {
    let stores = b.stores(2).await;
    stores[0].accept(event("e", "c", 2)).await.unwrap();
    let until = now_ms() + 300;
    stores[0].pause("c".into(), until).await.unwrap();
    let claims = stores[1].claim(claim("c", "b", 10, 60_000)).await.unwrap();
    assert!(claims.deliveries.is_empty(), "paused for every instance");
    assert_eq!((claims.paused_until, claims.ready_at), (until, until));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        stores[1]
            .claim(claim("c", "b", 10, 60_000))
            .await
            .unwrap()
            .deliveries
            .len(),
        2
    );
}

async fn a_paced_destination_gives_one_delivery_per_spacing_to_all_instances(b: Backend) {
    let stores = b.stores(3).await;
    stores[0].accept(event("e", "c", 20)).await.unwrap();
    let spaced = |owner: &str| Claim {
        spacing: Some(200),
        ..claim("c", owner, 10, 60_000)
    };
    let mut got = 0;
    for (i, s) in stores.iter().enumerate() {
        got += s
            .claim(spaced(&format!("i{i}")))
            .await
            .unwrap()
            .deliveries
            .len();
    }
    assert_eq!(
        got, 1,
        "one message per spacing, however many instances ask"
    );
    tokio::time::sleep(Duration::from_millis(220)).await;
    let next = stores[2].claim(spaced("i2")).await.unwrap();
    assert_eq!(next.deliveries.len(), 1);
    assert!(
        next.ready_at >= now_ms() + 150,
        "the next one is due a spacing later"
    );
}

async fn a_housekeeping_lock_has_one_holder_at_a_time(b: Backend) {
    let stores = b.stores(3).await;
    let now = now_ms();
    let mut holders = 0;
    for (i, s) in stores.iter().enumerate() {
        if s.try_lock("purge", format!("i{i}").into(), now, now + 200)
            .await
            .unwrap()
        {
            holders += 1;
        }
    }
    assert_eq!(holders, 1);
    let later = now + 250;
    assert!(
        stores[2]
            .try_lock("purge", "i2".into(), later, later + 200)
            .await
            .unwrap()
    );
}
