//! The status page's reads, as every backend must answer them: filters, search by EventId,
//! PrimaryKey and ContextIdentifier, keyset pages, one event with its headers and attempts, the
//! overview, and replays marked in the attempts.

use herald::store::Next;
use herald::store::{AttemptOutcome, DeliveryStatus, EventFilter, NewEvent, Replay, Store, now_ms};

use super::{Backend, claim, event, outcome};

fn with_body(id: &str, kind: &str, key: i64, tenant: &str, at: i64) -> NewEvent {
    let mut e = event(id, "erp", 1);
    e.about = Some(format!("Quote {key} · Max AS · 1000 NOK"));
    e.event_type = kind.into();
    e.received_at = at;
    e.headers = Some(r#"{"user-agent":"NetServer-Webhook/8.8"}"#.into());
    e.body = format!(
        r#"{{"EventId":"{id}","Event":"{kind}","PrimaryKey":{key},"ContextIdentifier":"{tenant}"}}"#
    )
    .into();
    e
}

async fn ids(s: &dyn Store, f: EventFilter) -> Vec<String> {
    let f = EventFilter { limit: 10, ..f };
    s.events(f)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect()
}

pub async fn the_status_page_finds_pages_and_counts_events(b: Backend) {
    let s = &b.stores(1).await[0];
    let now = now_ms();
    for (i, (kind, key, tenant)) in [
        ("quote.ordered", 1042, "Cust1"),
        ("sale.sold", 77, "Cust2"),
        ("quote.ordered", 1043, "Cust2"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("e{i}");
        s.accept(with_body(&id, kind, key, tenant, now - 1000 * i as i64))
            .await
            .unwrap();
    }
    let all = ids(&**s, EventFilter::default()).await;
    assert_eq!(all, ["e0", "e1", "e2"]);
    let by_type = EventFilter {
        event_type: Some("sale.sold".into()),
        ..Default::default()
    };
    assert_eq!(ids(&**s, by_type).await, ["e1"]);
    for (q, want) in [
        ("1043", vec!["e2"]),
        ("Cust2", vec!["e1", "e2"]),
        ("e0", vec!["e0"]),
    ] {
        let f = EventFilter {
            search: Some(q.into()),
            ..Default::default()
        };
        assert_eq!(ids(&**s, f).await, want, "search {q}");
    }
    let older = EventFilter {
        before: Some((now, "e0".into())),
        ..Default::default()
    };
    assert_eq!(ids(&**s, older).await, ["e1", "e2"]);
    let recent = EventFilter {
        since: Some(now - 1500),
        ..Default::default()
    };
    assert_eq!(ids(&**s, recent).await, ["e0", "e1"]);

    let claimed = s
        .claim(claim("erp", "a", 10, 60_000))
        .await
        .unwrap()
        .deliveries;
    let dead = claimed.iter().find(|c| c.event_id == "e2").unwrap();
    s.record(outcome(
        dead.delivery_id,
        dead.token,
        Next::Dead("webhook answered 400".into()),
    ))
    .await
    .unwrap();
    let with_dead = EventFilter {
        state: Some(DeliveryStatus::Dead),
        ..Default::default()
    };
    assert_eq!(ids(&**s, with_dead).await, ["e2"]);

    // What an event is about: the line it arrived with, then a longer one recorded with a
    // delivery's outcome (a shorter one is not); searched in any case, `%` and `_` being
    // themselves (the other events' "1000" and "Max" would match them as wildcards).
    let longer = "Quote 3 (id 1043) · Initech AS · 100% cables_x";
    for (event_id, line) in [("e0", "Quote"), ("e1", longer)] {
        let c = claimed.iter().find(|c| c.event_id == event_id).unwrap();
        let mut record = outcome(c.delivery_id, c.token, Next::Sent);
        record.about = Some(line.into());
        s.record(record).await.unwrap();
    }
    let about = |id: &'static str| async move {
        let detail = s.event(id.into()).await.unwrap().unwrap();
        detail.row.about
    };
    assert_eq!(
        about("e0").await.as_deref(),
        Some("Quote 1042 · Max AS · 1000 NOK")
    );
    assert_eq!(about("e1").await.as_deref(), Some(longer));
    for (q, want) in [
        ("max as", vec!["e0", "e2"]),
        ("INITECH", vec!["e1"]),
        ("100%", vec!["e1"]),
        ("_x", vec!["e1"]),
        ("%", vec!["e1"]),
        ("Globex", vec![]),
    ] {
        let f = EventFilter {
            search: Some(q.into()),
            ..Default::default()
        };
        assert_eq!(ids(&**s, f).await, want, "search {q}");
    }
    let detail = s.event("e2".into()).await.unwrap().unwrap();
    let attempts = &detail.row.deliveries[0].attempt_log;
    assert!(attempts[0].sent.is_some(), "what was sent is read back");

    let overview = s.overview(now_ms()).await.unwrap();
    assert_eq!((overview.events_hour, overview.events_day), (3, 3));
    let erp = &overview.channels[0];
    assert_eq!(erp.counts.get(DeliveryStatus::Dead), 1);
    assert_eq!(
        erp.last_failure.as_ref().map(|(_, why)| why.as_str()),
        Some("webhook answered 400")
    );

    s.replay(Replay::Ids(vec![dead.delivery_id]), now_ms())
        .await
        .unwrap();
    let detail = s.event("e2".into()).await.unwrap().expect("the event");
    assert!(detail.body.contains("\"PrimaryKey\":1043"));
    assert!(detail.headers.unwrap().contains("NetServer-Webhook"));
    let attempts: Vec<AttemptOutcome> = detail.row.deliveries[0]
        .attempt_log
        .iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        attempts.last(),
        Some(&AttemptOutcome::Replayed),
        "{attempts:?}"
    );
    assert!(s.event("nope".into()).await.unwrap().is_none());
}

/// What SuperOffice can send and a reader may choke on: `\u0000` (PostgreSQL's jsonb refuses
/// it), lone surrogates (.NET cuts strings mid-pair), and text from every script.
pub async fn every_body_superoffice_can_send_is_stored_found_and_read_back(b: Backend) {
    let s = &b.stores(1).await[0];
    let now = now_ms();
    let hostile = [
        r#""nul \u0000 inside""#,
        r#""cut \ud800x""#,
        r#""low \udfff alone""#,
        r#""pair \ud83d\ude00 and \\ud800 as text""#,
        r#""שלום مرحبا 你好 \u202e""#,
    ];
    for (i, text) in hostile.iter().enumerate() {
        let id = format!("h{i}");
        let mut e = with_body(
            &id,
            "quote.ordered",
            5000 + i as i64,
            "CustH",
            now - i as i64,
        );
        e.body = format!(
            r#"{{"EventId":"{id}","Event":"quote.ordered","PrimaryKey":{},"ContextIdentifier":"CustH","Name":{text}}}"#,
            5000 + i
        )
        .into();
        let raw = e.body.clone();
        assert!(
            matches!(s.accept(e).await, Ok(herald::store::Accepted::Stored(_))),
            "{text} was not stored"
        );
        let by_key = EventFilter {
            search: Some((5000 + i).to_string()),
            ..Default::default()
        };
        assert_eq!(ids(&**s, by_key).await, [id.as_str()], "{text}");
        let detail = s.event(id.clone()).await.unwrap().expect("stored");
        assert_eq!(detail.body, *raw, "the raw body is the body of record");
    }
    let tenant = EventFilter {
        search: Some("CustH".into()),
        ..Default::default()
    };
    assert_eq!(ids(&**s, tenant).await.len(), hostile.len());
}
