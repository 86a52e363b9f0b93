//! The simulator's control API over HTTP: what a test in another process drives.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_wa_sim::Simulator;

async fn post(sim: &Simulator, path: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sim.url()))
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_get_a_reason_and_good_ones_change_the_world() {
    let sim = Simulator::start().await.unwrap();

    let (status, body) = post(&sim, "/phone/scan", json!({ "qr": "not a qr" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("QR"), "{body}");
    let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (status, body) = post(
        &sim,
        "/phone/scan",
        json!({ "qr": format!("2@nobody,{key},{key},{key},1") }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no connected client"),
        "{body}"
    );

    let (status, _) = post(
        &sim,
        "/contacts",
        json!({ "phone": "971501234567", "pushName": "Ann", "businessName": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(
        &sim,
        "/contacts/971501234567/messages",
        json!({ "to": "15550001111", "text": "hi" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no such account yet: {body}"
    );
    let (status, body) = post(
        &sim,
        "/contacts/15550009999/messages",
        json!({ "to": "15550001111", "text": "hi" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a simulated contact")
    );

    let (status, body) = post(
        &sim,
        "/groups",
        json!({ "subject": "Team", "members": [{ "phone": "971501234567", "admin": "superadmin" }] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["jid"].as_str().unwrap().ends_with("@g.us"), "{body}");

    let (status, _) = post(&sim, "/faults/ban", json!({ "phone": "15550001111" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no account to ban");
    let (status, body) = post(&sim, "/faults/drop", json!({ "phone": "15550001111" })).await;
    assert_eq!(
        (status, body["connections"].as_u64()),
        (StatusCode::OK, Some(0))
    );

    let delivered: Value = reqwest::get(format!("{}/delivered", sim.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(delivered, json!([]));
}

#[tokio::test]
async fn a_socket_that_does_not_speak_whatsapp_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = Simulator::start().await.unwrap();
    let addr = sim.url().trim_start_matches("http://").to_string();
    // A WebSocket upgrade, then bytes that are not WhatsApp's connection header.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        format!(
            "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));
    // One masked binary frame with "GET garbage".
    let payload = b"GET garbage";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x82, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&frame).await.unwrap();
    // The server closes: a close frame and/or EOF, within a second.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) if buf[0] & 0x0f == 0x8 && n > 0 => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
}
