//! Stopping and starting the router: linked sessions come back connected without a QR,
//! queued messages go out, webhooks still deliver.

use std::time::Duration;

use crate::support::{Router, WebhookReceiver, wait_until};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_restart_restores_sessions_queues_and_webhooks() {
    let home = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start().await;
    let slow = ["--send-interval-ms", "300"];
    let mut router = Router::start(home.path(), &slow);
    let api = router.api.clone();
    for id in ["r-1", "r-2", "r-3"] {
        assert_eq!(
            api.post(
                "/v1/sessions",
                json!({ "sessionId": id, "webhook": { "url": receiver.url } })
            )
            .await
            .0,
            StatusCode::CREATED
        );
    }
    api.link("r-1", Some("971500000301")).await;
    api.link("r-2", Some("971500000302")).await;
    for i in 0..5 {
        let (status, _) = api
            .post(
                "/v1/sessions/r-1/messages?async=true",
                json!({ "to": "971501234567", "text": format!("q{i}") }),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (elapsed, clean) = router.process.terminate();
    assert!(
        clean && elapsed < Duration::from_secs(5),
        "graceful stop: {clean} in {elapsed:?}"
    );
    drop(router);

    let router = Router::start(home.path(), &["--send-interval-ms", "0"]);
    let api = router.api.clone();
    let (_, list) = api.get("/v1/sessions").await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 3);
    let r1 = api
        .wait_status("r-1", "connected", Duration::from_secs(5))
        .await;
    assert_eq!(r1["phone"], "971500000301");
    api.wait_status("r-2", "connected", Duration::from_secs(5))
        .await;
    api.wait_status("r-3", "qr", Duration::from_secs(5)).await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            api.get("/v1/sessions/r-1/sandbox/sent").await.1["sent"]
                .as_array()
                .is_some_and(|s| s.len() == 5)
        })
        .await,
        "queued messages went out after the restart"
    );
    api.post(
        "/v1/sessions/r-2/sandbox/inbound",
        json!({ "from": "5511999999999", "text": "after restart" }),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            receiver
                .accepted("message.received")
                .iter()
                .any(|d| d.json()["data"]["text"] == "after restart")
        })
        .await,
        "webhooks still deliver"
    );
}
