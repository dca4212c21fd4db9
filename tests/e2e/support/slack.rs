//! A Slack Web API stand-in: `chat.postMessage`, `chat.update` and `conversations.list` as
//! Slack documents them. Every answer is HTTP 200 with `ok` (and `error` when false) unless a
//! test scripts a 429; the bearer token is checked; messages live in channels with `ts`s, and
//! replies carry their `thread_ts`. `users.lookupByEmail` knows one user, Jane Doe
//! (`jane.doe@example.com`, `U0JANE001`), and answers `users_not_found` for anyone else.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One call, as received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

/// A message in a channel.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub edits: usize,
}

/// What to answer a call instead of carrying it out.
#[derive(Debug, Clone)]
pub enum Scripted {
    Error(&'static str),
    RateLimited {
        retry_after: u64,
    },
    /// This answer, as it is (200), whatever the call.
    Answer(Value),
}

struct Inner {
    token: String,
    /// Channels by id: (name, is the bot a member).
    channels: BTreeMap<String, (String, bool)>,
    calls: Mutex<Vec<Call>>,
    messages: Mutex<Vec<Posted>>,
    script: Mutex<HashMap<String, VecDeque<Scripted>>>,
    next_ts: Mutex<u64>,
}

pub struct SlackApi {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl SlackApi {
    /// A workspace with channels `C0DEALS01` (#deals), `C0OTHER01` (#other), and `C0QUIET01`
    /// (#quiet, the bot not in it), answering to `token`.
    pub async fn start(token: &str) -> SlackApi {
        let channels = [
            ("C0DEALS01", "deals", true),
            ("C0OTHER01", "other", true),
            ("C0QUIET01", "quiet", false),
        ]
        .into_iter()
        .map(|(id, name, member)| (id.to_string(), (name.to_string(), member)))
        .collect();
        let inner = Arc::new(Inner {
            token: token.to_string(),
            channels,
            calls: Mutex::new(Vec::new()),
            messages: Mutex::new(Vec::new()),
            script: Mutex::new(HashMap::new()),
            next_ts: Mutex::new(1),
        });
        let app = Router::new()
            .route("/api/conversations.list", get(list))
            .route("/api/users.lookupByEmail", get(lookup_by_email))
            .route("/api/{method}", post(call))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SlackApi { addr, inner }
    }

    /// The `api_url:` to give herald.
    pub fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Answers the next call of `method` with this instead.
    pub fn script(&self, method: &str, answer: Scripted) {
        self.inner
            .script
            .lock()
            .unwrap()
            .entry(method.to_string())
            .or_default()
            .push_back(answer);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The methods called, in order.
    pub fn methods(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.method).collect()
    }

    pub fn messages(&self) -> Vec<Posted> {
        self.inner.messages.lock().unwrap().clone()
    }

    /// Deletes a message, as someone in Slack could.
    pub fn delete(&self, ts: &str) {
        self.inner.messages.lock().unwrap().retain(|m| m.ts != ts);
    }

    /// Waits until `n` calls came.
    pub async fn wait_for(&self, n: usize) -> Vec<Call> {
        let ok = super::wait_until(std::time::Duration::from_secs(20), || {
            self.calls().len() >= n
        })
        .await;
        assert!(ok, "expected {n} Slack calls, got {:?}", self.methods());
        self.calls()
    }
}

fn answer(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

fn failed(code: &str) -> Response {
    answer(json!({ "ok": false, "error": code }))
}

/// The scripted answer for this call, if any, else checks the token.
fn precheck(inner: &Inner, method: &str, headers: &HeaderMap) -> Option<Response> {
    let scripted = inner
        .script
        .lock()
        .unwrap()
        .get_mut(method)
        .and_then(VecDeque::pop_front);
    match scripted {
        Some(Scripted::Error(code)) => return Some(failed(code)),
        Some(Scripted::Answer(value)) => return Some(axum::Json(value).into_response()),
        Some(Scripted::RateLimited { retry_after }) => {
            let headers = [("Retry-After", retry_after.to_string())];
            let body = axum::Json(json!({ "ok": false, "error": "ratelimited" }));
            return Some((StatusCode::TOO_MANY_REQUESTS, headers, body).into_response());
        }
        None => {}
    }
    let bearer = format!("Bearer {}", inner.token);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    (auth != Some(bearer.as_str())).then(|| failed("invalid_auth"))
}

async fn call(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inner.calls.lock().unwrap().push(Call {
        method: method.clone(),
        body: body.clone(),
    });
    if let Some(r) = precheck(&inner, &method, &headers) {
        return r;
    }
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    match inner.channels.get(&channel) {
        None => return failed("channel_not_found"),
        Some((_, false)) => return failed("not_in_channel"),
        Some(_) => {}
    }
    let text = body["text"].as_str().unwrap_or_default().to_string();
    match method.as_str() {
        "chat.postMessage" => {
            let ts = {
                let mut n = inner.next_ts.lock().unwrap();
                *n += 1;
                format!("1700000000.{:06}", *n)
            };
            let thread_ts = body["thread_ts"].as_str().map(str::to_string);
            inner.messages.lock().unwrap().push(Posted {
                channel: channel.clone(),
                ts: ts.clone(),
                text,
                thread_ts,
                edits: 0,
            });
            answer(json!({ "ok": true, "channel": channel, "ts": ts }))
        }
        "chat.update" => {
            let ts = body["ts"].as_str().unwrap_or_default().to_string();
            let mut messages = inner.messages.lock().unwrap();
            let Some(m) = messages
                .iter_mut()
                .find(|m| m.channel == channel && m.ts == ts)
            else {
                return failed("message_not_found");
            };
            m.text = text;
            m.edits += 1;
            answer(json!({ "ok": true, "channel": channel, "ts": ts }))
        }
        _ => failed("unknown_method"),
    }
}

/// `conversations.list`, one channel per page, so that a name is found only by following the
/// cursor.
async fn list(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    inner.calls.lock().unwrap().push(Call {
        method: "conversations.list".into(),
        body: json!(query),
    });
    if let Some(r) = precheck(&inner, "conversations.list", &headers) {
        return r;
    }
    let page: usize = query
        .get("cursor")
        .and_then(|c| c.strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let all: Vec<_> = inner.channels.iter().collect();
    let Some((id, (name, member))) = all.get(page) else {
        return answer(
            json!({ "ok": true, "channels": [], "response_metadata": { "next_cursor": "" } }),
        );
    };
    let next = if page + 1 < all.len() {
        format!("page-{}", page + 1)
    } else {
        String::new()
    };
    answer(json!({
        "ok": true,
        "channels": [{ "id": id, "name": name, "is_member": member }],
        "response_metadata": { "next_cursor": next }
    }))
}

/// The workspace's people: (address, user id, real name).
const USERS: &[(&str, &str, &str)] = &[("jane.doe@example.com", "U0JANE001", "Jane Doe")];

/// `users.lookupByEmail`: the user with that address (Slack compares without case), or
/// `users_not_found`.
async fn lookup_by_email(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    inner.calls.lock().unwrap().push(Call {
        method: "users.lookupByEmail".into(),
        body: json!(query),
    });
    if let Some(r) = precheck(&inner, "users.lookupByEmail", &headers) {
        return r;
    }
    let email = query
        .get("email")
        .map(|e| e.to_lowercase())
        .unwrap_or_default();
    match USERS.iter().find(|(address, _, _)| *address == email) {
        Some((address, id, name)) => answer(json!({
            "ok": true,
            "user": {
                "id": id, "team_id": "T0HERALD1", "name": name.to_lowercase(), "deleted": false,
                "real_name": name, "tz": "Europe/Oslo", "is_bot": false,
                "profile": { "real_name": name, "display_name": "", "email": address }
            }
        })),
        None => failed("users_not_found"),
    }
}
