//! `FakeKube`: an in-memory Kubernetes API server over real HTTP, for testing the router's
//! cluster backend as a separate process (it connects through a kubeconfig, like in a
//! cluster). It stores objects as JSON and implements what the router's client uses: list
//! and watch (with label selectors and resource versions), get, create, JSON merge patch
//! (also standing in for server-side apply), delete with finalizers, and `/status`.
//! The test plays the operator and the kubelet by editing objects through [`FakeKube`].
//! Every request is recorded as an [`ApiCall`], so tests can assert which calls a binary
//! makes (and the chart's RBAC can be checked against them).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Collection paths (`group/version/resource`, as in the URL without the namespace).
pub const SESSIONS: &str = "apis/wagate.dev/v1alpha1/whatsappsessions";
pub const PODS: &str = "api/v1/pods";
pub const SECRETS: &str = "api/v1/secrets";

/// One request the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The Kubernetes verb: list, watch, get, create, patch, update, delete.
    pub verb: String,
    /// `group/version/resource` (see [`SESSIONS`]), plus `/status` for the subresource.
    pub resource: String,
    pub namespace: String,
    pub name: Option<String>,
    /// Who called: the bearer token of its kubeconfig (see [`FakeKube::write_kubeconfig`]),
    /// so a test can check each component's calls against that component's RBAC.
    pub user: String,
}

impl ApiCall {
    /// As an RBAC rule sees it: (API group, resource[/subresource], verb).
    pub fn rule(&self) -> (String, String, String) {
        let parts: Vec<&str> = self.resource.split('/').collect();
        let (group, rest) = match parts.first() {
            Some(&"apis") => (parts.get(1).copied().unwrap_or_default(), parts.get(3..)),
            _ => ("", parts.get(2..)),
        };
        let resource = rest.map(|r| r.join("/")).unwrap_or_default();
        (group.to_string(), resource, self.verb.clone())
    }
}

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    collection: String,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<(String, String, String), Value>,
    history: Vec<Change>,
    calls: Vec<ApiCall>,
}

struct Shared {
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
}

/// The running fake; the server stops when this is dropped.
pub struct FakeKube {
    pub base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeKube {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            changes: broadcast::channel(4096).0,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake kube API");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            shared,
            server,
        }
    }

    /// Starts the fake on a runtime of its own thread, so it keeps answering while the
    /// caller blocks (e.g. waiting for a spawned process to print its address).
    pub fn start_detached() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake kube runtime");
            runtime.block_on(async move {
                let _ = tx.send(Self::start().await);
                std::future::pending::<()>().await
            });
        });
        rx.recv().expect("fake kube API started")
    }

    /// A kubeconfig pointing at this server with `namespace` as the default; the calls
    /// made with it are recorded as `user`'s (its token). Written to `dir/kubeconfig-<user>`.
    pub fn write_kubeconfig(
        &self,
        dir: &std::path::Path,
        namespace: &str,
        user: &str,
    ) -> std::path::PathBuf {
        let path = dir.join(format!("kubeconfig-{user}"));
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\nusers:\n- name: fake\n  user:\n    token: {user}\n",
            self.base
        );
        std::fs::write(&path, config).expect("write kubeconfig");
        path
    }

    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        store
            .objects
            .get(&key(collection, namespace, name))
            .cloned()
    }

    /// Every object of a collection in a namespace.
    pub fn list(&self, collection: &str, namespace: &str) -> Vec<Value> {
        let store = self.shared.store.lock().unwrap();
        store
            .objects
            .iter()
            .filter(|((c, ns, _), _)| c == collection && ns == namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Creates or replaces an object, as a controller or the kubelet would.
    pub fn put(&self, collection: &str, namespace: &str, object: Value) {
        let name = object["metadata"]["name"]
            .as_str()
            .expect("object needs metadata.name")
            .to_string();
        let mut store = self.shared.store.lock().unwrap();
        let existing = store
            .objects
            .get(&key(collection, namespace, &name))
            .cloned();
        let kind = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let object = stamp(&mut store, object, existing.as_ref(), namespace);
        commit(
            &self.shared,
            &mut store,
            collection,
            namespace,
            kind,
            object,
        );
    }

    /// Merges `patch` into an existing object (e.g. `{"status": {...}}`).
    pub fn merge(&self, collection: &str, namespace: &str, name: &str, patch: Value) {
        let mut store = self.shared.store.lock().unwrap();
        let existing = store
            .objects
            .get(&key(collection, namespace, name))
            .cloned()
            .unwrap_or_else(|| panic!("no {collection} {namespace}/{name}"));
        let mut object = existing.clone();
        merge_patch(&mut object, &patch);
        let object = stamp(&mut store, object, Some(&existing), namespace);
        commit(
            &self.shared,
            &mut store,
            collection,
            namespace,
            "MODIFIED",
            object,
        );
    }

    /// Removes an object outright (a pod that is gone).
    pub fn remove(&self, collection: &str, namespace: &str, name: &str) {
        let mut store = self.shared.store.lock().unwrap();
        if let Some(object) = store.objects.remove(&key(collection, namespace, name)) {
            store.rv += 1;
            let rv = store.rv;
            record(
                &self.shared,
                &mut store,
                rv,
                collection,
                namespace,
                "DELETED",
                object,
            );
        }
    }

    /// The calls answered so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.shared.store.lock().unwrap().calls.clone()
    }
}

fn key(collection: &str, namespace: &str, name: &str) -> (String, String, String) {
    (collection.into(), namespace.into(), name.into())
}

/// Sets the server-owned metadata: resource version, uid, creation time, generation.
fn stamp(store: &mut Store, mut object: Value, existing: Option<&Value>, ns: &str) -> Value {
    store.rv += 1;
    let meta = &mut object["metadata"];
    meta["namespace"] = json!(ns);
    meta["resourceVersion"] = json!(store.rv.to_string());
    let (uid, created, generation) = match existing {
        Some(old) => {
            let spec_changed = old.get("spec") != object.get("spec");
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            (
                old["metadata"]["uid"].clone(),
                old["metadata"]["creationTimestamp"].clone(),
                generation + i64::from(spec_changed),
            )
        }
        None => (
            json!(format!("uid-{}", store.rv)),
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            1,
        ),
    };
    let meta = &mut object["metadata"];
    meta["uid"] = uid;
    meta["creationTimestamp"] = created;
    meta["generation"] = json!(generation);
    object
}

/// Stores an object (or, when it is being deleted and has no finalizers left, removes it).
fn commit(shared: &Shared, store: &mut Store, c: &str, ns: &str, kind: &'static str, o: Value) {
    let name = o["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rv = store.rv;
    let finalizers_left = o["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if o["metadata"].get("deletionTimestamp").is_some() && !finalizers_left {
        store.objects.remove(&key(c, ns, &name));
        record(shared, store, rv, c, ns, "DELETED", o);
        return;
    }
    store.objects.insert(key(c, ns, &name), o.clone());
    record(shared, store, rv, c, ns, kind, o);
}

fn record(
    shared: &Shared,
    store: &mut Store,
    rv: u64,
    c: &str,
    ns: &str,
    kind: &'static str,
    o: Value,
) {
    let change = Change {
        rv,
        collection: c.into(),
        namespace: ns.into(),
        kind,
        object: o,
    };
    store.history.push(change.clone());
    let _ = shared.changes.send(change);
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let target = target.as_object_mut().expect("object");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge_patch(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The parts of an API path: `/api/v1/namespaces/ns/pods/name/status`.
struct Target {
    collection: String,
    namespace: String,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match *parts.first()? {
        "api" => (parts.get(..2)?.join("/"), parts.get(2..)?),
        "apis" => (parts.get(..3)?.join("/"), parts.get(3..)?),
        _ => return None,
    };
    match rest {
        ["namespaces", ns, resource, tail @ ..] => Some(Target {
            collection: format!("{prefix}/{resource}"),
            namespace: ns.to_string(),
            name: tail.first().map(|n| n.to_string()),
            status: tail.get(1) == Some(&"status"),
        }),
        _ => None,
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `k=v`, `k!=v` and bare `k` (exists) terms, comma-separated.
fn matches_selector(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k].as_str() != Some(v)
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            labels[k].as_str() == Some(v)
        } else {
            labels.get(term).is_some()
        }
    })
}

fn status_error(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": reason, "message": message, "code": code.as_u16()
    });
    (code, axum::Json(body)).into_response()
}

fn list_kind(collection: &str) -> String {
    match collection.rsplit('/').next() {
        Some("whatsappsessions") => "WhatsAppSessionList".into(),
        Some("pods") => "PodList".into(),
        Some("secrets") => "SecretList".into(),
        _ => "List".into(),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(target) = parse_path(parts.uri.path()) else {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("fake kube API does not serve {}", parts.uri.path()),
        );
    };
    let query = parts.uri.query().unwrap_or("").to_string();
    let watching = matches!(query_param(&query, "watch").as_deref(), Some("true" | "1"));
    let verb = match (&parts.method, &target.name) {
        (&Method::GET, None) if watching => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, None) => "create",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::PUT, Some(_)) => "update",
        (&Method::DELETE, Some(_)) => "delete",
        _ => {
            return status_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{} {}", parts.method, parts.uri.path()),
            );
        }
    };
    shared.store.lock().unwrap().calls.push(ApiCall {
        verb: verb.into(),
        resource: if target.status {
            format!("{}/status", target.collection)
        } else {
            target.collection.clone()
        },
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        user: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string(),
    });
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let selector = query_param(&query, "labelSelector");
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let style = match (verb, content_type) {
        ("update", _) => PatchStyle::Replace,
        (_, "application/apply-patch+yaml") => PatchStyle::Apply,
        (_, "application/json-patch+json") => PatchStyle::Json,
        _ => PatchStyle::Merge,
    };
    match verb {
        "watch" => watch(&shared, &target, &query, selector),
        "list" => list(&shared, &target, selector.as_deref()),
        "get" => get(&shared, &target),
        "create" => create(&shared, &target, &body),
        "patch" | "update" => patch(&shared, &target, &body, style),
        _ => delete(&shared, &target),
    }
}

fn list(shared: &Shared, target: &Target, selector: Option<&str>) -> Response {
    let store = shared.store.lock().unwrap();
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|((c, ns, _), o)| {
            *c == target.collection && *ns == target.namespace && matches_selector(o, selector)
        })
        .map(|(_, o)| o.clone())
        .collect();
    let api_version = target
        .collection
        .trim_start_matches("apis/")
        .trim_start_matches("api/")
        .rsplit_once('/')
        .map(|(gv, _)| gv.to_string())
        .unwrap_or_default();
    axum::Json(json!({
        "apiVersion": api_version,
        "kind": list_kind(&target.collection),
        "metadata": { "resourceVersion": store.rv.to_string() },
        "items": items,
    }))
    .into_response()
}

fn get(shared: &Shared, target: &Target) -> Response {
    let name = target.name.clone().unwrap_or_default();
    let store = shared.store.lock().unwrap();
    match store
        .objects
        .get(&key(&target.collection, &target.namespace, &name))
    {
        Some(o) => axum::Json(o.clone()).into_response(),
        None => not_found(target, &name),
    }
}

fn not_found(target: &Target, name: &str) -> Response {
    status_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{} \"{name}\" not found", target.collection),
    )
}

fn create(shared: &Shared, target: &Target, body: &Bytes) -> Response {
    let Ok(object) = serde_json::from_slice::<Value>(body) else {
        return status_error(StatusCode::BAD_REQUEST, "BadRequest", "invalid JSON".into());
    };
    let Some(name) = object["metadata"]["name"].as_str().map(String::from) else {
        return status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name is required".into(),
        );
    };
    let mut store = shared.store.lock().unwrap();
    if store
        .objects
        .contains_key(&key(&target.collection, &target.namespace, &name))
    {
        return status_error(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", target.collection),
        );
    }
    let object = stamp(&mut store, object, None, &target.namespace);
    commit(
        shared,
        &mut store,
        &target.collection,
        &target.namespace,
        "ADDED",
        object.clone(),
    );
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

/// How a `PATCH`/`PUT` body changes the object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PatchStyle {
    Replace,
    /// RFC 7386 merge patch.
    Merge,
    /// RFC 6902 JSON patch (kube-runtime's finalizer helper uses it, with `test` ops).
    Json,
    /// Server-side apply, approximated: create when missing, else merge.
    Apply,
}

fn patch(shared: &Shared, target: &Target, body: &Bytes, style: PatchStyle) -> Response {
    let name = target.name.clone().unwrap_or_default();
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return status_error(StatusCode::BAD_REQUEST, "BadRequest", "invalid JSON".into());
    };
    let mut store = shared.store.lock().unwrap();
    let k = key(&target.collection, &target.namespace, &name);
    let Some(existing) = store.objects.get(&k).cloned() else {
        if style == PatchStyle::Apply && !target.status {
            let mut object = patch;
            object["metadata"]["name"] = json!(name);
            let object = stamp(&mut store, object, None, &target.namespace);
            let (c, ns) = (&target.collection, &target.namespace);
            commit(shared, &mut store, c, ns, "ADDED", object.clone());
            return (StatusCode::CREATED, axum::Json(object)).into_response();
        }
        return not_found(target, &name);
    };
    let mut object = existing.clone();
    if style == PatchStyle::Json {
        // The API server takes `test` of a missing field against `null` as passing (what
        // kube-runtime's finalizer helper sends first); the json-patch crate does not.
        let mut patch = patch;
        if let Some(operations) = patch.as_array_mut() {
            operations.retain(|op| {
                let missing_is_null = op["op"] == "test"
                    && op["value"].is_null()
                    && op["path"]
                        .as_str()
                        .is_some_and(|p| object.pointer(p).is_none_or(Value::is_null));
                !missing_is_null
            });
        }
        let Ok(operations) = serde_json::from_value::<json_patch::Patch>(patch) else {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "invalid JSON patch".into(),
            );
        };
        if let Err(e) = json_patch::patch(&mut object, &operations) {
            return status_error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string());
        }
        return modify(shared, &mut store, target, object, &existing);
    }
    match (style == PatchStyle::Replace, target.status) {
        (true, _) => object = patch,
        (false, true) => merge_patch(
            &mut object["status"],
            patch.get("status").unwrap_or(&Value::Null),
        ),
        (false, false) => {
            // The status subresource is only written through `/status`.
            let mut patch = patch;
            if let Some(p) = patch.as_object_mut() {
                p.remove("status");
            }
            merge_patch(&mut object, &patch);
        }
    }
    modify(shared, &mut store, target, object, &existing)
}

fn delete(shared: &Shared, target: &Target) -> Response {
    let name = target.name.clone().unwrap_or_default();
    let mut store = shared.store.lock().unwrap();
    let k = key(&target.collection, &target.namespace, &name);
    let Some(existing) = store.objects.get(&k).cloned() else {
        return not_found(target, &name);
    };
    let mut object = existing.clone();
    if object["metadata"].get("deletionTimestamp").is_none() {
        object["metadata"]["deletionTimestamp"] =
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    modify(shared, &mut store, target, object, &existing)
}

/// Stores a changed object (server metadata stamped) and answers with it.
fn modify(shared: &Shared, store: &mut Store, target: &Target, o: Value, old: &Value) -> Response {
    let object = stamp(store, o, Some(old), &target.namespace);
    let (c, ns) = (&target.collection, &target.namespace);
    commit(shared, store, c, ns, "MODIFIED", object.clone());
    axum::Json(object).into_response()
}

/// Replays the changes after `resourceVersion`, then streams new ones as JSON lines.
fn watch(shared: &Arc<Shared>, target: &Target, query: &str, selector: Option<String>) -> Response {
    let since: u64 = query_param(query, "resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let (collection, namespace) = (target.collection.clone(), target.namespace.clone());
    let relevant = move |change: &Change| {
        change.rv > since
            && change.collection == collection
            && change.namespace == namespace
            && matches_selector(&change.object, selector.as_deref())
    };
    let (backlog, live) = {
        let store = shared.store.lock().unwrap();
        let backlog: Vec<Change> = store
            .history
            .iter()
            .filter(|c| relevant(c))
            .cloned()
            .collect();
        (backlog, shared.changes.subscribe())
    };
    let last_replayed = backlog.last().map(|c| c.rv).unwrap_or(0);
    let line = |change: &Change| {
        let mut line = serde_json::to_vec(&json!({ "type": change.kind, "object": change.object }))
            .expect("JSON");
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    };
    let first = futures::stream::iter(backlog.iter().map(line).collect::<Vec<_>>());
    let rest = futures::stream::unfold(live, move |mut live| {
        let relevant = relevant.clone();
        async move {
            loop {
                match live.recv().await {
                    Ok(change) if change.rv > last_replayed && relevant(&change) => {
                        return Some((line(&change), live));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    use futures::StreamExt;
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(first.chain(rest)))
        .expect("watch response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({ "a": 1, "b": { "c": 2, "d": 3 } });
        merge_patch(&mut doc, &json!({ "a": null, "b": { "c": 5 }, "e": [1] }));
        assert_eq!(doc, json!({ "b": { "c": 5, "d": 3 }, "e": [1] }));
    }

    #[test]
    fn paths_name_collection_namespace_and_object() {
        let t = parse_path("/apis/wagate.dev/v1alpha1/namespaces/ns/whatsappsessions/x/status")
            .unwrap();
        assert_eq!(
            (
                t.collection.as_str(),
                t.namespace.as_str(),
                t.name.as_deref(),
                t.status
            ),
            (SESSIONS, "ns", Some("x"), true)
        );
        let t = parse_path("/api/v1/namespaces/ns/pods").unwrap();
        assert_eq!((t.collection.as_str(), t.name), (PODS, None));
    }

    #[test]
    fn calls_map_to_rbac_rules() {
        let call = ApiCall {
            verb: "patch".into(),
            resource: format!("{SESSIONS}/status"),
            namespace: "ns".into(),
            name: Some("x".into()),
            user: "router".into(),
        };
        let rule = call.rule();
        assert_eq!(
            (rule.0.as_str(), rule.1.as_str(), rule.2.as_str()),
            ("wagate.dev", "whatsappsessions/status", "patch")
        );
        let pods = ApiCall {
            verb: "list".into(),
            resource: PODS.into(),
            namespace: "ns".into(),
            name: None,
            user: "router".into(),
        };
        assert_eq!(pods.rule(), ("".into(), "pods".into(), "list".into()));
    }

    #[test]
    fn selectors_match_labels() {
        let pod = json!({ "metadata": { "labels": { "a": "1", "b": "2" } } });
        assert!(matches_selector(&pod, Some("a=1,b")));
        assert!(matches_selector(&pod, Some("a==1")));
        assert!(!matches_selector(&pod, Some("a=1,c")));
        assert!(!matches_selector(&pod, Some("b!=2")));
        assert_eq!(percent_decode("a%3D1%2Cb"), "a=1,b");
    }
}
