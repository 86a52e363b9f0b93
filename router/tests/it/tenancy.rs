//! Scoped keys: a key never sees, lists, creates, sends through, deletes or streams a
//! session outside its patterns; a read-only key only reads; rate limits answer 429.

use std::time::Duration;

use crate::support::{Api, Router};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::json;

const ACME: &str = "acme-secret-0123456789";
const GLOBEX: &str = "globex-secret-0123456789";
const AUDITOR: &str = "auditor-secret-0123456789";
const LIMITED: &str = "limited-secret-0123456789";

fn keys_file(dir: &std::path::Path) -> String {
    let path = dir.join("keys.yaml");
    std::fs::write(
        &path,
        format!(
            "keys:\n\
             - {{ name: acme, secret: {ACME}, sessions: [\"acme-*\"] }}\n\
             - {{ name: globex, secret: \"sha256:{}\", sessions: [\"globex-*\"] }}\n\
             - {{ name: auditor, secret: {AUDITOR}, sessions: [\"*\"], readOnly: true }}\n\
             - {{ name: limited, secret: {LIMITED}, sessions: [\"*\"], rateLimit: {{ perSecond: 1, burst: 2 }} }}\n",
            sha256_hex(GLOBEX)
        ),
    )
    .unwrap();
    path.to_string_lossy().into()
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn keys_see_only_their_sessions() {
    let home = tempfile::tempdir().unwrap();
    let keys = keys_file(home.path());
    let router = Router::start(home.path(), &["--api-keys-file", &keys]);
    let (acme, globex, auditor) = (
        router.as_key(ACME),
        router.as_key(GLOBEX),
        router.as_key(AUDITOR),
    );

    assert_eq!(
        acme.post("/v1/sessions", json!({ "sessionId": "acme-1" }))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        globex
            .post("/v1/sessions", json!({ "sessionId": "globex-1" }))
            .await
            .0,
        StatusCode::CREATED
    );
    // Creating outside one's patterns.
    let (status, err) = acme
        .post("/v1/sessions", json!({ "sessionId": "globex-2" }))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    acme.link("acme-1", Some("971500000101")).await;
    globex.link("globex-1", Some("971500000202")).await;

    // Lists show only one's own sessions.
    let ids = |api: Api| async move {
        let (_, list) = api.get("/v1/sessions").await;
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sessionId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(acme.clone()).await, ["acme-1"]);
    assert_eq!(ids(globex.clone()).await, ["globex-1"]);
    assert_eq!(ids(auditor.clone()).await, ["acme-1", "globex-1"]);

    // Neither reads, sends through, streams or deletes the other's session.
    let forbidden = StatusCode::FORBIDDEN;
    assert_eq!(acme.get("/v1/sessions/globex-1").await.0, forbidden);
    assert_eq!(acme.get("/v1/sessions/globex-1/qr").await.0, forbidden);
    assert_eq!(
        acme.post(
            "/v1/sessions/globex-1/messages",
            json!({ "to": "971501234567", "text": "x" })
        )
        .await
        .0,
        forbidden
    );
    assert_eq!(
        acme.post(
            "/v1/messages",
            json!({ "sessionId": "globex-1", "to": "971501234567", "text": "x" })
        )
        .await
        .0,
        forbidden
    );
    let (status, _) = acme
        .post(
            "/v1/messages",
            json!({ "from": "971500000202", "to": "971501234567", "text": "x" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's number is not even revealed"
    );
    assert_eq!(acme.delete("/v1/sessions/globex-1").await.0, forbidden);
    assert_eq!(globex.get("/v1/sessions/acme-1/events").await.0, forbidden);
    assert_eq!(
        globex.post("/v1/sessions/acme-1/logout", json!({})).await.0,
        forbidden
    );
    // Unknown sessions outside the scope are 403 too: existence is not leaked.
    assert_eq!(acme.get("/v1/sessions/globex-nope").await.0, forbidden);

    // The all-sessions stream carries only one's own events.
    let resp = acme
        .http
        .get(acme.url("/v1/events"))
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    globex
        .post(
            "/v1/sessions/globex-1/messages",
            json!({ "to": "971501234567", "text": "globex secret" }),
        )
        .await;
    acme.post(
        "/v1/sessions/acme-1/messages",
        json!({ "to": "971501234567", "text": "acme" }),
    )
    .await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("message.status") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("acme's event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_millis(200), stream.next()).await
    {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("acme-1") && !seen.contains("globex"),
        "{seen}"
    );

    // The read-only key reads everything but changes nothing.
    assert_eq!(auditor.get("/v1/sessions/globex-1").await.0, StatusCode::OK);
    assert_eq!(
        auditor
            .post(
                "/v1/sessions/acme-1/messages",
                json!({ "to": "971501234567", "text": "x" })
            )
            .await
            .0,
        forbidden
    );
    assert_eq!(auditor.delete("/v1/sessions/acme-1").await.0, forbidden);
    assert_eq!(
        auditor
            .post("/v1/sessions", json!({ "sessionId": "acme-9" }))
            .await
            .0,
        forbidden
    );

    // The owner can delete.
    assert_eq!(acme.delete("/v1/sessions/acme-1").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_rate_limited_key_gets_429_with_retry_after() {
    let home = tempfile::tempdir().unwrap();
    let keys = keys_file(home.path());
    let router = Router::start(home.path(), &["--api-keys-file", &keys]);
    let limited = router.as_key(LIMITED);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let resp = limited
            .http
            .get(limited.url("/v1/sessions"))
            .bearer_auth(LIMITED)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
        retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string())
            .or(retry_after);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Other keys are not affected.
    assert_eq!(
        router.as_key(ACME).get("/v1/sessions").await.0,
        StatusCode::OK
    );
}
