//! Webhooks are delivered at least once from a persistent queue, signed, retried with
//! backoff, dead-lettered when the receiver stays down, and replayable.

use std::time::Duration;

use crate::support::{WebhookReceiver, wait_until};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "hook-secret-of-16+";

fn valid_signature(body: &str, header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    header == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_after_retries_with_the_same_delivery_id() {
    let receiver = WebhookReceiver::start().await;
    let session = crate::support::simulator(
        "hooks",
        &[
            "--webhook-retry-base-ms",
            "50",
            "--webhook-retry-max-ms",
            "200",
        ],
    );
    session.link().await;
    let (status, info) = session
        .put(
            "/webhook",
            json!({ "url": receiver.url, "events": ["message.received"], "secret": SECRET }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        info["webhook"],
        json!({ "url": receiver.url, "events": ["message.received"], "hasSecret": true })
    );

    receiver.fail_next(3);
    session
        .post(
            "/sandbox/inbound",
            json!({ "from": "+55 11 99999-9999", "text": "Hello!", "pushName": "John" }),
        )
        .await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            !receiver.accepted("message.received").is_empty()
        })
        .await
    );

    let all = receiver.deliveries();
    assert_eq!(all.len(), 4, "3 failures then a success");
    let id = all[0].header("x-wagate-delivery").to_string();
    assert!(
        all.iter().all(|d| d.header("x-wagate-delivery") == id),
        "stable delivery id across retries"
    );
    let delivered = &all[3];
    assert!(delivered.accepted);
    assert!(
        valid_signature(&delivered.body, delivered.header("x-wagate-signature")),
        "valid HMAC signature"
    );
    let event = delivered.json();
    assert_eq!(event["event"], "message.received");
    assert_eq!(event["sessionId"], "hooks");
    assert_eq!(event["data"]["from"], "5511999999999");
    assert_eq!(event["data"]["text"], "Hello!");
    assert_eq!(event["data"]["pushName"], "John");
    assert_eq!(event["data"]["type"], "text");
    // Only subscribed events arrive: sends produce message.status, which is not subscribed.
    session
        .post("/messages", json!({ "to": "971501234567", "text": "hi" }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver
            .deliveries()
            .iter()
            .all(|d| d.header("x-wagate-event") == "message.received")
    );
}

#[tokio::test]
async fn a_receiver_that_stays_down_fills_dead_letters_and_replay_delivers_them() {
    let receiver = WebhookReceiver::start().await;
    let session = crate::support::simulator(
        "dead_hooks",
        &[
            "--webhook-retry-base-ms",
            "50",
            "--webhook-retry-max-ms",
            "100",
            "--webhook-retry-for-secs",
            "1",
        ],
    );
    session.link().await;
    session
        .put("/webhook", json!({ "url": receiver.url, "secret": SECRET }))
        .await;
    receiver.set_down(true);
    session
        .post(
            "/sandbox/inbound",
            json!({ "from": "5511999999999", "text": "are you there?" }),
        )
        .await;

    let dead = wait_until(Duration::from_secs(10), || async {
        let (_, body) = session.get("/webhook/dead-letters").await;
        body["deadLetters"]
            .as_array()
            .is_some_and(|l| l.iter().any(|d| d["event"] == "message.received"))
    })
    .await;
    assert!(dead, "the delivery became a dead letter");
    let letters = session.get("/webhook/dead-letters").await.1;
    let letter = letters["deadLetters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event"] == "message.received")
        .unwrap()
        .clone();
    assert!(letter["attempts"].as_u64().unwrap() >= 2);
    assert!(letter["lastError"].as_str().unwrap().contains("503"));
    assert_eq!(letter["payload"]["data"]["text"], "are you there?");
    let failed_attempts = receiver.deliveries().len();

    receiver.set_down(false);
    let (status, replay) = session
        .post("/webhook/dead-letters/replay", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(replay["replayed"].as_u64().unwrap() >= 1);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            !receiver.accepted("message.received").is_empty()
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = receiver.accepted("message.received");
    assert_eq!(delivered.len(), 1, "replayed exactly once");
    assert_eq!(
        delivered[0].header("x-wagate-delivery"),
        letter["deliveryId"].as_str().unwrap()
    );
    assert!(valid_signature(
        &delivered[0].body,
        delivered[0].header("x-wagate-signature")
    ));
    assert!(receiver.deliveries().len() > failed_attempts);
    let (_, after) = session.get("/webhook/dead-letters").await;
    assert!(
        after["deadLetters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["event"] != "message.received")
    );
}

#[tokio::test]
async fn queued_webhooks_survive_a_crash() {
    let receiver = WebhookReceiver::start().await;
    let home = tempfile::tempdir().unwrap();
    let args = [
        "--engine",
        "simulator",
        "--webhook-retry-base-ms",
        "100",
        "--webhook-retry-max-ms",
        "200",
    ];
    let mut session = crate::support::spawn("hook_crash", home.path(), &args);
    session.wait_status("qr", Duration::from_secs(5)).await;
    session.link().await;
    session
        .put(
            "/webhook",
            json!({ "url": receiver.url, "events": ["message.received"] }),
        )
        .await;
    receiver.set_down(true);
    for i in 0..5 {
        session
            .post(
                "/sandbox/inbound",
                json!({ "from": "5511999999999", "text": format!("n{i}") }),
            )
            .await;
    }
    assert!(
        wait_until(Duration::from_secs(5), || async {
            receiver.deliveries().len() >= 5
        })
        .await
    );
    session.crash_and_restart();
    receiver.set_down(false);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            receiver.accepted("message.received").len() == 5
        })
        .await
    );
    let mut texts: Vec<String> = receiver
        .accepted("message.received")
        .iter()
        .map(|d| d.json()["data"]["text"].as_str().unwrap().to_string())
        .collect();
    texts.sort();
    assert_eq!(texts, ["n0", "n1", "n2", "n3", "n4"]);
}
