//! A Slack app: messages posted with a bot token through the Web API, which, unlike an incoming
//! webhook, says where each message is (`channel`, `ts`) so it can be edited (`chat.update`)
//! and replied to (`thread_ts`). That is what conversations need: one message per quote that
//! follows it, with its steps in the thread.
//!
//! A `#name` is looked up once with `conversations.list` and remembered. With `api_url:
//! file://DIR` each call's body is written to a file instead, with made-up `ts`s, so
//! conversations can be tried without a workspace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::file::FileSink;
use super::sent::Sent;
use super::slack_api::{Api, ApiError};
use super::slack_users::Directory;
use super::{BoxFuture, Delivered, Destination, Outgoing, SendError, Thread, Turn, wrong_message};
use crate::config::channel::{self, Endpoint, Kind};
use crate::render::message::Message;

pub struct SlackApp {
    /// As configured: an ID, or `#name`.
    channel: String,
    sink: Sink,
    /// The channel's ID, once known.
    id: OnceCell<String>,
    /// Users looked up by address, for mentions.
    users: Directory,
}

enum Sink {
    Api(Api),
    File(FileSink),
}

/// Where a posted message is.
struct Posted {
    channel: String,
    ts: String,
}

impl SlackApp {
    pub fn new(
        name: &str,
        app: &channel::SlackApp,
        timeout: Duration,
        client: &reqwest::Client,
    ) -> SlackApp {
        let sink = match &app.api {
            Endpoint::File(dir) => Sink::File(FileSink::new(dir.clone(), name)),
            Endpoint::Http(base) => Sink::Api(Api {
                client: client.clone(),
                base: base.clone(),
                token: app.token.clone(),
                timeout,
            }),
        };
        SlackApp {
            channel: app.channel.clone(),
            sink,
            id: OnceCell::new(),
            users: Directory::default(),
        }
    }

    /// The channel's ID: as configured, or looked up by name once.
    async fn channel_id(&self) -> Result<String, SendError> {
        let id = self
            .id
            .get_or_try_init(|| async {
                match (&self.sink, self.channel.strip_prefix('#')) {
                    (Sink::Api(api), Some(name)) => lookup(api, name).await,
                    _ => Ok(self.channel.clone()),
                }
            })
            .await?;
        Ok(id.clone())
    }

    /// Posts a message, in a thread if `thread_ts` is given.
    async fn post(
        &self,
        out: &Outgoing,
        channel: &str,
        body: &Value,
        reply: Option<(&str, bool)>,
    ) -> Result<Posted, ApiError> {
        let mut call = body.clone();
        call["channel"] = json!(channel);
        if let Some((thread_ts, broadcast)) = reply {
            call["thread_ts"] = json!(thread_ts);
            if broadcast {
                call["reply_broadcast"] = json!(true);
            }
        }
        let answer = self.call(out, "chat.postMessage", call).await?;
        // The message's id is what every later edit and reply names: an answer without a
        // plausible one cannot be followed up. Slack has posted the message, so trying again
        // would post it twice: the delivery fails for good, saying so.
        let Some(ts) = answer["ts"].as_str().filter(|ts| valid_ts(ts)) else {
            let shown = crate::http::excerpt(&answer["ts"].to_string());
            return Err(ApiError::Failed(SendError::Permanent {
                reason: format!(
                    "slack chat.postMessage answered ok without a message ts (ts: {shown}): the message may be posted, but herald cannot edit it or reply to it"
                ),
                status: Some(200),
            }));
        };
        // The place is the channel herald posted to, whatever the answer names.
        Ok(Posted {
            channel: channel.to_string(),
            ts: ts.to_string(),
        })
    }

    async fn update(&self, out: &Outgoing, at: &Thread, body: &Value) -> Result<(), ApiError> {
        let mut call = body.clone();
        call["channel"] = json!(at.place);
        call["ts"] = json!(at.id);
        self.call(out, "chat.update", call).await.map(|_| ())
    }

    async fn call(&self, out: &Outgoing, method: &str, body: Value) -> Result<Value, ApiError> {
        match &self.sink {
            Sink::Api(api) => api.post(method, &body).await,
            Sink::File(file) => {
                let call = json!({ "method": method, "body": body });
                let bytes = serde_json::to_vec_pretty(&call).unwrap_or_default();
                file.write(&bytes, "json", out).await?;
                Ok(json!({ "ok": true, "channel": body["channel"], "ts": made_up_ts() }))
            }
        }
    }

    /// A message in a conversation whose first message is posted: edit it, reply to it, or
    /// both, as the mode says. A first message that is gone is posted again.
    async fn follow(
        &self,
        out: &Outgoing,
        turn: &Turn,
        at: &Thread,
        body: &Value,
    ) -> Result<Delivered, SendError> {
        let mut said = Vec::new();
        if !valid_ts(&at.id) {
            // A thread stored without a usable id (by an older herald): start a new one.
            let posted = self
                .post(out, &at.place, body, None)
                .await
                .map_err(failed)?;
            let detail = format!("posted message {} (the first had no usable id)", posted.ts);
            return Ok(delivered(detail, Some(thread(posted))));
        }
        if turn.mode.updates() && turn.newest {
            match self.update(out, at, body).await {
                Ok(()) => said.push(format!("updated message {}", at.id)),
                Err(ApiError::Gone(code)) => {
                    let posted = self
                        .post(out, &at.place, body, None)
                        .await
                        .map_err(failed)?;
                    let detail = format!(
                        "message {} could not be updated ({code}): posted message {} instead",
                        at.id, posted.ts
                    );
                    return Ok(delivered(detail, Some(thread(posted))));
                }
                Err(ApiError::Failed(e)) => return Err(e),
            }
        } else if turn.mode.updates() {
            said.push(format!("message {} shows a later step: not updated", at.id));
        }
        if turn.mode.replies() {
            let reply = Some((at.id.as_str(), turn.broadcast));
            let posted = self
                .post(out, &at.place, body, reply)
                .await
                .map_err(failed)?;
            said.push(format!("replied in its thread ({})", posted.ts));
        }
        Ok(delivered(said.join("; "), None))
    }
}

impl Destination for SlackApp {
    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Message::Slack { body } = &out.message else {
                return Err(wrong_message(Kind::Slack));
            };
            let channel = self.channel_id().await?;
            match &out.conversation {
                Some(turn) if turn.thread.is_some() => {
                    let at = turn.thread.as_ref().expect("checked");
                    self.follow(out, turn, at, body).await
                }
                first => {
                    let posted = self.post(out, &channel, body, None).await.map_err(failed)?;
                    let detail = format!("posted message {} in {}", posted.ts, posted.channel);
                    Ok(delivered(detail, first.as_ref().map(|_| thread(posted))))
                }
            }
        })
    }

    /// The message's call: `chat.update` when it edits its conversation's first message,
    /// else `chat.postMessage` (a reply names its thread). A reply that follows an edit is
    /// shown as the edit; the attempt's answer says both.
    fn sent(&self, out: &Outgoing) -> Sent {
        let Message::Slack { body } = &out.message else {
            return Sent::new(Kind::Slack.as_str(), String::new(), String::new());
        };
        let mut call = body.clone();
        let turn = out.conversation.as_deref();
        let at = turn.and_then(|t| t.thread.as_ref().map(|at| (t, at)));
        let method = match at {
            Some((turn, at)) if turn.mode.updates() && turn.newest => {
                call["channel"] = json!(at.place);
                call["ts"] = json!(at.id);
                "chat.update"
            }
            Some((turn, at)) if turn.mode.replies() => {
                call["channel"] = json!(at.place);
                call["thread_ts"] = json!(at.id);
                if turn.broadcast {
                    call["reply_broadcast"] = json!(true);
                }
                "chat.postMessage"
            }
            // An edit of a message that shows a later step already: `send` sends nothing.
            Some(_) => {
                let to = "nothing: the conversation's message shows a later step".to_string();
                return Sent::new(Kind::Slack.as_str(), to, String::new());
            }
            None => {
                let id = self.id.get().unwrap_or(&self.channel);
                call["channel"] = json!(id);
                "chat.postMessage"
            }
        };
        let to = match &self.sink {
            Sink::Api(api) => format!(
                "POST {}/{method}",
                api.base.expose().as_str().trim_end_matches('/')
            ),
            Sink::File(file) => file.shown(),
        };
        let mut sent = Sent::new(Kind::Slack.as_str(), to, call.to_string());
        if let Sink::Api(_) = self.sink {
            sent.header("Content-Type", "application/json; charset=utf-8");
            sent.header("Authorization", "");
        }
        sent
    }

    fn slack_user<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            match &self.sink {
                Sink::Api(api) => self.users.user(api, email).await,
                Sink::File(_) => None,
            }
        })
    }
}

fn delivered(detail: String, thread: Option<Thread>) -> Delivered {
    Delivered {
        status: Some(200),
        detail,
        thread,
    }
}

fn thread(posted: Posted) -> Thread {
    Thread {
        id: posted.ts,
        place: posted.channel,
        subject: String::new(),
    }
}

/// A message that is gone cannot be gone when it is being posted: any such answer is a
/// failure like another.
fn failed(e: ApiError) -> SendError {
    match e {
        ApiError::Failed(e) => e,
        ApiError::Gone(code) => SendError::Permanent {
            reason: format!("slack: {code}"),
            status: Some(200),
        },
    }
}

/// Finds a channel the bot can see by name, through every page of `conversations.list`.
async fn lookup(api: &Api, name: &str) -> Result<String, SendError> {
    let mut cursor = String::new();
    for _ in 0..100 {
        let query = [
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", "1000"),
            ("cursor", cursor.as_str()),
        ];
        let page = api
            .get("conversations.list", &query)
            .await
            .map_err(failed)?;
        let channels = page["channels"].as_array().cloned().unwrap_or_default();
        if let Some(c) = channels.iter().find(|c| c["name"] == name) {
            if c["is_member"] == Value::Bool(false) {
                return Err(SendError::Permanent {
                    reason: format!(
                        "slack: the bot is not in #{name}: in Slack, /invite @your-app there"
                    ),
                    status: None,
                });
            }
            return Ok(c["id"].as_str().unwrap_or_default().to_string());
        }
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if cursor.is_empty() {
            break;
        }
    }
    Err(SendError::Permanent {
        reason: format!(
            "slack: no channel #{name} among those the bot can see (public ones, and private ones it was invited to): check the name, or use the channel's ID"
        ),
        status: None,
    })
}

/// A `ts` for a message written to a file: unique, and shaped like Slack's.
/// Slack's message ids are seconds and microseconds: `1712345678.123456`.
fn valid_ts(ts: &str) -> bool {
    match ts.split_once('.') {
        Some((secs, micros)) => {
            (1..=12).contains(&secs.len())
                && (1..=9).contains(&micros.len())
                && secs
                    .bytes()
                    .chain(micros.bytes())
                    .all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn made_up_ts() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let now = jiff::Timestamp::now();
    let n = N.fetch_add(1, Ordering::Relaxed) % 1000;
    format!("{}.{:03}{n:03}", now.as_second(), now.subsec_millisecond())
}
