//! What survives a `kill -9`: accepted messages go out exactly once, in order.

use std::time::Duration;

use crate::support::{SessionProcess, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MESSAGES: usize = 200;

async fn sent_log(session: &SessionProcess) -> Vec<Value> {
    session.get("/sandbox/sent").await.1["sent"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn queued_messages_survive_kill_9_and_go_out_exactly_once_in_order() {
    let home = tempfile::tempdir().unwrap();
    // 10 ms apart: long enough to kill the process with most of the queue still pending.
    let args = ["--engine", "simulator", "--send-interval-ms", "10"];
    let mut session = crate::support::spawn("durable", home.path(), &args);
    session.wait_status("qr", Duration::from_secs(5)).await;
    session.link().await;

    let mut accepted = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let (status, body) = session
            .post("/messages?async=true", json!({ "to": format!("97150{:07}", i % 7 + 1), "text": format!("message {i:03}") }))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "queued");
        accepted.push(body["id"].as_str().unwrap().to_string());
    }
    // Let some go out, then crash mid-queue.
    assert!(
        wait_until(Duration::from_secs(10), || async {
            sent_log(&session).await.len() >= 20
        })
        .await
    );
    session.crash_and_restart();
    let before_restart = std::fs::read_to_string(session.dir.join("simulator-sent.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(
        before_restart < MESSAGES,
        "the crash must interrupt the queue (sent {before_restart})"
    );

    // The link survives the crash; the rest of the queue drains.
    session
        .wait_status("connected", Duration::from_secs(5))
        .await;
    assert!(
        wait_until(Duration::from_secs(30), || async {
            sent_log(&session).await.len() >= MESSAGES
        })
        .await,
        "all messages sent after restart"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: Vec<String> = sent_log(&session)
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sent.len(),
        MESSAGES,
        "exactly once: no duplicates reached WhatsApp"
    );
    assert_eq!(sent, accepted, "in the order they were accepted");
    for (i, id) in accepted.iter().enumerate().step_by(37) {
        let (_, status) = session.get(&format!("/messages/{id}")).await;
        assert_eq!(status["status"], "sent", "message {i}");
    }
}

#[tokio::test]
async fn a_graceful_stop_keeps_the_queue_for_the_next_start() {
    let home = tempfile::tempdir().unwrap();
    let args = ["--engine", "simulator", "--send-interval-ms", "200"];
    let mut session = crate::support::spawn("graceful", home.path(), &args);
    session.wait_status("qr", Duration::from_secs(5)).await;
    session.link().await;
    for i in 0..10 {
        session
            .post(
                "/messages?async=true",
                json!({ "to": "971501234567", "text": format!("m{i}") }),
            )
            .await;
    }
    let (elapsed, clean) = session.terminate();
    assert!(
        clean && elapsed < Duration::from_secs(5),
        "SIGTERM: clean={clean} after {elapsed:?}"
    );
    drop(session);
    let session = crate::support::spawn(
        "graceful",
        home.path(),
        &["--engine", "simulator", "--send-interval-ms", "0"],
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            sent_log(&session).await.len() == 10
        })
        .await
    );
}
