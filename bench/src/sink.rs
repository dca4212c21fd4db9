//! Local HTTP servers: the sink standing in for a webhook destination (it records when each
//! event arrived), and the floor: a bare endpoint that only checks the signature.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use herald::ingress::signature::Verifier;

/// When each event id arrived at the sink, in arrival order.
pub type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Starts a sink; the event id is read from the body's `text` (herald's inline message) or,
/// failing that, from the first alert's `EventId` label (Alertmanager's webhook).
pub async fn sink(arrivals: Arrivals) -> SocketAddr {
    serve(
        Router::new()
            .route("/sink", post(receive))
            .with_state(arrivals),
    )
    .await
}

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut ids: Vec<String> = value["text"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(alerts) = value["alerts"].as_array() {
        ids.extend(
            alerts
                .iter()
                .filter_map(|a| a["labels"]["EventId"].as_str().map(str::to_string)),
        );
    }
    let mut all = arrivals.lock().unwrap();
    all.extend(ids.into_iter().map(|id| (id, at)));
    "ok"
}

/// Where the sink runs: a task on the load generator's own runtime, sharing its threads with
/// the senders (`task`), or a thread and runtime of its own (`thread`), so that the senders
/// never delay its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    Task,
    Thread,
}

/// A sink placed as asked.
pub async fn placed(arrivals: Arrivals, placement: Placement) -> SocketAddr {
    match placement {
        Placement::Task => sink(arrivals).await,
        Placement::Thread => on_own_thread(arrivals),
    }
}

/// A sink on its own OS thread with a single-threaded runtime, for the life of the process.
fn on_own_thread(arrivals: Arrivals) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the sink");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("the caller waits");
            let app = Router::new()
                .route("/sink", post(receive))
                .with_state(arrivals);
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv().expect("the sink's address")
}

/// The floor: verifies the signature and answers 200, nothing else.
pub async fn floor() -> SocketAddr {
    let verifier = Arc::new(Verifier::new([crate::SECRET.to_string()]));
    serve(
        Router::new()
            .route("/webhook", post(check))
            .with_state(verifier),
    )
    .await
}

async fn check(State(v): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let sig = headers.get("x-superoffice-signature").map(|h| h.as_bytes());
    match v.verify(sig, body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}
