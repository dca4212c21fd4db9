//! What a claimed delivery sends: a message of its own, held until working hours open, put in a
//! digest, or (for the delivery of a digest) one message of everything the digest collected.
//! Noise control decides ([`super::noise::plan`]); the store keeps what waits.

use jiff::Timestamp;
use tracing::warn;

use super::Dispatcher;
use super::attempt::{Outcome, Try};
use super::noise::{Plan, plan, single};
use super::prepare::{self, Job, NotReady, Prepared, Ready};
use super::said::Said;
use crate::event::Event;
use crate::render::context::TemplateContext;
use crate::render::mention;
use crate::rules::{Action, Rule};
use crate::store::{DigestContent, Join, Joined, Next, now_ms};

/// When a stored time is unreadable (it never is): now.
fn time(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or_else(|_| Timestamp::now())
}

impl Dispatcher {
    /// The message to send, or what became of the attempt if there is none to send now.
    pub(super) async fn message(&self, t: &Try<'_>) -> Result<Ready, Outcome> {
        match t.c.digest_of {
            Some(digest) => self.digest_message(t, digest).await,
            None => self.own_message(t).await,
        }
    }

    /// The rule and action the delivery was made for, in the snapshot in force.
    fn action<'r>(&self, t: &'r Try<'_>) -> Result<(&'r Rule, &'r Action), Outcome> {
        t.runtime
            .config
            .action(&t.c.rule, t.c.action_index, &t.c.channel)
            .map_err(|gone| t.dead(&gone.to_string(), None))
    }

    /// One event's message, with what its enriched data says the event is about.
    async fn own_message(&self, t: &Try<'_>) -> Result<Ready, Outcome> {
        let c = t.c;
        let event = Event::parse(c.body.as_bytes())
            .map_err(|e| t.dead(&format!("stored event is unreadable: {e}"), None))?;
        let (rule, action) = self.action(t)?;
        let job = t.job(&event, rule, action, time(c.received_at));
        let ctx = prepare::context(t.runtime.enricher.as_deref(), &job)
            .await
            .map_err(|p| self.unprepared(t, p))?;
        let about = enriched_about(&ctx, &event);
        let ready = self.planned(t, &job, ctx, about.clone()).await?;
        Ok(Ready { about, ..ready })
    }

    /// The message as noise control has it: now, held, or into a digest.
    async fn planned(
        &self,
        t: &Try<'_>,
        job: &Job<'_>,
        ctx: TemplateContext,
        about: Option<String>,
    ) -> Result<Ready, Outcome> {
        let (c, action) = (t.c, job.action);
        if action.noise.is_quiet() {
            return self.single(t, job.event, job, ctx).await;
        }
        let now = Timestamp::now();
        let plan = plan(&t.runtime.config, action, &ctx, now)
            .map_err(|e| t.dead(&crate::text::causes(&e), None))?;
        match plan {
            Plan::Now => self.single(t, job.event, job, ctx).await,
            Plan::Hold { until, .. } => Err(Outcome::unsent(
                Next::Held(until.as_millisecond()),
                Said::Held {
                    until: until.as_millisecond(),
                },
            )),
            Plan::Digest {
                key,
                due,
                immediate,
                max,
                ..
            } => {
                let join = Join {
                    delivery_id: c.delivery_id,
                    token: c.token,
                    event_id: c.event_id.clone(),
                    rule: c.rule.clone(),
                    action_index: c.action_index,
                    channel: c.channel.clone(),
                    key: key.clone(),
                    now: now.as_millisecond(),
                    due_at: due.as_millisecond(),
                    immediate,
                    max,
                    bytes: c.body.len() as i64,
                    about,
                };
                let (start, end) = self.join(t, join).await?;
                let one = single(action, ctx, &key, time(start), time(end));
                self.rendered(t, job, &one).await
            }
        }
    }

    /// One event's own message, in its conversation if the action keeps one.
    async fn single(
        &self,
        t: &Try<'_>,
        event: &Event,
        job: &Job<'_>,
        mut ctx: TemplateContext,
    ) -> Result<Ready, Outcome> {
        let turn = match &job.action.conversation {
            Some(talk) => Some(Box::new(self.converse(t, talk, event, &mut ctx).await?)),
            None => None,
        };
        let mut ready = self.rendered(t, job, &ctx).await?;
        ready.outgoing.conversation = turn;
        Ok(ready)
    }

    /// Puts the delivery in its digest. `Ok` with the digest's window if it goes now as a
    /// message of its own; otherwise what became of it (the store has it already).
    async fn join(&self, t: &Try<'_>, join: Join) -> Result<(i64, i64), Outcome> {
        match self.store.join(join).await {
            Ok(Joined::Now {
                opened_at, due_at, ..
            }) => Ok((opened_at, due_at)),
            Ok(Joined::Waiting {
                digest,
                due_at,
                size,
            }) => {
                if due_at <= now_ms() {
                    // Full: the digest is due at once.
                    self.wake();
                }
                Err(Outcome::settled(Said::Collected {
                    digest,
                    due_at,
                    size,
                }))
            }
            Ok(Joined::Stale) => Err(Outcome::settled(Said::Overtaken)),
            Err(e) => Err(t.retry(
                "cannot put the message in its digest, will retry",
                &e.to_string(),
                None,
                None,
            )),
        }
    }

    /// The message of digest `id`: everything it collected, in one.
    async fn digest_message(&self, t: &Try<'_>, id: i64) -> Result<Ready, Outcome> {
        let content = match self.store.digest(id).await {
            Ok(Some(content)) => content,
            Ok(None) => return Err(t.dead(&format!("digest {id} is no longer stored"), None)),
            Err(e) => {
                let reason = format!("cannot read digest {id}: {e}");
                return Err(t.retry("cannot read a digest, will retry", &reason, None, None));
            }
        };
        let (rule, action) = self.action(t)?;
        let mut members = Vec::with_capacity(content.members.len());
        let mut latest = None;
        for m in &content.members {
            let Ok(event) = Event::parse(m.body.as_bytes()) else {
                warn!(
                    digest = id,
                    event_id = m.event_id.as_str(),
                    "a stored event in a digest is unreadable; the digest goes without it"
                );
                continue;
            };
            let job = t.job(&event, rule, action, time(m.received_at));
            let ctx = prepare::enriched(t.runtime.enricher.as_deref(), &job)
                .await
                .map_err(|p| self.unprepared(t, p))?;
            members.push(ctx);
            latest = Some(event);
        }
        let (Some(ctx), Some(event)) = (digest_context(&content, &members), latest) else {
            let reason = format!("digest {id} collected nothing to send (its events went at once)");
            return Err(Outcome::unsent(
                Next::Skipped(reason.clone()),
                Said::Skipped { reason },
            ));
        };
        let job = t.job(&event, rule, action, time(content.opened_at));
        self.rendered(t, &job, &ctx).await
    }

    /// The message rendered; one that mentions people in Slack is rendered again once its
    /// channel has looked them up ([`crate::render::mention`]).
    async fn rendered(
        &self,
        t: &Try<'_>,
        job: &Job<'_>,
        ctx: &TemplateContext,
    ) -> Result<Ready, Outcome> {
        let config = &t.runtime.config;
        let (prepared, mentioned) = mention::collect(|| prepare::render(config, job, ctx));
        let destination = t.runtime.destinations.get(&t.c.channel);
        let (false, Some(destination)) = (mentioned.is_empty(), destination) else {
            return self.ready(t, prepared);
        };
        let mut users = mention::Users::new();
        for email in mentioned {
            if let Some(id) = destination.slack_user(&email).await {
                users.insert(email, id);
            }
        }
        if users.is_empty() {
            // Nobody found: the first rendering already shows each mention as a name.
            return self.ready(t, prepared);
        }
        let prepared = mention::with_users(users, || prepare::render(config, job, ctx));
        self.ready(t, prepared)
    }

    fn ready(&self, t: &Try<'_>, prepared: Prepared) -> Result<Ready, Outcome> {
        prepared.map_err(|why| self.unprepared(t, why))
    }

    /// What an attempt comes to when its message cannot be made now.
    fn unprepared(&self, t: &Try<'_>, why: NotReady) -> Outcome {
        match why {
            NotReady::Dead(reason) => t.dead(&reason, None),
            NotReady::Refused(reason) => {
                self.enrichment_error("permanent");
                t.dead(&reason, None)
            }
            NotReady::Skip(reason) => {
                Outcome::unsent(Next::Skipped(reason.clone()), Said::Skipped { reason })
            }
            NotReady::Retry(reason) => {
                self.enrichment_error("retryable");
                t.retry(
                    "cannot enrich the event yet, will retry",
                    &reason,
                    None,
                    None,
                )
            }
        }
    }
}

/// A digest's context: its events, from when it opened to when it was due (or now, if it went
/// early).
fn digest_context(content: &DigestContent, members: &[TemplateContext]) -> Option<TemplateContext> {
    let end = content.due_at.min(now_ms().max(content.opened_at));
    TemplateContext::digest(members, &content.key, time(content.opened_at), time(end))
}

impl Try<'_> {
    /// The job of making this delivery's message from `event`.
    fn job<'a>(
        &self,
        event: &'a Event,
        rule: &'a Rule,
        action: &'a Action,
        received_at: Timestamp,
    ) -> Job<'a> {
        Job {
            event,
            rule,
            action,
            received_at,
            elapsed: self.elapsed(),
            on_error: self
                .runtime
                .config
                .superoffice
                .as_ref()
                .map(|so| so.on_error),
        }
    }
}

/// What an enriched message's context says its event is about, when that says more than the
/// line made from the event alone when it arrived; `None` without enrichment, or when it adds
/// nothing (no store write for it, then).
fn enriched_about(ctx: &TemplateContext, event: &Event) -> Option<String> {
    use crate::event::about::about;
    if ctx.get("enriched") != Some(&serde_json::Value::Bool(true)) {
        return None;
    }
    about(ctx.fields()).filter(|line| Some(line) != about(event.fields()).as_ref())
}
