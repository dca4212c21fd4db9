//! What a conversation would do with a message now: the step is decided exactly as delivery
//! decides it ([`crate::store::conversation::decide`]), against the conversation as stored
//! (when simulate can read the database), and nothing is written.

use crate::config::channel::Kind;
use crate::config::conversation::Mode;
use crate::delivery::conversation;
use crate::delivery::prepare::{Job, NotReady};
use crate::event::Event;
use crate::render::context::TemplateContext;
use crate::rules::RuleSet;
use crate::store::conversation::{Step, Stepped, decide};
use crate::store::{Store, millis};
use crate::text::show_time;

/// Adds `conversation` to the context; says what the message would do, for an action that
/// keeps a conversation.
pub(super) async fn converse(
    config: &RuleSet,
    store: Option<&dyn Store>,
    now: i64,
    event: &Event,
    job: &Job<'_>,
    ctx: &mut TemplateContext,
) -> Result<Option<String>, NotReady> {
    let Some(talk) = &job.action.conversation else {
        return Ok(None);
    };
    let key = conversation::key(config, talk, ctx)
        .map_err(|e| NotReady::Dead(crate::text::causes(&e)))?;
    let channel = job.action.channel.clone();
    let stored = match store {
        Some(s) => s
            .conversation(channel.clone(), key.clone())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let step = Step {
        channel: channel.clone(),
        key: key.clone(),
        delivery_id: -1,
        event_id: event.id().to_string(),
        event: event.name().to_string(),
        at: conversation::happened(event, now),
        now,
        hold: 0,
        keep: millis(talk.spec.keep),
    };
    let (stepped, _) = decide(stored, &step);
    let email = config.channels[&channel].kind() == Kind::Email;
    let (steps, posted_at) = match &stepped {
        Stepped::First { steps } | Stepped::Later { steps, .. } => (steps.clone(), None),
        Stepped::Busy { .. } => (Vec::new(), None),
    };
    let posted_at = match &stepped {
        Stepped::Later { posted_at, .. } => Some(*posted_at),
        _ => posted_at,
    };
    ctx.insert(
        "conversation",
        conversation::context(&key, &steps, posted_at, event.id()),
    );
    Ok(Some(describe(
        &stepped,
        &key,
        talk.spec.mode,
        email,
        store.is_some(),
    )))
}

fn describe(stepped: &Stepped, key: &str, mode: Mode, email: bool, looked: bool) -> String {
    let unseen = if looked {
        ""
    } else {
        " (no database to look in: --db to see earlier steps)"
    };
    match (stepped, email) {
        (Stepped::Later { posted_at, .. }, true) => format!(
            "replies in the email thread of {key} (started {})",
            show_time(*posted_at)
        ),
        (
            Stepped::Later {
                posted_at, newest, ..
            },
            false,
        ) => {
            let when = show_time(*posted_at);
            let update = if *newest {
                format!("updates the message for {key} (posted {when})")
            } else {
                format!(
                    "leaves the message for {key} (posted {when}) as it is: it shows a later step"
                )
            };
            match mode {
                Mode::Update => update,
                Mode::Thread => {
                    format!("replies in the thread of the message for {key} (posted {when})")
                }
                Mode::UpdateAndThread => format!("{update}, and replies in its thread"),
            }
        }
        (_, true) => format!("starts the email thread of {key}{unseen}"),
        (_, false) => format!("posts a new message for {key}{unseen}"),
    }
}
