//! The gateway as an attacker meets it: API callers, senders and URLs are untrusted. Each
//! test drives the real router binary (simulator engine, the shipped egress default unless
//! it says otherwise) over HTTP and asserts what the attacker would notice.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{Api, KEY, Process, Router, wait_until};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The shipped egress policy: the harness's loopback allowance removed.
const SHIPPED_EGRESS: (&str, &str) = ("WAGATE_EGRESS_ALLOW_CIDRS", "");

fn router_with_env(home: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Router {
    let mut args: Vec<String> = vec!["--data-dir".into(), home.to_string_lossy().into()];
    args.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--engine",
            "simulator",
            "--send-interval-ms",
            "0",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    if !extra.contains(&"--api-keys-file") {
        args.extend(["--api-key".to_string(), KEY.to_string()]);
    }
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let process = Process::start_with_env(crate::support::BIN, args, env);
    let api = Api::new(&process.base, KEY);
    Router { process, api }
}

/// An HTTP server that counts every request it gets: the target an attacker wants reached.
#[derive(Clone)]
struct Target {
    base: String,
    hits: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize)]
struct To {
    to: String,
}

impl Target {
    async fn start(ip: &str) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/file.png",
                get(|| async { ([("content-type", "image/png")], vec![7u8; 64]) }),
            )
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route(
                "/redirect",
                get(|Query(to): Query<To>| async move { Redirect::temporary(&to.to) }),
            )
            .route("/hook", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                hits.clone(),
                |State(hits): State<Arc<AtomicUsize>>,
                 request: axum::extract::Request,
                 next: axum::middleware::Next| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await.into_response()
                },
            ));
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .expect("bind target");
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}"),
            hits,
        }
    }

    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn media_send(url: &str) -> Value {
    json!({ "to": "971501234567", "media": { "type": "image", "url": url } })
}

async fn linked(api: &Api, id: &str) {
    let (status, body) = api.post("/v1/sessions", json!({ "sessionId": id })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.link(id, None).await;
}

/// Item 1: literal internal addresses in any spelling are refused at request time, for
/// media and webhooks, and nothing reaches them.
#[tokio::test]
async fn literal_internal_urls_are_refused_before_anything_is_fetched() {
    let target = Target::start("127.0.0.1").await;
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(home.path(), &[], &[SHIPPED_EGRESS]);
    let api = &router.api;
    linked(api, "ssrf").await;
    let port = target.port();
    for url in [
        format!("http://127.0.0.1:{port}/file.png"),
        format!("http://[::1]:{port}/file.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/file.png"),
        format!("http://2130706433:{port}/file.png"),
        format!("http://0x7f.0.0.1:{port}/file.png"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/file.png".to_string(),
        "http://[fd00:ec2::254]/latest".to_string(),
    ] {
        let (status, body) = api
            .post("/v1/sessions/ssrf/messages", media_send(&url))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["error"]["code"], "validation_error", "{url}");
        assert!(
            body["error"]["details"]["media.url"].is_string(),
            "{url}: {body}"
        );
        // The same through the send-by-body route.
        let mut by_body = media_send(&url);
        by_body["sessionId"] = json!("ssrf");
        assert_eq!(
            api.post("/v1/messages", by_body).await.0,
            StatusCode::BAD_REQUEST
        );
        let (status, body) = api
            .put(
                "/v1/sessions/ssrf/webhook",
                json!({ "url": url.replace("file.png", "hook") }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "webhook {url}: {body}");
        assert!(
            body["error"]["details"]["webhook.url"].is_string(),
            "{body}"
        );
    }
    let (status, _) = api
        .post(
            "/v1/sessions",
            json!({ "sessionId": "ssrf-2", "webhook": { "url": format!("http://127.0.0.1:{port}/hook") } }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "create with an internal webhook"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(target.hits(), 0, "the internal target was reached");
}

/// Item 1: a host name that resolves to loopback passes the literal check and is refused
/// when resolved: the message fails `egress_denied`, the webhook delivery is dead-lettered
/// with that reason, and neither error text carries the URL. Nothing reaches the target.
#[tokio::test]
async fn names_resolving_inside_fail_as_egress_denied() {
    let target = Target::start("127.0.0.1").await;
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(home.path(), &[], &[SHIPPED_EGRESS]);
    let api = &router.api;
    linked(api, "rebind").await;
    let url = format!("http://localhost:{}/file.png?token=s3cr3t", target.port());
    let (status, body) = api
        .post("/v1/sessions/rebind/messages", media_send(&url))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "egress_denied", "{body}");
    assert!(
        !body.to_string().contains("s3cr3t"),
        "the URL is echoed: {body}"
    );

    let hook = format!("http://localhost:{}/hook?token=s3cr3t", target.port());
    let (status, body) = api
        .put("/v1/sessions/rebind/webhook", json!({ "url": hook }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.post(
        "/v1/sessions/rebind/sandbox/inbound",
        json!({ "from": "971500000001", "text": "hi" }),
    )
    .await;
    let dead = wait_until(Duration::from_secs(5), || async {
        let (_, list) = api.get("/v1/sessions/rebind/webhook/dead-letters").await;
        list["deadLetters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    })
    .await;
    assert!(dead, "the delivery was not dead-lettered");
    let (_, list) = api.get("/v1/sessions/rebind/webhook/dead-letters").await;
    let reason = list["deadLetters"][0]["lastError"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("egress_denied"), "{reason}");
    assert!(!list.to_string().contains("s3cr3t"), "{list}");
    assert_eq!(target.hits(), 0, "the internal target was reached");
}

/// Item 1 and 5: with one address explicitly allowed, media from it is fetched (the guard
/// is not simply closed), a redirect from it to loopback is refused without reaching the
/// target, and a URL that keeps failing uses up its attempts instead of freezing the queue.
#[tokio::test]
async fn allowed_hosts_work_redirects_are_rechecked_and_failures_count() {
    let allowed = Target::start("127.0.0.2").await;
    let inside = Target::start("127.0.0.1").await;
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(
        home.path(),
        &["--send-retry-base-ms", "10"],
        &[("WAGATE_EGRESS_ALLOW_CIDRS", "127.0.0.2/32")],
    );
    let api = &router.api;
    linked(api, "allow").await;

    let (status, body) = api
        .post(
            "/v1/sessions/allow/messages",
            media_send(&format!("{}/file.png", allowed.base)),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("sent")),
        "{body}"
    );

    let before = allowed.hits();
    let redirect = format!(
        "{}/redirect?to=http://127.0.0.1:{}/file.png",
        allowed.base,
        inside.port()
    );
    let (status, body) = api
        .post("/v1/sessions/allow/messages", media_send(&redirect))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "egress_denied", "{body}");
    assert_eq!(allowed.hits(), before + 1, "the first hop was fetched");
    assert_eq!(inside.hits(), 0, "the redirect target was reached");

    // A media URL that answers 500 every time: retried, counted, then failed; the text
    // queued behind it goes out.
    let (status, failing) = api
        .post(
            "/v1/sessions/allow/messages?async=true",
            media_send(&format!("{}/fail", allowed.base)),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{failing}");
    let (_, behind) = api
        .post(
            "/v1/sessions/allow/messages?async=true",
            json!({ "to": "971501234567", "text": "behind the failing media" }),
        )
        .await;
    let id = failing["id"].as_str().unwrap();
    let gave_up = wait_until(Duration::from_secs(20), || async {
        let (_, m) = api.get(&format!("/v1/sessions/allow/messages/{id}")).await;
        m["status"] == "failed"
    })
    .await;
    let (_, m) = api.get(&format!("/v1/sessions/allow/messages/{id}")).await;
    assert!(gave_up, "a failing media URL froze the queue: {m}");
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("gave up after 8 attempts"),
        "{m}"
    );
    let behind = behind["id"].as_str().unwrap();
    let sent = wait_until(Duration::from_secs(5), || async {
        let (_, m) = api
            .get(&format!("/v1/sessions/allow/messages/{behind}"))
            .await;
        m["status"] == "sent"
    })
    .await;
    assert!(sent, "the message behind it never went out");
}

fn read_only_keys(dir: &std::path::Path) -> String {
    let path = dir.join("keys.yaml");
    std::fs::write(
        &path,
        "keys:\n\
         - { name: admin, secret: admin-secret-0123456789, sessions: [\"*\"] }\n\
         - { name: auditor, secret: auditor-secret-0123456789, sessions: [\"*\"], readOnly: true }\n\
         - { name: acme, secret: acme-secret-0123456789, sessions: [\"acme-*\"] }\n",
    )
    .unwrap();
    path.to_string_lossy().into()
}

/// Opens an SSE stream and returns what arrived within `wait`.
async fn sse_for(api: &Api, path: &str, wait: Duration) -> String {
    let mut response = api
        .http
        .get(api.url(path))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    let _ = tokio::time::timeout(wait, async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    text
}

/// Item 4: a QR or pairing code is a credential; a read-only key gets 403 for it and
/// event streams without `qr` events. `/metrics` on the API port needs a key that sees
/// every session.
#[tokio::test]
async fn read_only_keys_never_see_a_qr_and_metrics_need_a_key() {
    let home = tempfile::tempdir().unwrap();
    let keys = read_only_keys(home.path());
    let router = router_with_env(home.path(), &["--api-keys-file", &keys], &[]);
    let admin = router.as_key("admin-secret-0123456789");
    let auditor = router.as_key("auditor-secret-0123456789");
    admin
        .post("/v1/sessions", json!({ "sessionId": "acme-qr" }))
        .await;
    admin
        .wait_status("acme-qr", "qr", Duration::from_secs(5))
        .await;

    assert_eq!(
        admin.get("/v1/sessions/acme-qr/qr?format=json").await.0,
        StatusCode::OK
    );
    let (status, body) = auditor.get("/v1/sessions/acme-qr/qr?format=json").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        auditor.get("/v1/sessions/acme-qr").await.0,
        StatusCode::OK,
        "reading the session is fine"
    );

    let seen = sse_for(
        &admin,
        "/v1/sessions/acme-qr/events",
        Duration::from_millis(500),
    )
    .await;
    assert!(seen.contains("event: qr"), "the admin sees the QR: {seen}");
    let seen = sse_for(
        &auditor,
        "/v1/sessions/acme-qr/events",
        Duration::from_millis(500),
    )
    .await;
    assert!(
        seen.contains("event: status") && !seen.contains("event: qr"),
        "{seen}"
    );
    // The all-sessions stream: a logout makes a new QR while both listen; only the admin
    // sees it (so the auditor's silence is the filter, not a missing event).
    let listen = |api: Api| {
        tokio::spawn(async move { sse_for(&api, "/v1/events", Duration::from_millis(1500)).await })
    };
    admin.link("acme-qr", None).await;
    let (auditor_stream, admin_stream) = (listen(auditor.clone()), listen(admin.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    admin.post("/v1/sessions/acme-qr/logout", json!({})).await;
    let seen = auditor_stream.await.unwrap();
    assert!(!seen.contains("event: qr"), "{seen}");
    let admin_seen = admin_stream.await.unwrap();
    assert!(
        admin_seen.contains("event: qr"),
        "no new QR event: {admin_seen}"
    );

    let metrics = |key: Option<&str>| {
        let api = admin.clone();
        let key = key.map(String::from);
        async move {
            let mut request = api.http.get(api.url("/metrics"));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(metrics(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        metrics(Some("acme-secret-0123456789")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        metrics(Some("admin-secret-0123456789")).await,
        StatusCode::OK
    );
}

/// Sends a request line as written (an HTTP client would normalise the path first).
fn raw_request(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// Item 4: scope is matched on the decoded id, and paths with dot segments are refused in
/// every spelling rather than resolved to another route.
#[tokio::test]
async fn dot_segments_and_encoded_ids_cannot_cross_routes_or_tenants() {
    let home = tempfile::tempdir().unwrap();
    let keys = read_only_keys(home.path());
    let router = router_with_env(home.path(), &["--api-keys-file", &keys], &[]);
    let admin = router.as_key("admin-secret-0123456789");
    admin
        .post("/v1/sessions", json!({ "sessionId": "a" }))
        .await;
    let base = &router.process.base;
    let hook = r#"{"url":"https://hooks.example.com/x"}"#;
    for path in [
        "/v1/sessions/a/x/../webhook",
        "/v1/sessions/a/x/%2e%2e/webhook",
        "/v1/sessions/a/x/%2E./webhook",
        "/v1/sessions/a/./webhook",
    ] {
        let (status, answer) = raw_request(base, "PUT", path, hook);
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("validation_error"), "{answer}");
    }
    let (_, info) = admin.get("/v1/sessions/a").await;
    assert_eq!(
        info["webhook"],
        Value::Null,
        "a refused path changed the webhook"
    );

    // `acme-*` may not reach `a` by encoding, nor `acme-x` be refused for its spelling.
    let acme = router.as_key("acme-secret-0123456789");
    admin
        .post("/v1/sessions", json!({ "sessionId": "acme-x" }))
        .await;
    assert_eq!(acme.get("/v1/sessions/acme%2Dx").await.0, StatusCode::OK);
    assert_eq!(acme.get("/v1/sessions/%61").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        acme.get("/v1/sessions/acme-%2F..%2Fa").await.0,
        StatusCode::BAD_REQUEST
    );
}

/// Item 5 and 6: `POST /v1/messages` takes what the per-session send takes; webhook
/// secrets shorter than 16 bytes are refused.
#[tokio::test]
async fn send_by_body_takes_large_media_and_short_secrets_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(home.path(), &[], &[]);
    let api = &router.api;
    linked(api, "big").await;
    let data = base64::engine::general_purpose::STANDARD.encode(vec![1u8; 3 * 1024 * 1024]);
    let (status, body) = api
        .post(
            "/v1/messages?async=true",
            json!({ "sessionId": "big", "to": "971501234567",
                    "media": { "type": "document", "data": data, "mimeType": "application/pdf" } }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let (status, body) = api
        .put(
            "/v1/sessions/big/webhook",
            json!({ "url": "https://hooks.example.com/x", "secret": "short" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["details"]["webhook.secret"].is_string(),
        "{body}"
    );
}

/// Delivers `messages` through the sandbox and returns the `media` of each
/// `message.received` event, in order.
async fn inbound_media_events(api: &Api, id: &str, messages: Vec<Value>) -> Vec<Value> {
    let mut stream = api
        .http
        .get(api.url(&format!("/v1/sessions/{id}/events")))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    let count = messages.len();
    for message in messages {
        let (status, body) = api
            .post(&format!("/v1/sessions/{id}/sandbox/inbound"), message)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut media = Vec::new();
    let mut buffer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while media.len() < count {
            let Ok(Some(chunk)) = stream.chunk().await else {
                break;
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            media = buffer
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .filter(|e| e["event"] == "message.received")
                .map(|e| e["data"]["media"].clone())
                .collect();
        }
    })
    .await;
    assert_eq!(media.len(), count, "{buffer}");
    media
}

/// Item 2: a session keeps at most its media quota, evicting the oldest media first; an
/// attachment larger than the quota is dropped and its message still delivered, saying
/// why.
#[tokio::test]
async fn media_beyond_the_quota_evicts_the_oldest_and_refusals_still_deliver() {
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(home.path(), &["--media-quota-mb", "1"], &[]);
    let api = &router.api;
    linked(api, "quota").await;
    let attachment = |from: &str, size: usize| {
        json!({ "from": from, "media": { "type": "document", "mimeType": "application/pdf",
            "data": base64::engine::general_purpose::STANDARD.encode(vec![9u8; size]) } })
    };
    let received = inbound_media_events(
        api,
        "quota",
        vec![
            attachment("971500000001", 600 * 1024),
            attachment("971500000002", 600 * 1024),
            attachment("971500000003", 2 * 1024 * 1024),
        ],
    )
    .await;
    let fetch = |media: &Value| {
        let url = media["url"].as_str().unwrap_or_default().to_string();
        let api = api.clone();
        async move { api.get(&url).await.0 }
    };
    assert_eq!(
        fetch(&received[0]).await,
        StatusCode::NOT_FOUND,
        "the oldest was kept"
    );
    assert_eq!(fetch(&received[1]).await, StatusCode::OK);
    let refused = &received[2];
    assert_eq!(refused["url"], Value::Null, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("quota"),
        "{refused}"
    );
    let kept: u64 = std::fs::read_dir(home.path().join("quota").join("media"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    assert!(
        kept <= 1024 * 1024,
        "{kept} bytes of media kept under a 1 MiB quota"
    );
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Item 6: media is kept per (chat, sender, id), so one sender cannot replace another's
/// by reusing an id; it is served as a download unless it is a plain image/audio/video,
/// never sniffed; the session's files are private to the gateway's user.
#[tokio::test]
async fn inbound_media_is_private_keyed_by_origin_and_never_rendered_as_a_page() {
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(home.path(), &[], &[]);
    let api = &router.api;
    linked(api, "media").await;
    let inbound = |from: &str, mime: &str, bytes: &[u8]| {
        json!({ "from": from, "id": "SAMEID1", "media": {
            "type": "document", "mimeType": mime,
            "data": base64::engine::general_purpose::STANDARD.encode(bytes) } })
    };
    let received = inbound_media_events(
        api,
        "media",
        vec![
            inbound("971500000001", "text/html", b"<script>alert(1)</script>"),
            inbound("971500000002", "image/png", b"png bytes"),
        ],
    )
    .await;
    let urls: Vec<String> = received
        .iter()
        .map(|m| m["url"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_ne!(urls[0], urls[1], "two senders' media under one key");

    let fetch = |url: String| {
        let api = api.clone();
        async move {
            let response = api
                .http
                .get(api.url(&url))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap();
            let headers = response.headers().clone();
            (headers, response.bytes().await.unwrap())
        }
    };
    let (html_headers, html) = fetch(urls[0].clone()).await;
    assert_eq!(&html[..], b"<script>alert(1)</script>");
    assert_eq!(html_headers["x-content-type-options"], "nosniff");
    assert!(
        html_headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let (png_headers, png) = fetch(urls[1].clone()).await;
    assert_eq!(
        &png[..],
        b"png bytes",
        "the second sender replaced the first's media or vice versa"
    );
    assert!(
        png_headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );

    let dir = home.path().join("media");
    assert_eq!(mode(&dir), 0o700, "session folder");
    for file in ["gateway.db", "gateway.db-wal"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    for entry in std::fs::read_dir(dir.join("media")).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600, "media file");
    }
    assert_eq!(mode(&dir.join("media")), 0o700, "media folder");
}

/// Item 5: SIGTERM is not held up by a media URL that never answers: the download is
/// abandoned, the process exits well within a pod's grace period, and the message is still
/// queued after the restart.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_silent_media_host() {
    let silent = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let home = tempfile::tempdir().unwrap();
    let allow = [("WAGATE_EGRESS_ALLOW_CIDRS", "127.0.0.2/32")];
    let mut router = router_with_env(home.path(), &[], &allow);
    linked(&router.api, "slow").await;
    let (status, queued) = router
        .api
        .post(
            "/v1/sessions/slow/messages?async=true",
            media_send(&format!("http://{silent_addr}/never.png")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert!(
        wait_until(Duration::from_secs(5), || async {
            accepted.load(Ordering::SeqCst) > 0
        })
        .await,
        "the download never started"
    );
    let (took, clean) = router.process.terminate();
    assert!(clean, "the router did not exit cleanly");
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");

    let again = router_with_env(home.path(), &[], &allow);
    let id = queued["id"].as_str().unwrap();
    let (_, message) = again
        .api
        .get(&format!("/v1/sessions/slow/messages/{id}"))
        .await;
    assert_eq!(message["status"], "queued", "{message}");
}

/// Item 5: past `--max-inflight` requests the API answers `503 overloaded` instead of
/// queueing without bound; health stays reachable.
#[tokio::test]
async fn requests_past_the_inflight_limit_are_refused_not_queued() {
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(
        home.path(),
        // The held send waits long enough that a loaded machine still sees it in flight.
        &["--max-inflight", "1", "--send-wait-secs", "30"],
        &[],
    );
    let api = &router.api;
    linked(api, "busy").await;
    // Every send fails transiently, so a synchronous send holds its place for a while.
    let (status, _) = api
        .post(
            "/v1/sessions/busy/sandbox/fail-sends",
            json!({ "count": 1000 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let holder = {
        let api = api.clone();
        tokio::spawn(async move {
            api.post(
                "/v1/sessions/busy/messages",
                json!({ "to": "971501234567", "text": "slow" }),
            )
            .await
        })
    };
    let refused = wait_until(Duration::from_secs(25), || async {
        let (status, body) = api.get("/v1/sessions/busy").await;
        status == StatusCode::SERVICE_UNAVAILABLE && body["error"]["code"] == "overloaded"
    })
    .await;
    assert!(
        refused,
        "a second request was not refused while one was in flight"
    );
    let health = api.http.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, _) = holder.await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "the held send answers queued");
}

/// Item 1: a webhook delivery does not follow redirects: the body and its signature never
/// reach a host the webhook does not name.
#[tokio::test]
async fn webhook_deliveries_do_not_follow_redirects() {
    let first = Target::start("127.0.0.2").await;
    let elsewhere = Target::start("127.0.0.2").await;
    let home = tempfile::tempdir().unwrap();
    let router = router_with_env(
        home.path(),
        &["--webhook-retry-base-ms", "50"],
        &[("WAGATE_EGRESS_ALLOW_CIDRS", "127.0.0.2/32")],
    );
    let api = &router.api;
    linked(api, "redir").await;
    let hook = format!("{}/redirect?to={}/hook", first.base, elsewhere.base);
    let (status, body) = api
        .put("/v1/sessions/redir/webhook", json!({ "url": hook }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.post(
        "/v1/sessions/redir/sandbox/inbound",
        json!({ "from": "971500000001", "text": "hi" }),
    )
    .await;
    let tried = wait_until(Duration::from_secs(5), || async { first.hits() >= 2 }).await;
    assert!(tried, "the webhook was not attempted");
    assert_eq!(
        elsewhere.hits(),
        0,
        "a redirect carried the delivery elsewhere"
    );
}
