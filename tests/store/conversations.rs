//! Conversations, as every backend must keep them: one delivery posts a conversation's first
//! message however many replicas step at once, and later steps find it, in SuperOffice's order.

use std::sync::Arc;

use herald::store::conversation::{Posted, Step, Stepped, ThreadRef};
use herald::store::{Store, now_ms};

use super::Backend;

fn step(delivery_id: i64, event: &str, at: i64) -> Step {
    Step {
        channel: "deals".into(),
        key: "quote-1".into(),
        delivery_id,
        event_id: format!("e{delivery_id}"),
        event: event.into(),
        at,
        now: now_ms(),
        hold: 60_000,
        keep: 86_400_000,
    }
}

pub async fn concurrent_first_steps_let_one_delivery_post(b: Backend) {
    let stores = b.stores(4).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s: Arc<dyn Store> = stores[i % 4].clone();
        tasks.push(tokio::spawn(async move {
            s.step(step(i as i64 + 1, "quote.sent", 10)).await.unwrap()
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Stepped::First { .. } => firsts += 1,
            Stepped::Busy { .. } => {}
            other => panic!("no message is posted yet: {other:?}"),
        }
    }
    assert_eq!(firsts, 1, "one delivery posts the first message");
}

pub async fn a_posted_conversation_is_followed_in_superoffices_order(b: Backend) {
    let stores = b.stores(2).await;
    let first = stores[0].step(step(1, "quote.sent", 10)).await.unwrap();
    assert!(matches!(first, Stepped::First { .. }));
    let thread = ThreadRef {
        id: "1700000000.000100".into(),
        place: "C0DEALS01".into(),
        subject: String::new(),
    };
    let posted = Posted {
        channel: "deals".into(),
        key: "quote-1".into(),
        thread: thread.clone(),
        now: now_ms(),
    };
    stores[0].posted(posted).await.unwrap();
    let ordered = stores[1].step(step(3, "quote.ordered", 30)).await.unwrap();
    assert!(
        matches!(&ordered, Stepped::Later { newest: true, thread: t, .. } if *t == thread),
        "{ordered:?}"
    );
    let late = stores[1].step(step(2, "quote.approved", 20)).await.unwrap();
    let Stepped::Later { newest, steps, .. } = late else {
        panic!("{late:?}");
    };
    assert!(!newest, "an earlier step delivered late is not the newest");
    let events: Vec<&str> = steps.iter().map(|s| s.event.as_str()).collect();
    assert_eq!(events, ["quote.sent", "quote.approved", "quote.ordered"]);
    let stored = stores[0]
        .conversation("deals".into(), "quote-1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.thread, Some(thread));
    assert_eq!(stored.latest_at, 30);
}
