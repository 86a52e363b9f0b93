//! The real `whatsapp` engine with no way to reach WhatsApp: it must say so, keep trying,
//! never panic, keep its store under the data dir and stop cleanly on SIGTERM.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn offline_real_engine_reports_connecting_and_stops_cleanly() {
    let home = tempfile::tempdir().unwrap();
    // An address nothing listens on: the same failure as no network, without depending on DNS.
    let args = [
        "--engine",
        "whatsapp",
        "--whatsapp-ws-url",
        "ws://127.0.0.1:9/ws/chat",
    ];
    let mut session = crate::support::spawn("offline_real", home.path(), &args);
    let mut info = json!(null);
    for _ in 0..200 {
        info = session.get("").await.1;
        if info["status"] == "connecting" && info["lastError"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(info["status"], "connecting", "{info}");
    assert!(
        info["lastError"].as_str().unwrap().contains("WhatsApp"),
        "{info}"
    );
    assert!(
        session.dir.join("whatsapp.db").exists(),
        "store created under the data dir"
    );

    // Still backing off a few seconds later, still answering, still not sending.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(session.status().await, "connecting");
    let (status, body) = session
        .post("/messages", json!({ "to": "971501234567", "text": "hi" }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("session_not_ready"))
    );
    let (status, body) = session.post("/sandbox/scan", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "no sandbox on the real engine"
    );

    let (elapsed, clean) = session.terminate();
    assert!(clean, "exit status 0 after SIGTERM");
    assert!(elapsed < Duration::from_secs(5), "stopped in {elapsed:?}");
}
