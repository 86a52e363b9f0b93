//! WhatsApp misbehaving, through the real engine: a dropped socket, stream errors, a
//! temporary ban, slow acks and a server key rotation. Each must end in the state the
//! contract promises, without losing an accepted message.

use std::time::{Duration, Instant};

use crate::support::whatsapp;
use reqwest::StatusCode;
use serde_json::json;
use wagate_e2e::{WebhookReceiver, wait_until};
use wagate_wa_sim::Simulator;

const PHONE: &str = "15550002222";
const ANN: &str = "971501234567";
const WAIT: Duration = Duration::from_secs(20);

async fn simulator() -> Simulator {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_contact(ANN, "Ann", None).await;
    sim
}

/// Posts a text to Ann and returns the message id.
async fn send(session: &wagate_e2e::SessionProcess, text: &str, asynchronous: bool) -> String {
    let path = if asynchronous {
        "/messages?async=true"
    } else {
        "/messages"
    };
    let (status, body) = session.post(path, json!({ "to": ANN, "text": text })).await;
    let expected = if asynchronous {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    assert_eq!(status, expected, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn assert_decrypted(sim: &Simulator, id: &str, text: &str) {
    let got = sim
        .wait_delivered(WAIT, |d| d.id == id && d.to == ANN)
        .await
        .unwrap_or_else(|| panic!("Ann never received {id}"));
    assert_eq!(got.text.as_deref(), Some(text));
}

/// The device logs in again over a `pattern` handshake (more of them than `before`), the
/// session is `connected`, and a new message reaches Ann.
async fn resumes_and_sends(
    sim: &Simulator,
    linked: &whatsapp::Linked,
    pattern: &str,
    before: u64,
    text: &str,
) {
    assert!(
        wait_until(WAIT, || async {
            sim.handshake_count(pattern).await > before && sim.is_online(PHONE, linked.device).await
        })
        .await,
        "no new {pattern} login: {:?}",
        sim.handshakes().await
    );
    linked.session.wait_status("connected", WAIT).await;
    let id = send(&linked.session, text, false).await;
    assert_decrypted(sim, &id, text).await;
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_what_was_queued_meanwhile_goes_out() {
    let sim = simulator().await;
    let linked = whatsapp::linked(&sim, "drop", PHONE, &[]).await;
    let before = sim.handshake_count("ik").await;

    // WhatsApp is unreachable for a while: the session says so and queues what it accepts.
    assert_eq!(sim.go_down(PHONE, Duration::from_secs(2)).await, 1);
    linked.session.wait_status("connecting", WAIT).await;
    let (status, body) = linked
        .session
        .post(
            "/messages?async=true",
            json!({ "to": ANN, "text": "sent while the socket was down" }),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("queued")),
        "{body}"
    );
    let queued = body["id"].as_str().unwrap().to_string();
    assert!(
        sim.delivered().await.iter().all(|d| d.id != queued),
        "sent while down?"
    );

    // Back up: the link resumes and the queued message goes out.
    resumes_and_sends(&sim, &linked, "ik", before, "and after it").await;
    assert_decrypted(&sim, &queued, "sent while the socket was down").await;
}

#[tokio::test]
async fn a_515_stream_error_reconnects_at_once() {
    let sim = simulator().await;
    let linked = whatsapp::linked(&sim, "restart515", PHONE, &[]).await;
    let before = sim.handshake_count("ik").await;
    assert_eq!(sim.stream_error(PHONE, 515).await, 1);
    resumes_and_sends(&sim, &linked, "ik", before, "still here").await;
}

#[tokio::test]
async fn a_401_stream_error_logs_out_and_offers_a_new_qr() {
    let sim = simulator().await;
    let receiver = WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "unauthorised",
        PHONE,
        &[
            "--webhook-url",
            receiver.url.as_str(),
            "--webhook-events",
            "session.status",
        ],
    )
    .await;
    // Right after linking the client may still replace its login socket (the library's
    // pair-success race, see the stop notes); a 401 on the socket it is dropping anyway is
    // only a disconnect to it. WhatsApp sends it on the live connection: so do we.
    let mut logged_out = false;
    for _ in 0..5 {
        if sim.stream_error(PHONE, 401).await == 1
            && wait_until(Duration::from_secs(3), || async {
                matches!(linked.session.status().await.as_str(), "logged_out" | "qr")
            })
            .await
        {
            logged_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(logged_out, "a 401 on the live connection did not log out");
    let qr = whatsapp::qr_text(&linked.session).await;
    assert!(qr.starts_with("2@"), "{qr}");
    let info = linked.session.get("").await.1;
    assert_eq!(info["phone"], serde_json::Value::Null, "{info}");
    assert!(
        wait_until(WAIT, || async {
            receiver
                .accepted("session.status")
                .iter()
                .any(|d| d.json()["data"]["status"] == "logged_out")
        })
        .await,
        "session.status logged_out was published"
    );
    let (status, body) = linked
        .session
        .post("/messages", json!({ "to": ANN, "text": "nobody home" }))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "session_not_ready");
}

#[tokio::test]
async fn a_temporary_ban_shows_banned_until_it_ends_then_reconnects() {
    let sim = simulator().await;
    let linked = whatsapp::linked(&sim, "banned", PHONE, &[]).await;
    let banned_at = chrono::Utc::now();
    assert!(sim.ban(PHONE, Duration::from_secs(3)).await);

    let info = linked.session.wait_status("banned", WAIT).await;
    let until: chrono::DateTime<chrono::Utc> = info["bannedUntil"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bannedUntil: {info}"));
    assert!(
        until > banned_at && until < banned_at + chrono::Duration::seconds(10),
        "{info}"
    );
    assert!(
        info["lastError"].as_str().unwrap().contains("banned"),
        "{info}"
    );
    // A banned number takes no new work: piling messages up for the moment the ban ends
    // is how numbers get banned for good.
    let (status, body) = linked
        .session
        .post(
            "/messages?async=true",
            json!({ "to": ANN, "text": "during the ban" }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "session_not_ready");

    // When the ban ends the session comes back by itself.
    let info = linked.session.wait_status("connected", WAIT).await;
    assert_eq!(info["bannedUntil"], serde_json::Value::Null, "{info}");
    let id = send(&linked.session, "after the ban", false).await;
    assert_decrypted(&sim, &id, "after the ban").await;
}

#[tokio::test]
async fn slow_acks_hold_a_synchronous_send_until_whatsapp_acknowledges() {
    let sim = simulator().await;
    let linked = whatsapp::linked(&sim, "slowack", PHONE, &[]).await;
    sim.set_ack_delay(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let (status, body) = linked
        .session
        .post("/messages", json!({ "to": ANN, "text": "patience" }))
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        took >= Duration::from_millis(1500),
        "answered before the ack: {took:?}"
    );
    assert_ne!(body["status"], "queued", "{body}");
    assert_decrypted(&sim, body["id"].as_str().unwrap(), "patience").await;
}

#[tokio::test]
async fn a_rotated_server_key_makes_the_resume_fall_back_to_xx() {
    let sim = simulator().await;
    let linked = whatsapp::linked(&sim, "rotated", PHONE, &[]).await;
    sim.rotate_server_key().await;
    sim.drop_connections(PHONE).await;
    resumes_and_sends(&sim, &linked, "xx-fallback", 0, "new key, same link").await;
}

#[tokio::test]
async fn an_inbound_message_that_cannot_be_queued_is_not_acknowledged_and_comes_again() {
    let sim = simulator().await;
    let receiver = WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "durable",
        PHONE,
        &[
            "--webhook-url",
            receiver.url.as_str(),
            "--webhook-events",
            "message.received",
        ],
    )
    .await;

    // Another process holds gateway.db's write lock: the session cannot queue anything.
    let db = rusqlite::Connection::open(linked.session.dir.join("gateway.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let id = sim
        .send_text(ANN, PHONE, "do not lose me")
        .await
        .expect("Ann sends");
    // The session retries its write for 5 s, then does not acknowledge the message.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(
        sim.client_receipts().await.iter().all(|r| r.id != id),
        "acknowledged although it was not stored"
    );
    assert!(receiver.accepted("message.received").is_empty());

    // The lock goes away; on the next connection WhatsApp delivers the message again.
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    sim.drop_connections(PHONE).await;
    assert!(
        wait_until(WAIT, || async {
            receiver
                .accepted("message.received")
                .iter()
                .any(|d| d.json()["data"]["messageId"] == id.as_str())
        })
        .await,
        "the message reached the webhook after all"
    );
    let event = receiver.accepted("message.received")[0].json();
    assert_eq!(event["data"]["text"], "do not lose me");
    assert!(
        sim.wait_client_receipt(WAIT, &id).await.is_some(),
        "acknowledged once stored"
    );
}
