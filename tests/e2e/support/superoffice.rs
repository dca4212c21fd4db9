//! A stand-in for the SuperOffice REST API on loopback, answering with the documented
//! shapes: the Quote agent (`POST /api/v1/Agents/Quote/{method}`), `GET /api/v1/Sale/{id}`,
//! `GET /api/v1/Associate/{id}`, `GET /api/v1/Person/{id}`,
//! `GET /api/v1/User/currentPrincipal`, and the tenant state lookup
//! (`GET /api/state/{ContextIdentifier}`). Started [`SoApi::with_login`], it is SuperOffice's
//! login service too (`/login/...`, see [`super::so_login`]) and answers 401 to any call whose
//! ticket or access token that service did not issue or that has expired.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::so_login::Login;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ApiCall {
    pub at: Instant,
    pub path: String,
    pub body: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    data: HashMap<String, Value>,
    calls: Mutex<Vec<ApiCall>>,
    /// Statuses to answer the next API calls with, before answering normally.
    failures: Mutex<VecDeque<u16>>,
    always: Mutex<Option<u16>>,
    delay: Mutex<Duration>,
    addr: Mutex<Option<SocketAddr>>,
    login: Option<Arc<Login>>,
    /// Calls refused because their credential had expired, or was never issued.
    refused: Mutex<Vec<&'static str>>,
    /// Answer with every field herald does not need `null`, as .NET writes what is unset.
    sparse: bool,
}

pub struct SoApi {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

/// Three quotes on three sales: 1042 is a large order (120,000 NOK) from ACME AS owned by Jane
/// Doe, 1043 a small one from Initech AS owned by Per Olsen, who has no email address, and 1044
/// one from Globex AS owned by Jane Doe. The owners are associates whose persons carry `Emails`
/// (unordered, with `null`s, as the API sends them).
fn sample_data() -> HashMap<String, Value> {
    let mut d = HashMap::new();
    let mut put = |k: &str, v: Value| {
        d.insert(k.to_string(), v);
    };
    people(&mut put);
    for (quote, version, alt, sale, heading, total, (customer, owner, owner_name)) in [
        (
            1042,
            3001,
            4001,
            88231,
            "Server upgrade",
            120000.0,
            ("ACME AS", 37201, "Jane Doe"),
        ),
        (
            1043,
            3002,
            4002,
            88232,
            "Spare cables",
            5000.0,
            ("Initech AS", 37202, "Per Olsen"),
        ),
        (
            1044,
            3003,
            4003,
            88233,
            "Fleet renewal",
            48000.0,
            ("Globex AS", 37201, "Jane Doe"),
        ),
    ] {
        put(
            &format!("GetQuoteEntity/{quote}"),
            json!({"QuoteId": quote, "SaleId": sale, "ActiveQuoteVersionId": version, "AcceptedQuoteAlternativeId": 0}),
        );
        put(
            &format!("GetQuoteVersion/{version}"),
            json!({"QuoteVersionId": version, "QuoteId": quote, "Number": 3, "State": "Sent", "SentDate": "2026-11-18T10:00:00", "ExpirationDate": "2026-12-18T00:00:00", "ApprovedBy": "", "LikelyQuoteAlternativeId": alt}),
        );
        put(
            &format!("GetQuoteAlternatives/{version}"),
            json!([{"QuoteAlternativeId": alt, "Name": "Standard", "SubTotal": total * 0.8, "DiscountAmount": 0.0, "VAT": total * 0.2, "TotalPrice": total}]),
        );
        put(
            &format!("GetQuoteLines/{alt}"),
            json!([{"QuoteLineId": 1, "Name": heading, "Quantity": 1.0, "TotalPrice": total}]),
        );
        put(
            &format!("Sale/{sale}"),
            json!({
                "SaleId": sale, "Heading": heading, "Amount": total, "Status": "Open",
                "Currency": {"Id": 1, "Value": "NOK", "Tooltip": "Norwegian kroner"},
                "Contact": {"ContactId": 4211, "Name": customer},
                "Person": {"PersonId": 9120, "FullName": "Kari Nordmann"},
                "Associate": {"AssociateId": owner, "FullName": owner_name}
            }),
        );
    }
    d
}

/// `GET v1/Associate/{id}` and `GET v1/Person/{id}`: Jane Doe's person has a work address
/// (rank 1) after a private one (rank 2); Per Olsen's has none (`Emails: null`); the sales'
/// contact person Kari Nordmann has one.
fn people(put: &mut impl FnMut(&str, Value)) {
    for (associate, person, name) in [(37201, 6001, "Jane Doe"), (37202, 6002, "Per Olsen")] {
        put(
            &format!("Associate/{associate}"),
            json!({"AssociateId": associate, "Name": name.to_uppercase(), "PersonId": person,
                   "FullName": name, "FormalName": null, "Type": "Employee", "Deleted": false,
                   "UserName": null, "EjUserId": null}),
        );
    }
    put(
        "Person/6001",
        json!({"PersonId": 6001, "FullName": "Jane Doe", "Emails": [
            {"Value": "jane@private.test", "StrippedValue": "jane@private.test", "Description": null, "Rank": 2},
            {"Value": null, "StrippedValue": null, "Description": null, "Rank": 0},
            {"Value": "jane.doe@example.com", "StrippedValue": "jane.doe@example.com", "Description": "Work", "Rank": 1}
        ]}),
    );
    put(
        "Person/6002",
        json!({"PersonId": 6002, "FullName": "Per Olsen", "Emails": null}),
    );
    put(
        "Person/9120",
        json!({"PersonId": 9120, "FullName": "Kari Nordmann", "Emails": [
            {"Value": "kari@partner.example", "StrippedValue": "kari@partner.example", "Description": null, "Rank": 1}
        ]}),
    );
}

/// The same answers with every field a message does not use `null`, and fields SuperOffice has
/// that the sample leaves out, `null` too.
fn sparse(mut data: HashMap<String, Value>) -> HashMap<String, Value> {
    for (key, value) in data.iter_mut() {
        let nulls: &[&str] = match key.split('/').next().unwrap_or("") {
            "GetQuoteEntity" => &["AcceptedQuoteAlternativeId", "Description", "PosComment"],
            "GetQuoteVersion" => &[
                "SentDate",
                "ExpirationDate",
                "ApprovedBy",
                "ApprovedRegisteredBy",
            ],
            "Sale" => &[
                "Person",
                "Associate",
                "Description",
                "Project",
                "SaleType",
                "Stakeholders",
            ],
            _ => &["Description", "ERPProductKey"],
        };
        let objects: Vec<&mut serde_json::Map<String, Value>> = match value {
            Value::Object(o) => vec![o],
            Value::Array(items) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
            _ => Vec::new(),
        };
        for o in objects {
            for name in nulls {
                o.insert(name.to_string(), Value::Null);
            }
        }
    }
    data
}

impl SoApi {
    pub async fn start() -> SoApi {
        SoApi::serve(Inner {
            data: sample_data(),
            ..Inner::default()
        })
        .await
    }

    /// The API with SuperOffice's login service beside it, whose credentials it demands.
    pub async fn with_login(login: Login, sparse_answers: bool) -> SoApi {
        let data = match sparse_answers {
            true => sparse(sample_data()),
            false => sample_data(),
        };
        SoApi::serve(Inner {
            data,
            login: Some(Arc::new(login)),
            sparse: sparse_answers,
            ..Inner::default()
        })
        .await
    }

    async fn serve(mut inner: Inner) -> SoApi {
        inner.data.insert("principal".into(), me(inner.sparse));
        let inner = Arc::new(inner);
        let app = Router::new()
            .route("/api/v1/Agents/Quote/{method}", post(agent))
            .route("/api/v1/{entity}/{id}", get(entity))
            .route("/api/v1/User/currentPrincipal", get(principal))
            .route("/api/state/{tenant}", get(state))
            .route(
                "/login/api/PartnerSystemUser/Authenticate",
                post(authenticate),
            )
            .route("/login/.well-known/jwks", get(jwks))
            .route("/login/common/oauth/tokens", post(tokens))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        *inner.addr.lock().unwrap() = Some(addr);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SoApi { addr, inner }
    }

    pub fn root(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SuperOffice's login service, beside the API.
    pub fn login_url(&self) -> String {
        format!("http://{}/login", self.addr)
    }

    pub fn login(&self) -> &Login {
        self.inner.login.as_deref().expect("started with_login")
    }

    /// Why calls were refused: `expired` or `unknown`, one per call.
    pub fn refused(&self) -> Vec<&'static str> {
        self.inner.refused.lock().unwrap().clone()
    }

    pub fn fail_next(&self, statuses: &[u16]) {
        self.inner.failures.lock().unwrap().extend(statuses);
    }

    pub fn always(&self, status: Option<u16>) {
        *self.inner.always.lock().unwrap() = status;
    }

    pub fn slow(&self, delay: Duration) {
        *self.inner.delay.lock().unwrap() = delay;
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// How many calls went to paths ending with `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.path.ends_with(suffix))
            .count()
    }
}

async fn answer(
    inner: &Inner,
    path: String,
    body: String,
    headers: &HeaderMap,
    key: Option<String>,
) -> Response {
    inner.calls.lock().unwrap().push(ApiCall {
        at: Instant::now(),
        path,
        body,
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string()),
    });
    if let Some(login) = &inner.login
        && let Err(why) = login.check(headers)
    {
        inner.refused.lock().unwrap().push(why);
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"Error": format!("Ticket {why}"), "ErrorType": "SoCredentialsException"}),
            ),
        )
            .into_response();
    }
    let delay = *inner.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = inner
        .failures
        .lock()
        .unwrap()
        .pop_front()
        .or(*inner.always.lock().unwrap());
    if let Some(status) = status {
        return (
            StatusCode::from_u16(status).unwrap(),
            "{\"Error\":\"stand-in failure\"}",
        )
            .into_response();
    }
    let value = key
        .and_then(|k| inner.data.get(&k).cloned())
        .unwrap_or(Value::Null);
    ([("content-type", "application/json")], value.to_string()).into_response()
}

async fn agent(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let arg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let id = arg
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_i64);
    let key = id.map(|id| format!("{method}/{id}"));
    answer(
        &inner,
        format!("/api/v1/Agents/Quote/{method}"),
        body,
        &headers,
        key,
    )
    .await
}

/// `GET v1/Sale/{id}`, `GET v1/Associate/{id}`, `GET v1/Person/{id}`.
async fn entity(
    State(inner): State<Arc<Inner>>,
    Path((entity, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Response {
    answer(
        &inner,
        format!("/api/v1/{entity}/{id}"),
        String::new(),
        &headers,
        Some(format!("{entity}/{id}")),
    )
    .await
}

async fn state(State(inner): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    inner.calls.lock().unwrap().push(ApiCall {
        at: Instant::now(),
        path: format!("/api/state/{tenant}"),
        body: String::new(),
        authorization: None,
    });
    let addr = inner.addr.lock().unwrap().unwrap();
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    axum::Json(json!({"ContextIdentifier": tenant, "Api": format!("http://{addr}/api"), "ValidUntil": until.to_string(), "IsRunning": true})).into_response()
}

async fn principal(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let path = "/api/v1/User/currentPrincipal".to_string();
    answer(
        &inner,
        path,
        String::new(),
        &headers,
        Some("principal".into()),
    )
    .await
}

/// Who the API says herald is: a system user, most fields unset.
fn me(sparse: bool) -> Value {
    json!({
        "UserType": "SystemUser", "Associate": if sparse { Value::Null } else { json!("HERALD") },
        "AssociateId": 7, "IsPerson": false, "FullName": "herald (system user)",
        "EMailAddress": null, "Licenses": null, "FunctionRights": null,
        "ProvidedCredentials": null, "SecondaryGroups": null,
        "DatabaseContextIdentifier": super::so_login::TENANT, "UserName": null
    })
}

async fn authenticate(State(inner): State<Arc<Inner>>, body: String) -> Response {
    let api = format!("http://{}/api", inner.addr.lock().unwrap().unwrap());
    axum::Json(inner.login.as_ref().unwrap().authenticate(&body, &api)).into_response()
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.login.as_ref().unwrap().jwks()).into_response()
}

async fn tokens(State(inner): State<Arc<Inner>>, body: String) -> Response {
    let (status, answer) = inner.login.as_ref().unwrap().tokens(&body);
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}
