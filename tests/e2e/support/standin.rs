//! A local HTTP server standing in for Slack, Teams or any webhook: it records every request
//! and answers from a script (then `200 ok`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// How long to wait before answering.
    pub delay: Duration,
    /// A body of this many bytes, streamed instead of `body` (never held in memory whole).
    pub streamed: Option<usize>,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
            streamed: None,
        }
    }

    /// Answers with `bytes` bytes of `x`, streamed.
    pub fn streamed(mut self, bytes: usize) -> Reply {
        self.streamed = Some(bytes);
        self
    }

    /// Answers only after `delay` (the request is recorded at once).
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<Captured>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
}

pub struct StandIn {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl StandIn {
    pub async fn start() -> StandIn {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(record).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        StandIn { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers the next requests with these replies, in order.
    pub fn script(&self, replies: Vec<Reply>) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    /// Answers every request not scripted with this (instead of `200 ok`).
    pub fn always(&self, reply: Reply) {
        *self.inner.default.lock().unwrap() = Some(reply);
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        let ok = super::wait_until(Duration::from_secs(20), || self.requests().len() >= n).await;
        let got = self.requests();
        assert!(ok, "expected {n} requests, got {}", got.len());
        got
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.requests.lock().unwrap().push(Captured {
        at: Instant::now(),
        method,
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    let reply = inner.script.lock().unwrap().pop_front();
    let reply = reply
        .or_else(|| inner.default.lock().unwrap().clone())
        .unwrap_or_else(|| Reply::new(200, "ok"));
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).unwrap();
    let mut response = match reply.streamed {
        Some(bytes) => (status, streamed(bytes)).into_response(),
        None => (status, reply.body).into_response(),
    };
    for (k, v) in reply.headers {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
}

/// `bytes` bytes of `x`, in 64 KiB chunks made as they are sent.
fn streamed(bytes: usize) -> axum::body::Body {
    static CHUNK: [u8; 65536] = [b'x'; 65536];
    let chunks = (0..bytes.div_ceil(CHUNK.len())).map(move |i| {
        let n = (bytes - i * CHUNK.len()).min(CHUNK.len());
        Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK[..n]))
    });
    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
}
