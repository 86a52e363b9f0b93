//! Attachments both ways through the real engine and the protocol simulator's media host, at
//! the sizes people send: what the API sends is uploaded, and the contact's phone downloads
//! and decrypts the same bytes; what a contact sends is downloaded and served back the same.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wagate_wa_sim::{Delivered, MediaType, SentDocument, Simulator};

use crate::support::whatsapp;

const PHONE: &str = "15550004444";
const ANN: &str = "971501234567";
const WAIT: Duration = Duration::from_secs(60);
const MIB: usize = 1024 * 1024;

/// Bytes that do not repeat with a short period (so nothing compresses them away).
fn file(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Sends `media` to Ann; what her phone decrypted, and the attachment it downloaded.
async fn send(
    session: &wagate_e2e::SessionProcess,
    sim: &Simulator,
    media: Value,
) -> (Delivered, Vec<u8>) {
    let decrypted = whatsapp::send_and_decrypt(session, sim, ANN, json!({ "media": media })).await;
    let bytes = sim
        .download_attachment(&decrypted)
        .expect("the contact downloads and decrypts the attachment");
    (decrypted, bytes)
}

/// Serves `bytes` at `http://127.0.0.1:<port>/clip.mp4` (loopback is open to test processes).
async fn file_server(bytes: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/clip.mp4", listener.local_addr().unwrap());
    let bytes = bytes::Bytes::from(bytes);
    let app = axum::Router::new().route(
        "/clip.mp4",
        axum::routing::get(move || {
            let bytes = bytes.clone();
            async move { ([("content-type", "video/mp4")], bytes) }
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

#[tokio::test]
async fn sent_media_reaches_the_contact_byte_for_byte() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let linked = whatsapp::linked(&sim, "media-out", PHONE, &[]).await;
    let session = &linked.session;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);

    // A 5 MiB photo with a caption.
    let photo = file(5 * MIB, 1);
    let (decrypted, got) = send(
        session,
        &sim,
        json!({ "type": "image", "data": b64(&photo), "mimeType": "image/jpeg",
                "caption": "The new studio" }),
    )
    .await;
    let image = decrypted
        .message
        .image_message
        .as_option()
        .expect("an imageMessage");
    assert_eq!(image.caption.as_deref(), Some("The new studio"));
    assert_eq!(image.mimetype.as_deref(), Some("image/jpeg"));
    assert_eq!(image.file_length, Some(photo.len() as u64));
    assert_eq!(sha256(&got), sha256(&photo));

    // Its caption edited: a MESSAGE_EDIT whose new content is an imageMessage with the new
    // caption, as WhatsApp's apps edit a caption.
    let (status, edited) = session
        .patch(
            &format!("/messages/{}", decrypted.id),
            json!({ "text": "The new studio (2nd floor)" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let edit_id = edited["id"].as_str().unwrap().to_string();
    let edit = sim
        .wait_delivered(WAIT, |d| d.id == edit_id && d.to == ANN)
        .await
        .expect("the contact decrypted the caption edit");
    let protocol = edit
        .message
        .protocol_message
        .as_option()
        .or_else(|| {
            edit.message
                .edited_message
                .as_option()
                .and_then(|e| e.message.as_option())
                .and_then(|m| m.protocol_message.as_option())
        })
        .expect("a protocolMessage");
    assert_eq!(
        protocol.key.as_option().and_then(|k| k.id.as_deref()),
        Some(decrypted.id.as_str())
    );
    assert_eq!(
        protocol
            .edited_message
            .as_option()
            .and_then(|m| m.image_message.as_option())
            .and_then(|i| i.caption.as_deref()),
        Some("The new studio (2nd floor)")
    );

    // A voice note: Ogg Opus played as one; other audio stays an audio file.
    let voice = file(48 * 1024, 2);
    let (decrypted, got) = send(
        session,
        &sim,
        json!({ "type": "audio", "data": b64(&voice), "mimeType": "audio/ogg; codecs=opus",
                "ptt": true }),
    )
    .await;
    let audio = decrypted
        .message
        .audio_message
        .as_option()
        .expect("an audioMessage");
    assert_eq!(audio.ptt, Some(true));
    assert_eq!(sha256(&got), sha256(&voice));
    let (decrypted, _) = send(
        session,
        &sim,
        json!({ "type": "audio", "data": b64(&voice), "mimeType": "audio/mpeg", "ptt": true }),
    )
    .await;
    let audio = decrypted
        .message
        .audio_message
        .as_option()
        .expect("an audioMessage");
    assert_ne!(audio.ptt, Some(true), "an MP3 is not a voice note");

    // A named PDF.
    let pdf = file(700 * 1024, 3);
    let (decrypted, got) = send(
        session,
        &sim,
        json!({ "type": "document", "data": b64(&pdf), "mimeType": "application/pdf",
                "fileName": "Invoice 2026-12.pdf" }),
    )
    .await;
    let document = decrypted
        .message
        .document_message
        .as_option()
        .expect("a documentMessage");
    assert_eq!(document.file_name.as_deref(), Some("Invoice 2026-12.pdf"));
    assert_eq!(document.mimetype.as_deref(), Some("application/pdf"));
    assert_eq!(sha256(&got), sha256(&pdf));

    // A 20 MiB video, larger than inline media may be: fetched from its URL, then sent.
    let clip = file(20 * MIB, 4);
    let (url, _server) = file_server(clip.clone()).await;
    let (decrypted, got) = send(session, &sim, json!({ "type": "video", "url": url })).await;
    assert!(decrypted.message.video_message.is_set(), "a videoMessage");
    assert_eq!(sha256(&got), sha256(&clip));
}

#[tokio::test]
async fn received_media_is_served_back_byte_for_byte() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "media-in",
        PHONE,
        &["--webhook-url", receiver.url.as_str()],
    )
    .await;
    let session = &linked.session;

    let photo = file(5 * MIB, 5);
    let clip = file(20 * MIB, 6);
    let voice = file(32 * 1024, 7);
    let mut sent = Vec::new();
    for (kind, bytes, mime, expected) in [
        (MediaType::Image, &photo, "image/jpeg", "image"),
        (MediaType::Video, &clip, "video/mp4", "video"),
        (MediaType::Audio, &voice, "audio/ogg; codecs=opus", "voice"),
    ] {
        let (id, _) = sim
            .send_document(ANN, PHONE, SentDocument::encrypt_as(kind, bytes, mime, ""))
            .await
            .expect("Ann sends an attachment");
        sent.push((id, bytes, expected));
    }
    let event_of = |id: &str| {
        receiver
            .accepted("message.received")
            .into_iter()
            .map(|d| d.json()["data"].clone())
            .find(|data| data["messageId"] == id)
    };
    for (id, bytes, expected) in sent {
        let arrived = wagate_e2e::wait_until(WAIT, || async { event_of(&id).is_some() }).await;
        assert!(arrived, "the {expected} did not reach the webhook");
        let event = event_of(&id).unwrap();
        assert_eq!(event["type"], expected, "{event}");
        assert_eq!(event["media"]["size"], bytes.len(), "{event}");
        let url = event["media"]["url"].as_str().expect("a media url");
        let served = whatsapp::fetch_media(session, url).await;
        assert_eq!(sha256(&served), sha256(bytes), "{expected}");
    }
}
