//! A session's whole life over HTTP with the simulator engine: QR in every format, link,
//! send, receipts, events, logout, purge.

use std::time::Duration;

use crate::support::{KEY, wait_until};
use base64::Engine as _;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

fn decode_qr_png(bytes: &[u8]) -> String {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the PNG");
    grids[0].decode().expect("QR decodes").1
}

#[tokio::test]
async fn qr_link_send_logout_purge() {
    let session = crate::support::simulator("trainer_demo", &[]);
    let info = session.wait_status("qr", Duration::from_secs(5)).await;
    assert_eq!(info["qrAvailable"], true);
    assert_eq!(info["ready"], false);

    // QR as JSON, PNG (decodes back to the payload), data URL, SVG, text and HTML.
    let (code, qr) = session.get("/qr?format=json").await;
    assert_eq!(code, StatusCode::OK);
    let payload = qr["qr"].as_str().unwrap().to_string();
    assert!(qr["expiresAt"].is_string());
    let http = session.client();
    let png = http
        .get(session.url("/qr?format=png"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(decode_qr_png(&png.bytes().await.unwrap()), payload);
    let data_url = qr["dataUrl"].as_str().unwrap();
    let png_b64 = data_url
        .strip_prefix("data:image/png;base64,")
        .expect("PNG data URL");
    assert_eq!(
        decode_qr_png(
            &base64::engine::general_purpose::STANDARD
                .decode(png_b64)
                .unwrap()
        ),
        payload
    );
    let by_accept = http
        .get(session.url("/qr"))
        .bearer_auth(KEY)
        .header("accept", "image/svg+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(by_accept.headers()["content-type"], "image/svg+xml");
    assert!(by_accept.text().await.unwrap().contains("<svg"));
    let text = http
        .get(session.url("/qr?format=text"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains('█') || text.contains('▀'),
        "terminal QR uses block characters"
    );
    let html = http
        .get(session.url("/qr?format=html"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let html = html.text().await.unwrap();
    assert!(html.contains("<svg") && html.contains("http-equiv=\"refresh\""));

    // Scan → connected; the QR is gone.
    session.link().await;
    let (code, err) = session.get("/qr?format=png").await;
    assert_eq!(code, StatusCode::CONFLICT, "{err}");
    let html = http
        .get(session.url("/qr?format=html"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Linked") && !html.contains("http-equiv"),
        "page stops refreshing once linked"
    );

    // Send → 200 with an id → status sent → receipts move it forward.
    let (code, sent) = session
        .post(
            "/messages",
            json!({ "to": "+971 50-123 4567", "text": "Invoice #123 is ready" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("3EB0") && id.len() == 22,
        "WhatsApp-style id: {id}"
    );
    assert_eq!(sent["to"], "971501234567@s.whatsapp.net");
    assert_eq!(sent["status"], "sent");
    let (code, status) = session.get(&format!("/messages/{id}")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status["status"], "sent");
    session
        .post(
            "/sandbox/receipt",
            json!({ "messageIds": [id], "status": "read" }),
        )
        .await;
    session
        .post(
            "/sandbox/receipt",
            json!({ "messageIds": [id], "status": "delivered" }),
        )
        .await;
    assert!(
        wait_until(Duration::from_secs(3), || async {
            session.get(&format!("/messages/{id}")).await.1["status"] == "read"
        })
        .await,
        "read receipt applied and a late delivered receipt does not move it back"
    );
    let (_, sim) = session.get("/sandbox/sent").await;
    assert_eq!(sim["sent"][0]["text"], "Invoice #123 is ready");

    // Metrics count it.
    let metrics = http
        .get(format!("{}/metrics", session.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wagate_messages_sent_total{session=\"trainer_demo\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("wagate_session_state{session=\"trainer_demo\",state=\"connected\"} 1")
    );

    // Logout → qr again, with a new code.
    let (code, body) = session.post("/logout", json!({})).await;
    assert_eq!((code, body), (StatusCode::OK, json!({ "ok": true })));
    session.wait_status("qr", Duration::from_secs(5)).await;
    let (_, qr2) = session.get("/qr?format=json").await;
    assert_ne!(qr2["qr"], payload, "a fresh QR after logout");

    // Link again, then DELETE ?purge=true leaves no auth behind.
    session.link().await;
    assert!(session.dir.join("simulator-link.json").exists());
    let (code, body) = session.delete("?purge=true").await;
    assert_eq!(
        (code, body),
        (StatusCode::OK, json!({ "deleted": true, "purged": true }))
    );
    assert!(!session.dir.join("simulator-link.json").exists());
    assert!(!session.dir.join("gateway.db").exists());
    let (code, _) = session.get("").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "a deleted session is gone");
}

#[tokio::test]
async fn restart_resumes_the_link_without_a_qr() {
    let home = tempfile::tempdir().unwrap();
    let args = ["--engine", "simulator"];
    let mut session = crate::support::spawn("resume_me", home.path(), &args);
    session.wait_status("qr", Duration::from_secs(5)).await;
    session.link().await;
    let (elapsed, clean) = session.terminate();
    assert!(clean, "SIGTERM exits 0");
    assert!(
        elapsed < Duration::from_secs(5),
        "graceful stop took {elapsed:?}"
    );
    drop(session);
    let session = crate::support::spawn("resume_me", home.path(), &args);
    let info = session
        .wait_status("connected", Duration::from_secs(5))
        .await;
    assert!(info["phone"].is_string() && info["lastConnected"].is_string());
}

#[tokio::test]
async fn event_stream_starts_with_status_and_follows_changes() {
    let session = crate::support::simulator("sse_demo", &[]);
    session.wait_status("qr", Duration::from_secs(5)).await;
    let resp = session
        .client()
        .get(session.url("/events"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    let mut read_until = async |needle: &str| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("event in time")
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        seen.clone()
    };
    let first = read_until("event: qr").await;
    assert!(first.starts_with("event: status"), "status first: {first}");
    session
        .post("/sandbox/scan", json!({ "phone": "971500000001" }))
        .await;
    let later = read_until("\"connected\"").await;
    assert!(later.contains("971500000001"));
    session
        .post(
            "/sandbox/inbound",
            json!({ "from": "5511999999999", "text": "Hello!", "pushName": "John" }),
        )
        .await;
    let later = read_until("event: message.received").await;
    assert!(later.contains("\"text\":\"Hello!\""));
}

#[tokio::test]
async fn idempotency_key_dedupes_retries() {
    let session = crate::support::simulator("idem", &[]);
    session.link().await;
    let body = json!({ "to": "971501234567", "text": "once", "idempotencyKey": "order-42" });
    let (first_code, first) = session.post("/messages", body.clone()).await;
    let (second_code, second) = session.post("/messages?async=true", body).await;
    assert_eq!((first_code, second_code), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);
    let (_, sim) = session.get("/sandbox/sent").await;
    assert_eq!(sim["sent"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn inbound_media_is_kept_and_downloadable() {
    let session = crate::support::simulator("media_in", &[]);
    session.link().await;
    let bytes = b"%PDF-1.4 fake invoice".to_vec();
    let (code, injected) = session
        .post(
            "/sandbox/inbound",
            json!({ "from": "5511999999999", "media": {
                "type": "document", "mimeType": "application/pdf", "fileName": "invoice.pdf",
                "data": base64::engine::general_purpose::STANDARD.encode(&bytes) } }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{injected}");
    let id = injected["messageId"].as_str().unwrap();
    let url = session.url(&format!("/media/{id}"));
    let mut got = None;
    for _ in 0..120 {
        let resp = session
            .client()
            .get(&url)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::OK {
            got = Some((
                resp.headers()["content-type"].to_str().unwrap().to_string(),
                resp.bytes().await.unwrap().to_vec(),
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (mime, body) = got.expect("media downloadable");
    assert_eq!((mime.as_str(), body), ("application/pdf", bytes));
    let (code, err) = session.get("/media/UNKNOWN123").await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_not_found"))
    );
}

#[tokio::test]
async fn numbers_groups_and_pairing_code() {
    let session = crate::support::simulator("lookup", &[]);
    session.wait_status("qr", Duration::from_secs(5)).await;
    let (code, pair) = session
        .post("/pair-code", json!({ "phone": "+971 50 123 4567" }))
        .await;
    assert_eq!(code, StatusCode::OK, "{pair}");
    assert_eq!(pair["code"].as_str().unwrap().len(), 8);
    session.link().await;
    let (code, checked) = session
        .post(
            "/check-numbers",
            json!({ "numbers": ["971501234567", "+1 555 111 0000"] }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(checked["results"][0]["onWhatsApp"], true);
    assert_eq!(checked["results"][0]["jid"], "971501234567@s.whatsapp.net");
    assert_eq!(checked["results"][1]["onWhatsApp"], false);
    let (code, groups) = session.get("/groups").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(groups["groups"].as_array().unwrap().len(), 2);
    // A number that is not on WhatsApp fails fast with its own code.
    let (code, err) = session
        .post("/messages", json!({ "to": "15551110000", "text": "hi" }))
        .await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("number_not_on_whatsapp"))
    );
}

#[tokio::test]
async fn transient_send_failures_are_retried_in_order() {
    let session = crate::support::simulator("retry", &["--send-retry-base-ms", "20"]);
    session.link().await;
    session
        .post("/sandbox/fail-sends", json!({ "count": 2 }))
        .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (code, body) = session
            .post(
                "/messages?async=true",
                json!({ "to": "971501234567", "text": format!("m{i}") }),
            )
            .await;
        assert_eq!(code, StatusCode::ACCEPTED);
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    assert!(
        wait_until(Duration::from_secs(5), || async {
            session.get("/sandbox/sent").await.1["sent"]
                .as_array()
                .unwrap()
                .len()
                == 3
        })
        .await
    );
    let (_, sim) = session.get("/sandbox/sent").await;
    let sent: Vec<_> = sim["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ids, "order kept across retries");
}
