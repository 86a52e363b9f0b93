//! Test doubles for the operator: `FakeApiServer`, an in-memory Kubernetes API behind
//! tower-test's mock service that answers by route and records every call; and
//! `FakeSessionPod`, a real HTTP server standing in for a session pod.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};
use wagate_api::crd::WhatsAppSession;
use wagate_http::pod_client::PodClient;
use wagate_operator::config::OperatorConfig;
use wagate_operator::metrics::Metrics;
use wagate_operator::reconcile::Context;

pub const TOKEN: &str = "internal-token-for-tests";

/// One call the operator made to the API server.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

/// What the fake API answers for the pod and for failures.
#[derive(Default)]
pub struct Cluster {
    /// The session pod, when one exists.
    pub pod: Option<Value>,
    /// The session's StatefulSet and volume claim, once they exist.
    pub statefulset: Option<Value>,
    pub claim: Option<Value>,
    /// Path fragments that answer `500`.
    pub failing: Vec<String>,
}

pub struct FakeApiServer {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub cluster: Arc<Mutex<Cluster>>,
}

impl FakeApiServer {
    pub fn start() -> (kube::Client, Self) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let cluster: Arc<Mutex<Cluster>> = Arc::default();
        let (log, state) = (calls.clone(), cluster.clone());
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let path = parts.uri.path().to_string();
                let query = parts.uri.query().unwrap_or_default().to_string();
                let call = Call {
                    method: parts.method.clone(),
                    path,
                    query,
                    body,
                };
                log.lock().unwrap().push(call.clone());
                let (status, answer) = answer(&call, &state.lock().unwrap());
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                respond.send_response(response);
            }
        });
        (
            kube::Client::new(service, "default"),
            Self { calls, cluster },
        )
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    /// The calls whose method matches and whose path ends with `suffix`.
    pub fn find(&self, method: Method, suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.ends_with(suffix))
            .collect()
    }

    pub fn set_pod(&self, pod: Option<Value>) {
        self.cluster.lock().unwrap().pod = pod;
    }

    pub fn fail(&self, fragment: &str) {
        self.cluster.lock().unwrap().failing.push(fragment.into());
    }
}

fn found(object: &Option<Value>) -> (StatusCode, Value) {
    match object {
        Some(object) => (StatusCode::OK, object.clone()),
        None => (StatusCode::NOT_FOUND, status(404, "NotFound")),
    }
}

fn status(code: u16, reason: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason,
            "reason": reason, "code": code })
}

/// The RBAC rule a request needs: (API group, resource[/subresource], verb).
pub fn rule_of(call: &Call) -> (String, String, String) {
    let parts: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let (group, rest): (&str, &[&str]) = match parts.first() {
        Some(&"apis") => (
            parts.get(1).copied().unwrap_or_default(),
            &parts[3.min(parts.len())..],
        ),
        _ => ("", &parts[2.min(parts.len())..]),
    };
    // Skip `namespaces/<ns>`; then resource, name, subresource.
    let rest = match rest {
        ["namespaces", _, tail @ ..] => tail,
        other => other,
    };
    let resource = match rest {
        [resource, _, sub, ..] => format!("{resource}/{sub}"),
        [resource, ..] => resource.to_string(),
        [] => String::new(),
    };
    let named = rest.len() >= 2;
    let verb = match call.method {
        Method::GET if named => "get",
        Method::GET if call.query.contains("watch=true") => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PATCH => "patch",
        Method::PUT => "update",
        Method::DELETE => "delete",
        _ => "unknown",
    };
    (group.to_string(), resource, verb.to_string())
}

fn answer(call: &Call, cluster: &Cluster) -> (StatusCode, Value) {
    // Like a cluster with the chart's RBAC: a call not listed in `OPERATOR_CALLS` is refused.
    let (group, resource, verb) = rule_of(call);
    if !wagate_api::rbac::OPERATOR_CALLS.contains(&(
        group.as_str(),
        resource.as_str(),
        verb.as_str(),
    )) {
        panic!(
            "the operator called {verb} {group}/{resource}, which OPERATOR_CALLS (and so RBAC) does not grant"
        );
    }
    if cluster
        .failing
        .iter()
        .any(|f| call.path.contains(f.as_str()))
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            status(500, "InternalError"),
        );
    }
    match call.method {
        Method::GET if call.path.contains("/pods/") => match &cluster.pod {
            Some(pod) => (StatusCode::OK, pod.clone()),
            None => (StatusCode::NOT_FOUND, status(404, "NotFound")),
        },
        Method::GET if call.path.contains("/statefulsets/") => found(&cluster.statefulset),
        Method::GET if call.path.contains("/persistentvolumeclaims/") => found(&cluster.claim),
        Method::DELETE => (StatusCode::OK, status(200, "Success")),
        Method::POST => (StatusCode::CREATED, call.body.clone()),
        // A status merge patch answers with the whole resource, as the API does.
        _ if call.path.ends_with("/status") => {
            let mut object = session_json(&[]);
            object["status"] = call.body["status"].clone();
            (StatusCode::OK, object)
        }
        // Applies and patches: echo what was sent, as a server that accepted it would.
        _ if call.body.is_object() => (StatusCode::OK, call.body.clone()),
        // JSON patches (finalizers) answer with a minimal object.
        _ => (StatusCode::OK, session_json(&[])),
    }
}

/// A `WhatsAppSession` named `demo` in `team-a` as the API would return it.
pub fn session_json(finalizers: &[&str]) -> Value {
    json!({
        "apiVersion": "wagate.dev/v1alpha1", "kind": "WhatsAppSession",
        "metadata": { "name": "demo", "namespace": "team-a", "uid": "1b7c-uid", "generation": 2,
                      "finalizers": finalizers },
        "spec": { "sessionId": "Demo_1" }
    })
}

pub fn session(spec: Value, finalizers: &[&str]) -> Arc<WhatsAppSession> {
    let mut value = session_json(finalizers);
    value["spec"] = spec;
    Arc::new(serde_json::from_value(value).unwrap())
}

pub fn deleting(mut session: WhatsAppSession) -> Arc<WhatsAppSession> {
    session.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    Arc::new(session)
}

/// A ready pod at `ip`.
pub fn ready_pod(ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "demo-0", "namespace": "team-a" },
        "status": { "podIP": ip, "conditions": [ { "type": "Ready", "status": "True" } ] }
    })
}

pub fn context(client: kube::Client, session_port: u16) -> Arc<Context> {
    let config = OperatorConfig {
        session_port,
        logout_timeout: Duration::from_millis(500),
        status_timeout: Duration::from_millis(500),
        ..OperatorConfig::default()
    };
    let recorder = kube::runtime::events::Recorder::new(
        client.clone(),
        kube::runtime::events::Reporter {
            controller: "wagate-operator".into(),
            instance: None,
        },
    );
    Arc::new(Context::new(
        client,
        config,
        PodClient::new(TOKEN.into()),
        Arc::new(Metrics::default()),
        recorder,
    ))
}

/// What the fake session pod saw and what it answers.
#[derive(Default)]
pub struct PodState {
    pub status: String,
    pub logouts: Vec<String>,
    pub pair_codes: Vec<String>,
    pub unauthorized: usize,
}

/// A real HTTP server on 127.0.0.1 that serves a session pod's status and logout.
pub struct FakeSessionPod {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<PodState>>,
}

impl FakeSessionPod {
    pub async fn start(status: &str) -> Self {
        let state = Arc::new(Mutex::new(PodState {
            status: status.into(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/v1/sessions/{id}", get(info))
            .route("/v1/sessions/{id}/logout", post(logout))
            .route("/v1/sessions/{id}/pair-code", post(pair_code))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    /// A socket that accepts connections and never answers: a hung pod.
    pub async fn hung() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        addr
    }
}

type Shared = State<Arc<Mutex<PodState>>>;

fn authorized(headers: &HeaderMap, state: &Mutex<PodState>) -> bool {
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    if !ok {
        state.lock().unwrap().unauthorized += 1;
    }
    ok
}

async fn info(
    State(state): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers, &state) {
        return (StatusCode::UNAUTHORIZED, Json(json!({})));
    }
    let status = state.lock().unwrap().status.clone();
    let connected = status == "connected";
    (
        StatusCode::OK,
        Json(json!({
            "sessionId": id, "status": status, "ready": connected, "qrAvailable": status == "qr",
            "phone": connected.then_some("971501234567"), "pushName": connected.then_some("Coach Ann"),
            "lastConnected": connected.then_some("2026-11-23T10:00:00Z"),
            "createdAt": "2026-11-23T09:00:00Z", "labels": {}
        })),
    )
}

async fn logout(
    State(state): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers, &state) {
        return (StatusCode::UNAUTHORIZED, Json(json!({})));
    }
    state.lock().unwrap().logouts.push(id);
    (StatusCode::OK, Json(json!({ "ok": true })))
}

/// Keys of a JSON object, for readable assertions.
pub fn keys(value: &Value) -> HashMap<String, Value> {
    value
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

async fn pair_code(
    State(state): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers, &state) {
        return (StatusCode::UNAUTHORIZED, Json(json!({})));
    }
    let mut state = state.lock().unwrap();
    state
        .pair_codes
        .push(body["phone"].as_str().unwrap_or_default().to_string());
    let expires = chrono::Utc::now() + chrono::Duration::seconds(120);
    let code = format!("ABCD-{:04}", state.pair_codes.len());
    (
        StatusCode::OK,
        Json(json!({ "code": code, "expiresAt": expires.to_rfc3339() })),
    )
}
