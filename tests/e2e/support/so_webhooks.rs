//! A stand-in for SuperOffice's webhook administration API on loopback, as its documentation
//! describes it: `GET/POST /api/v1/Webhook`, `GET /api/v1/Webhook/default`,
//! `PUT /api/v1/Webhook/{id}`, and usage statistics from `GET /api/v1/Archive/dynamic`. Saving
//! (POST or PUT) first posts a signed `test` event to the target URL, as SuperOffice does, and
//! refuses unless it answers 200. A wrong bearer token gets 401. [`SoWebhooks::sparse`] answers
//! as the real .NET API does, every field herald does not need `null`;
//! [`SoWebhooks::restricted`] refuses the Webhook agent as Online does for an app that did not
//! ask for it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct HookCall {
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    token: String,
    hooks: Mutex<BTreeMap<i64, Value>>,
    usage: Mutex<BTreeMap<i64, Value>>,
    calls: Mutex<Vec<HookCall>>,
    next_id: Mutex<i64>,
    sparse: AtomicBool,
    restricted: AtomicBool,
}

pub struct SoWebhooks {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

type Shared = State<Arc<Inner>>;

impl SoWebhooks {
    /// Accepts `Authorization: Bearer {token}` only.
    pub async fn start(token: &str) -> SoWebhooks {
        // It posts SuperOffice's `test` event with reqwest, herald or no herald in this test.
        herald::install_crypto_provider();
        let inner = Arc::new(Inner {
            token: token.to_string(),
            next_id: Mutex::new(11),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/api/v1/Webhook", get(list).post(create))
            .route("/api/v1/Webhook/default", get(defaults))
            .route("/api/v1/Webhook/{id}", get(one).put(update))
            .route("/api/v1/Archive/dynamic", get(archive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SoWebhooks { addr, inner }
    }

    pub fn root(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The requests that change something (POST, PUT).
    pub fn changes(&self) -> Vec<HookCall> {
        self.inner
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method != "GET")
            .cloned()
            .collect()
    }

    pub fn hooks(&self) -> Vec<Value> {
        self.inner.hooks.lock().unwrap().values().cloned().collect()
    }

    /// What SuperOffice does after nine failures in a row.
    pub fn stop(&self, id: i64, state: &str, errors: i64, last_error: &str) {
        if let Some(h) = self.inner.hooks.lock().unwrap().get_mut(&id) {
            h["State"] = json!(state);
        }
        self.inner.usage.lock().unwrap().insert(
            id,
            json!({"webhook_usage.total_calls": 120, "webhook_usage.total_errors": errors,
                   "webhook_usage.consecutive_errors": errors, "webhook_usage.last_error": last_error}),
        );
    }

    /// Answer with `null` for every field herald does not need, as the real API does.
    pub fn sparse(&self) {
        self.inner.sparse.store(true, Ordering::Relaxed);
    }

    /// Refuse the Webhook agent with 403, as Online does for an app that did not request it.
    pub fn restricted(&self, on: bool) {
        self.inner.restricted.store(on, Ordering::Relaxed);
    }

    pub fn state_of(&self, id: i64) -> String {
        let hooks = self.inner.hooks.lock().unwrap();
        hooks[&id]["State"].as_str().unwrap_or("").to_string()
    }
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let want = format!("Bearer {}", inner.token);
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
        && !inner.restricted.load(Ordering::Relaxed)
}

/// A stored definition as the sparse API shows it: what herald does not manage is `null`.
fn shown(inner: &Inner, hook: &Value) -> Value {
    let mut hook = hook.clone();
    if inner.sparse.load(Ordering::Relaxed) {
        for field in [
            "Headers",
            "Properties",
            "Registered",
            "RegisteredAssociateId",
            "Updated",
            "UpdatedAssociateId",
            "ErrorsEmail",
            "Secret",
        ] {
            hook[field] = Value::Null;
        }
    }
    hook
}

fn record(inner: &Inner, method: &str, path: String, body: Value) {
    inner.calls.lock().unwrap().push(HookCall {
        method: method.into(),
        path,
        body,
    });
}

fn refused(inner: &Inner) -> Response {
    if inner.restricted.load(Ordering::Relaxed) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"Error": "Access to the Webhook agent is restricted for this application (Online Restricted)", "ErrorType": "SoAccessDeniedException"})),
        )
            .into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"Error": "Unauthorized", "ErrorType": "SoCredentialsException"})),
    )
        .into_response()
}

async fn list(State(inner): Shared, headers: HeaderMap) -> Response {
    if !authorized(&inner, &headers) {
        return refused(&inner);
    }
    record(&inner, "GET", "/api/v1/Webhook".into(), Value::Null);
    let hooks: Vec<Value> = inner
        .hooks
        .lock()
        .unwrap()
        .values()
        .map(|h| shown(&inner, h))
        .collect();
    axum::Json(hooks).into_response()
}

async fn one(State(inner): Shared, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    if !authorized(&inner, &headers) {
        return refused(&inner);
    }
    match inner.hooks.lock().unwrap().get(&id) {
        Some(h) => axum::Json(h.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn defaults(State(inner): Shared, headers: HeaderMap) -> Response {
    if !authorized(&inner, &headers) {
        return refused(&inner);
    }
    if inner.sparse.load(Ordering::Relaxed) {
        // As `GET api/v1/Webhook/default` really answers: nothing set.
        return axum::Json(json!({
            "WebhookId": 0, "Name": null, "Events": null, "TargetUrl": null, "Secret": null,
            "State": null, "Type": null, "Headers": null, "Properties": null, "ErrorsEmail": null,
            "Registered": null, "RegisteredAssociateId": 0, "Updated": null, "UpdatedAssociateId": 0
        }))
        .into_response();
    }
    axum::Json(json!({
        "WebhookId": 0, "Name": "", "Events": [], "TargetUrl": "", "Secret": "", "State": "Active",
        "Type": "webhook", "Headers": {}, "Properties": {}, "ErrorsEmail": ""
    }))
    .into_response()
}

async fn create(State(inner): Shared, headers: HeaderMap, body: String) -> Response {
    if !authorized(&inner, &headers) {
        return refused(&inner);
    }
    let mut hook: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    record(&inner, "POST", "/api/v1/Webhook".into(), hook.clone());
    if let Err(reason) = test_target(&hook).await {
        return reason;
    }
    let id = {
        let mut next = inner.next_id.lock().unwrap();
        *next += 1;
        *next
    };
    hook["WebhookId"] = json!(id);
    hook["Registered"] = json!("2026-11-29T10:00:00");
    inner.hooks.lock().unwrap().insert(id, hook.clone());
    axum::Json(hook).into_response()
}

async fn update(
    State(inner): Shared,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !authorized(&inner, &headers) {
        return refused(&inner);
    }
    let hook: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    record(&inner, "PUT", format!("/api/v1/Webhook/{id}"), hook.clone());
    if !inner.hooks.lock().unwrap().contains_key(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Err(reason) = test_target(&hook).await {
        return reason;
    }
    inner.hooks.lock().unwrap().insert(id, hook.clone());
    axum::Json(hook).into_response()
}

/// What SuperOffice does before it saves: a signed `test` event to the target.
async fn test_target(hook: &Value) -> Result<(), Response> {
    let url = hook["TargetUrl"].as_str().unwrap_or("");
    let secret = hook["Secret"].as_str().unwrap_or("");
    let body = json!({
        "EventId": "8d5b6e0a-0000-4000-8000-000000000000", "Timestamp": "2026-11-29T10:00:00Z",
        "Changes": [], "Event": "test", "PrimaryKey": 0, "Entity": "test",
        "ContextIdentifier": "Cust12345", "ChangedByAssociateId": 0,
        "WebhookName": hook["Name"],
    })
    .to_string();
    let answer = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("X-SuperOffice-Event", "test")
        .header("X-Hook-Test", "true")
        .header(
            "X-SuperOffice-Signature",
            herald::ingress::signature::sign(secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await;
    let status = answer.as_ref().map(|a| a.status().as_u16()).ok();
    if status == Some(200) {
        return Ok(());
    }
    let detail = match status {
        Some(s) => format!("the target answered {s}"),
        None => "the target could not be reached".to_string(),
    };
    Err((
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"Error": format!("Webhook test failed: {detail}"), "ErrorType": "WebhookTestFailed"})),
    )
        .into_response())
}

async fn archive(
    State(inner): Shared,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if !authorized(&inner, &headers) {
        return refused(&inner);
    }
    let id: i64 = q
        .get("$filter")
        .and_then(|f| f.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let rows: Vec<Value> = inner
        .usage
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .into_iter()
        .collect();
    if rows.is_empty() && inner.sparse.load(Ordering::Relaxed) {
        // A row of nothing, as `$select` leaves it.
        return axum::Json(json!([{"webhook_usage.total_calls": null, "webhook_usage.total_errors": null,
            "webhook_usage.consecutive_errors": null, "webhook_usage.last_error": null, "PrimaryKey": null}]))
        .into_response();
    }
    axum::Json(rows).into_response()
}
