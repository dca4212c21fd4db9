//! A message that is part of a conversation: its step is recorded in the store, which says
//! whether it posts the conversation's first message or edits / replies to it, and its
//! template gets `conversation` (the key, the steps so far, the current state). Once a first
//! message is posted, where it is is remembered for the next step.

use super::noise::KeyError;
use serde_json::Value;
use tracing::error;

use super::Dispatcher;
use super::attempt::{Outcome, Try};
use super::said::Said;
use crate::channels::{Delivered, Thread, Turn};
use crate::event::Event;
use crate::render;
use crate::render::context::{StepView, TemplateContext};
use crate::rules::{RuleSet, Talk};
use crate::store::conversation::{Posted, Seen, Step, Stepped, ThreadRef};
use crate::store::{Next, millis, now_ms};

/// How long the delivery posting a conversation's first message has before another may: more
/// than one attempt's timeout, less than a user's patience.
const HOLD: std::time::Duration = std::time::Duration::from_secs(60);

impl Dispatcher {
    /// Records this message's step and adds `conversation` to its context. `Err` when another
    /// delivery is posting the conversation's first message: this one waits for it.
    pub(super) async fn converse(
        &self,
        t: &Try<'_>,
        talk: &Talk,
        event: &Event,
        ctx: &mut TemplateContext,
    ) -> Result<Turn, Outcome> {
        let key = self.talk_key(t, talk, ctx)?;
        let now = now_ms();
        let step = Step {
            channel: t.c.channel.clone(),
            key: key.clone(),
            delivery_id: t.c.delivery_id,
            event_id: event.id().to_string(),
            event: event.name().to_string(),
            at: happened(event, t.c.received_at),
            now,
            hold: millis(HOLD),
            keep: millis(talk.spec.keep),
        };
        let stepped = self.store.step(step).await.map_err(|e| {
            let reason = format!("cannot record the conversation's step: {e}");
            t.retry(
                "cannot record a conversation's step, will retry",
                &reason,
                None,
                None,
            )
        })?;
        let (thread, newest, steps, posted_at) = match stepped {
            Stepped::Busy { until } => return Err(wait(until.min(now + 2_000))),
            Stepped::First { steps } => (None, true, steps, None),
            Stepped::Later {
                thread,
                posted_at,
                newest,
                steps,
            } => (Some(thread), newest, steps, Some(posted_at)),
        };
        ctx.insert("conversation", context(&key, &steps, posted_at, event.id()));
        Ok(Turn {
            key,
            mode: talk.spec.mode,
            broadcast: talk.spec.broadcast,
            thread: thread.map(|t| Thread {
                id: t.id,
                place: t.place,
                subject: t.subject,
            }),
            newest,
        })
    }

    fn talk_key(&self, t: &Try<'_>, talk: &Talk, ctx: &TemplateContext) -> Result<String, Outcome> {
        key(&t.runtime.config, talk, ctx).map_err(|e| t.dead(&crate::text::causes(&e), None))
    }

    /// A conversation's first message was posted (again): remember where, for its next step.
    pub(super) async fn remember(&self, c: &crate::store::Claimed, turn: &Turn, done: &Delivered) {
        let Some(thread) = &done.thread else {
            return;
        };
        let posted = Posted {
            channel: c.channel.clone(),
            key: turn.key.clone(),
            thread: ThreadRef {
                id: thread.id.clone(),
                place: thread.place.clone(),
                subject: thread.subject.clone(),
            },
            now: now_ms(),
        };
        if let Err(e) = self.store.posted(posted).await {
            error!(channel = c.channel.as_str(), key = turn.key.as_str(), error = %e, "cannot remember where a conversation's first message is: its next step posts a new one");
        }
    }
}

/// The conversation's key for this message.
pub fn key(config: &RuleSet, talk: &Talk, ctx: &TemplateContext) -> Result<String, KeyError> {
    let key = config
        .renderer
        .render(&talk.key, &ctx.to_handlebars())
        .map_err(|source| KeyError::Render {
            what: "conversation",
            source,
        })?;
    if key.trim().is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(key)
}

/// When the event happened, by SuperOffice's `Timestamp` (else when herald received it).
pub fn happened(event: &Event, received_at: i64) -> i64 {
    event.fields()["Timestamp"]
        .as_str()
        .and_then(crate::event::time::parse)
        .map_or(received_at, |t| t.as_millisecond())
}

/// Waiting for another delivery to post the first message: no attempt was made.
fn wait(until: i64) -> Outcome {
    Outcome::unsent(
        Next::RetryAt(until),
        Said::Retry {
            said: "waiting for another delivery to post the conversation's first message",
            status: None,
            retry_in_ms: until.saturating_sub(now_ms()),
            reason: "the conversation's first message is being posted".into(),
        },
    )
}

/// `conversation` in a message's context (see [`render::context::conversation`]).
pub fn context(key: &str, steps: &[Seen], posted_at: Option<i64>, current: &str) -> Value {
    let views: Vec<StepView<'_>> = steps
        .iter()
        .map(|s| StepView {
            event: &s.event,
            at: s.at,
            current: s.event_id == current,
        })
        .collect();
    render::context::conversation(key, &views, posted_at)
}
