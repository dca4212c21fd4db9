//! Conversations, as the store keeps them: per channel and key, where the first message is
//! (a Slack `ts` in a channel, or an email's `Message-ID` and subject), the steps seen so far,
//! and the newest step's SuperOffice `Timestamp`, so that a late, older step never overwrites a
//! newer one. Who may post the first message is decided here too: one delivery at a time,
//! however many replicas there are.
//!
//! The decision is a pure function ([`decide`]) over the stored row; each backend loads the row
//! (locked) and saves what the decision says, in one transaction.

use serde::{Deserialize, Serialize};

use super::Millis;

/// A message of a conversation about to be sent: the step it shows.
#[derive(Debug, Clone)]
pub struct Step {
    pub channel: String,
    pub key: String,
    pub delivery_id: i64,
    pub event_id: String,
    /// The event's name, such as `quote.approved`.
    pub event: String,
    /// When it happened, by SuperOffice's `Timestamp` (the order of steps).
    pub at: Millis,
    pub now: Millis,
    /// How long the delivery that posts the first message may take before another may.
    pub hold: Millis,
    /// How long the conversation is remembered after this step.
    pub keep: Millis,
}

/// One step seen, for the message's `conversation.steps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub event_id: String,
    pub event: String,
    pub at: Millis,
}

/// A conversation's first message, as its destination names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRef {
    pub id: String,
    pub place: String,
    pub subject: String,
}

/// What a step comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stepped {
    /// There is no first message yet: this delivery posts it (and may, for `hold`).
    First { steps: Vec<Seen> },
    /// Another delivery is posting the first message: try again at `until` at the latest.
    Busy { until: Millis },
    /// The first message is posted: edit it or reply to it. `newest` is false when a later
    /// step was shown already.
    Later {
        thread: ThreadRef,
        posted_at: Millis,
        newest: bool,
        steps: Vec<Seen>,
    },
}

/// A conversation as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversation {
    pub thread: Option<ThreadRef>,
    pub posted_at: Millis,
    /// Who is posting the first message, and until when they may.
    pub posting_by: Option<i64>,
    pub posting_until: Millis,
    /// The newest step's time.
    pub latest_at: Millis,
    pub steps: Vec<Seen>,
    pub expires_at: Millis,
}

/// The first message was posted: where it is.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub key: String,
    pub thread: ThreadRef,
    pub now: Millis,
}

/// At most this many steps are kept per conversation (the oldest go first).
pub const MAX_STEPS: usize = 50;

/// What a step does to a conversation (`None`: there is none yet, or it expired), and the
/// conversation to store.
pub fn decide(stored: Option<Conversation>, step: &Step) -> (Stepped, Conversation) {
    let mut c = stored
        .filter(|c| c.expires_at > step.now)
        .unwrap_or_default();
    if !c.steps.iter().any(|s| s.event_id == step.event_id) {
        c.steps.push(Seen {
            event_id: step.event_id.clone(),
            event: step.event.clone(),
            at: step.at,
        });
        c.steps.sort_by_key(|s| s.at);
        let over = c.steps.len().saturating_sub(MAX_STEPS);
        c.steps.drain(..over);
    }
    c.expires_at = step.now.saturating_add(step.keep);
    let newest = step.at >= c.latest_at;
    c.latest_at = c.latest_at.max(step.at);
    let stepped = match &c.thread {
        Some(thread) => Stepped::Later {
            thread: thread.clone(),
            posted_at: c.posted_at,
            newest,
            steps: c.steps.clone(),
        },
        None if c.posting_until > step.now && c.posting_by != Some(step.delivery_id) => {
            Stepped::Busy {
                until: c.posting_until,
            }
        }
        None => {
            c.posting_by = Some(step.delivery_id);
            c.posting_until = step.now.saturating_add(step.hold);
            Stepped::First {
                steps: c.steps.clone(),
            }
        }
    };
    (stepped, c)
}

/// A conversation once its first message is posted.
pub fn posted(mut c: Conversation, p: &Posted) -> Conversation {
    c.thread = Some(p.thread.clone());
    c.posted_at = p.now;
    c.posting_by = None;
    c.posting_until = 0;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(delivery_id: i64, event: &str, at: Millis, now: Millis) -> Step {
        Step {
            channel: "c".into(),
            key: "quote-1".into(),
            delivery_id,
            event_id: format!("e{delivery_id}"),
            event: event.into(),
            at,
            now,
            hold: 100,
            keep: 10_000,
        }
    }

    fn thread() -> ThreadRef {
        ThreadRef {
            id: "1.1".into(),
            place: "C1".into(),
            subject: String::new(),
        }
    }

    #[test]
    fn one_delivery_posts_the_first_message_and_the_others_wait_for_it() {
        let (first, c) = decide(None, &step(1, "quote.sent", 10, 1000));
        assert!(matches!(first, Stepped::First { .. }));
        let (busy, c) = decide(Some(c), &step(2, "quote.approved", 20, 1010));
        assert_eq!(busy, Stepped::Busy { until: 1100 });
        // The poster's own retry may post; after its hold anyone may.
        let (again, c) = decide(Some(c), &step(1, "quote.sent", 10, 1020));
        assert!(matches!(again, Stepped::First { .. }));
        let (taken, _) = decide(Some(c), &step(2, "quote.approved", 20, 1200));
        assert!(matches!(taken, Stepped::First { .. }));
    }

    #[test]
    fn a_late_older_step_is_not_the_newest_but_is_among_the_steps() {
        let (_, c) = decide(None, &step(1, "quote.sent", 10, 1000));
        let c = posted(
            c,
            &Posted {
                channel: "c".into(),
                key: "quote-1".into(),
                thread: thread(),
                now: 1001,
            },
        );
        let (ordered, c) = decide(Some(c), &step(3, "quote.ordered", 30, 1002));
        assert!(matches!(ordered, Stepped::Later { newest: true, .. }));
        let (late, c) = decide(Some(c), &step(2, "quote.approved", 20, 1003));
        let Stepped::Later { newest, steps, .. } = late else {
            panic!("{late:?}");
        };
        assert!(!newest);
        let events: Vec<&str> = steps.iter().map(|s| s.event.as_str()).collect();
        assert_eq!(events, ["quote.sent", "quote.approved", "quote.ordered"]);
        // A retry of the newest step is still the newest, and is not counted twice.
        let (retried, _) = decide(Some(c), &step(3, "quote.ordered", 30, 1004));
        assert!(
            matches!(retried, Stepped::Later { newest: true, ref steps, .. } if steps.len() == 3)
        );
    }

    #[test]
    fn an_expired_conversation_starts_again() {
        let (_, c) = decide(None, &step(1, "quote.sent", 10, 1000));
        let c = posted(
            c,
            &Posted {
                channel: "c".into(),
                key: "quote-1".into(),
                thread: thread(),
                now: 1001,
            },
        );
        let (later, _) = decide(Some(c), &step(2, "quote.approved", 20, 20_000));
        assert!(matches!(later, Stepped::First { ref steps } if steps.len() == 1));
    }
}
