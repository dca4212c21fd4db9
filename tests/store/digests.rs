//! Digests and held deliveries, as every backend must keep them: one open digest per action and
//! key however many replicas join it at once, one delivery that sends it, members sent with it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use herald::store::{Claimed, DeliveryStatus, Join, Joined, Millis, Next, Store, now_ms};

use super::{Backend, claim, event, outcome, status_of};

/// Stores `n` events with one delivery each to channel `c`, and claims them all.
async fn claimed(s: &Arc<dyn Store>, prefix: &str, n: usize) -> Vec<Claimed> {
    for i in 0..n {
        s.accept(event(&format!("{prefix}{i}"), "c", 1))
            .await
            .unwrap();
    }
    let got = s.claim(claim("c", "a", 1000, 60_000)).await.unwrap();
    assert_eq!(got.deliveries.len(), n);
    got.deliveries
}

pub(crate) fn join(
    c: &Claimed,
    key: &str,
    due_at: Millis,
    immediate: u32,
    max: Option<u32>,
) -> Join {
    Join {
        delivery_id: c.delivery_id,
        token: c.token,
        event_id: c.event_id.clone(),
        rule: c.rule.clone(),
        action_index: c.action_index,
        channel: c.channel.clone(),
        key: key.into(),
        now: now_ms(),
        due_at,
        immediate,
        max,
        bytes: c.body.len() as i64,
        about: None,
    }
}

fn waiting_in(j: &Joined) -> i64 {
    match j {
        Joined::Waiting { digest, .. } => *digest,
        other => panic!("expected to wait in a digest, got {other:?}"),
    }
}

/// Claims until the delivery that sends a digest comes (its due time passed), or 5 s.
async fn sender(s: &Arc<dyn Store>) -> Claimed {
    let until = now_ms() + 5_000;
    while now_ms() < until {
        let got = s.claim(claim("c", "b", 10, 60_000)).await.unwrap();
        if let Some(c) = got.deliveries.into_iter().find(|c| c.digest_of.is_some()) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no digest became due");
}

pub async fn concurrent_joins_for_one_key_make_one_digest_with_one_sender(b: Backend) {
    let stores = b.stores(4).await;
    let deliveries = claimed(&stores[0], "e", 40).await;
    let due = now_ms() + 300;
    let mut tasks = Vec::new();
    for (i, c) in deliveries.iter().enumerate() {
        let (s, j) = (stores[i % 4].clone(), join(c, "k", due, 0, None));
        tasks.push(tokio::spawn(async move { s.join(j).await.unwrap() }));
    }
    let mut digests = HashSet::new();
    for t in tasks {
        digests.insert(waiting_in(&t.await.unwrap()));
    }
    assert_eq!(digests.len(), 1, "one key, one digest: {digests:?}");
    let digest = *digests.iter().next().unwrap();
    let content = stores[1].digest(digest).await.unwrap().unwrap();
    assert_eq!(content.members.len(), 40);
    assert_eq!(content.key, "k");
    let s = sender(&stores[2]).await;
    assert_eq!(s.digest_of, Some(digest));
    let again = stores[3].claim(claim("c", "x", 10, 60_000)).await.unwrap();
    assert!(again.deliveries.is_empty(), "one delivery sends the digest");
}

pub async fn the_first_goes_at_once_and_its_retry_is_not_counted_again(b: Backend) {
    let s = &b.stores(1).await[0];
    let d = claimed(s, "e", 3).await;
    let due = now_ms() + 60_000;
    let first = s.join(join(&d[0], "k", due, 1, None)).await.unwrap();
    let Joined::Now { digest, .. } = first else {
        panic!("the first goes at once: {first:?}");
    };
    // The first's send failed and it is tried again: it still goes at once, alone.
    let retried = s.join(join(&d[0], "k", due, 1, None)).await.unwrap();
    assert!(matches!(retried, Joined::Now { digest: n, .. } if n == digest));
    assert_eq!(
        waiting_in(&s.join(join(&d[1], "k", due, 1, None)).await.unwrap()),
        digest
    );
    // Another key has a budget of its own.
    let other = s.join(join(&d[2], "other", due, 1, None)).await.unwrap();
    assert!(matches!(other, Joined::Now { digest: n, .. } if n != digest));
    let content = s.digest(digest).await.unwrap().unwrap();
    assert_eq!(
        content.members.len(),
        1,
        "what went at once is not sent again"
    );
}

pub async fn a_claimed_digest_collects_no_more_and_sending_it_sends_its_members(b: Backend) {
    let s = &b.stores(1).await[0];
    let d = claimed(s, "e", 3).await;
    let due = now_ms() + 100;
    let digest = waiting_in(&s.join(join(&d[0], "k", due, 0, None)).await.unwrap());
    waiting_in(&s.join(join(&d[1], "k", due, 0, None)).await.unwrap());
    assert_eq!(status_of(s, d[0].delivery_id).await, DeliveryStatus::Digest);
    let sending = sender(s).await;
    let later = waiting_in(
        &s.join(join(&d[2], "k", now_ms() + 60_000, 0, None))
            .await
            .unwrap(),
    );
    assert_ne!(later, digest, "a digest being sent collects nothing more");
    s.record(outcome(sending.delivery_id, sending.token, Next::Sent))
        .await
        .unwrap();
    for c in &d[..2] {
        assert_eq!(status_of(s, c.delivery_id).await, DeliveryStatus::Sent);
    }
    assert_eq!(status_of(s, d[2].delivery_id).await, DeliveryStatus::Digest);
}

pub async fn a_full_digest_is_due_at_once(b: Backend) {
    let s = &b.stores(1).await[0];
    let d = claimed(s, "e", 3).await;
    let due = now_ms() + 3_600_000;
    for c in &d[..2] {
        waiting_in(&s.join(join(c, "k", due, 0, Some(3))).await.unwrap());
    }
    let full = s.join(join(&d[2], "k", due, 0, Some(3))).await.unwrap();
    assert!(matches!(full, Joined::Waiting { due_at, size: 3, .. } if due_at <= now_ms()));
    let sending = sender(s).await;
    let content = s.digest(sending.digest_of.unwrap()).await.unwrap().unwrap();
    assert_eq!(content.members.len(), 3);
}

/// 300 events of 200 KB in a digest without `max` took herald from 46 to 456 MB: a digest is
/// also full at `MAX_DIGEST_BYTES` of events.
pub async fn a_digest_is_due_at_once_when_its_events_reach_the_byte_budget(b: Backend) {
    let s = &b.stores(1).await[0];
    let d = claimed(s, "e", 3).await;
    let due = now_ms() + 3_600_000;
    let big = |c: &Claimed| Join {
        bytes: herald::store::MAX_DIGEST_BYTES / 2,
        ..join(c, "k", due, 0, None)
    };
    let first = s.join(big(&d[0])).await.unwrap();
    assert!(matches!(first, Joined::Waiting { due_at, .. } if due_at == due));
    let full = s.join(big(&d[1])).await.unwrap();
    assert!(matches!(full, Joined::Waiting { due_at, size: 2, .. } if due_at <= now_ms()));
    let sending = sender(s).await;
    let content = s.digest(sending.digest_of.unwrap()).await.unwrap().unwrap();
    assert_eq!(content.members.len(), 2);
}

pub async fn a_held_delivery_is_due_when_its_hours_open(b: Backend) {
    let s = &b.stores(1).await[0];
    let d = claimed(s, "e", 1).await;
    let opens = now_ms() + 300;
    let mut held = outcome(d[0].delivery_id, d[0].token, Next::Held(opens));
    held.attempt = None;
    s.record(held).await.unwrap();
    assert_eq!(status_of(s, d[0].delivery_id).await, DeliveryStatus::Held);
    let early = s.claim(claim("c", "b", 10, 60_000)).await.unwrap();
    assert!(early.deliveries.is_empty());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let due = s.claim(claim("c", "b", 10, 60_000)).await.unwrap();
    assert_eq!(due.deliveries.len(), 1);
    assert_eq!(due.deliveries[0].attempts, 0, "holding is not an attempt");
}
