//! The engine that ships (`whatsapp-rust`, SQLite store, real WebSocket, Noise, Signal)
//! against the protocol simulator, end to end through the REST API: link by QR, survive a
//! restart without a QR, send (the contact's phone decrypts it), receive (a webhook gets
//! it), check numbers, list groups, and get logged out from the phone.

use std::time::Duration;

use crate::support::whatsapp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_e2e::{WebhookReceiver, wait_until};
use wagate_wa_sim::{Admin, Simulator};

const PHONE: &str = "15550001111";
const ANN: &str = "971501234567";
const SHOP: &str = "4915112345678";
const NOBODY: &str = "15559999999";
const WAIT: Duration = Duration::from_secs(20);

fn statuses(receiver: &WebhookReceiver) -> Vec<String> {
    receiver
        .accepted("session.status")
        .iter()
        .map(|d| {
            d.json()["data"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_real_engine_links_restarts_sends_receives_and_is_logged_out_from_the_phone() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    sim.add_contact(SHOP, "Shop", Some("Shop GmbH")).await;
    let receiver = WebhookReceiver::start().await;
    let home = tempfile::tempdir().unwrap();
    let args = ["--webhook-url", receiver.url.as_str()];

    // 1. The QR appears through the REST API; the phone scans it.
    let mut session = whatsapp::spawn(&sim, "e2e", home.path(), &args);
    let first_qr = whatsapp::qr_text(&session).await;
    let scan = reqwest::Client::new()
        .post(format!("{}/phone/scan", sim.url()))
        .json(&json!({ "qr": first_qr, "phone": PHONE }))
        .send()
        .await
        .expect("phone API");
    assert_eq!(scan.status(), StatusCode::OK);
    let linked: Value = scan.json().await.expect("linked device");
    let device = linked["device"].as_u64().expect("device id") as u16;
    let info = session.wait_status("connected", WAIT).await;
    assert_eq!(info["phone"], PHONE, "{info}");
    assert_eq!(
        info["pushName"], "Coach Ann",
        "push name from the app-state sync: {info}"
    );
    assert_eq!(sim.linked_devices(PHONE).await, vec![device]);

    // 2. A restart resumes the link: connected again, never a QR, over a resumed handshake.
    let (_, clean) = session.terminate();
    assert!(clean, "SIGTERM exits 0");
    let resumed_before = sim.handshake_count("ik").await;
    let mut session = whatsapp::spawn(&sim, "e2e", home.path(), &args);
    let mut saw_qr = false;
    let mut reconnected = false;
    let deadline = std::time::Instant::now() + WAIT;
    while !reconnected && std::time::Instant::now() < deadline {
        let info = session.get("").await.1;
        saw_qr |= info["status"] == "qr" || info["qrAvailable"] == true;
        reconnected = info["status"] == "connected";
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reconnected, "connected again after the restart");
    assert!(!saw_qr, "no QR after a restart");
    assert!(sim.handshake_count("ik").await > resumed_before);
    assert_eq!(
        sim.linked_devices(PHONE).await,
        vec![device],
        "still one device"
    );

    // 3. Send: the contact's phone decrypts exactly what was sent; the receipt makes it delivered.
    let text = "Invoice #123 is ready ✓";
    let (status, sent) = session
        .post(
            "/messages",
            json!({ "to": "+971 50-123 4567", "text": text }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["to"], format!("{ANN}@s.whatsapp.net"));
    let id = sent["id"].as_str().unwrap().to_string();
    let decrypted = sim
        .wait_delivered(WAIT, |d| d.id == id && d.to == ANN)
        .await
        .expect("the contact's phone decrypted the message");
    assert_eq!(decrypted.text.as_deref(), Some(text));
    assert_eq!(decrypted.from, format!("{PHONE}:{}@s.whatsapp.net", device));
    let delivered = wait_until(WAIT, || async {
        session.get(&format!("/messages/{id}")).await.1["status"] == "delivered"
    })
    .await;
    assert!(delivered, "status becomes delivered");
    sim.read(ANN, PHONE, &id).await;
    let read = wait_until(WAIT, || async {
        session.get(&format!("/messages/{id}")).await.1["status"] == "read"
    })
    .await;
    assert!(read, "the read receipt makes it read");

    // A number that is not on WhatsApp fails fast instead of going nowhere.
    let (status, body) = session
        .post("/messages", json!({ "to": NOBODY, "text": "anyone?" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "number_not_on_whatsapp", "{body}");

    // 4. Receive: a Signal message from the contact reaches the webhook, and the phone
    //    gets a receipt for it.
    let inbound = sim
        .send_text(ANN, PHONE, "Thanks! See you at 5")
        .await
        .expect("contact sends");
    let arrived = wait_until(WAIT, || async {
        !receiver.accepted("message.received").is_empty()
    })
    .await;
    assert!(arrived, "message.received reached the webhook");
    let event = receiver.accepted("message.received")[0].json();
    assert_eq!(event["sessionId"], "e2e");
    assert_eq!(event["data"]["messageId"], inbound.as_str());
    assert_eq!(event["data"]["from"], ANN);
    assert_eq!(event["data"]["pushName"], "Ann");
    assert_eq!(event["data"]["type"], "text");
    assert_eq!(event["data"]["text"], "Thanks! See you at 5");
    assert!(
        sim.wait_client_receipt(WAIT, &inbound).await.is_some(),
        "the client acknowledged receipt to the sender"
    );

    // 5. Check numbers and groups answer from the server.
    let (status, checked) = session
        .post("/check-numbers", json!({ "numbers": [ANN, NOBODY, SHOP] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    let result = |n: &str| -> Value {
        checked["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["number"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no result for {n}: {checked}"))
    };
    assert_eq!(result(ANN)["onWhatsApp"], true);
    assert_eq!(result(ANN)["jid"], format!("{ANN}@s.whatsapp.net"));
    assert_eq!(result(NOBODY)["onWhatsApp"], false);
    assert_eq!(result(SHOP)["isBusiness"], true);
    assert_eq!(result(SHOP)["verifiedName"], "Shop GmbH");
    let group = sim
        .add_group(
            "Trainers",
            &[
                (ANN, Admin::Superadmin),
                (PHONE, Admin::Admin),
                (SHOP, Admin::No),
            ],
        )
        .await;
    let (status, groups) = session.get("/groups").await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let listed = &groups["groups"][0];
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(1),
        "{groups}"
    );
    for (field, value) in [
        ("jid", json!(group)),
        ("subject", json!("Trainers")),
        ("description", json!("Trainers (simulated)")),
        // The list's first names stay for existing clients.
        ("name", json!("Trainers")),
        ("topic", json!("Trainers (simulated)")),
        ("owner", json!(format!("{ANN}@s.whatsapp.net"))),
        ("participantCount", json!(3)),
        ("isAdmin", json!(true)),
        ("isSuperAdmin", json!(false)),
        (
            "participants",
            json!([
                { "jid": format!("{ANN}@s.whatsapp.net"), "phone": ANN, "role": "superadmin" },
                { "jid": format!("{PHONE}@s.whatsapp.net"), "phone": PHONE, "role": "admin" },
                { "jid": format!("{SHOP}@s.whatsapp.net"), "phone": SHOP, "role": "member" },
            ]),
        ),
    ] {
        assert_eq!(listed[field], value, "{field}: {listed}");
    }

    // 6. The phone logs the device out: logged_out, then a fresh QR to link again.
    sim.unlink(PHONE, device).await.expect("unlink");
    let relinkable = wait_until(WAIT, || async {
        session.get("").await.1["qrAvailable"] == true
    })
    .await;
    assert!(relinkable, "a new QR after the logout");
    let info = session.get("").await.1;
    assert_eq!(info["status"], "qr", "{info}");
    let seen = statuses(&receiver);
    let logged_out = seen.iter().position(|s| s == "logged_out");
    assert!(
        logged_out.is_some_and(|at| seen[at..].iter().any(|s| s == "qr")),
        "logged_out then qr: {seen:?}"
    );
    assert_ne!(whatsapp::qr_text(&session).await, first_qr, "a new QR");
    assert!(sim.linked_devices(PHONE).await.is_empty());
    let (_, clean) = session.terminate();
    assert!(clean);
}

#[tokio::test]
async fn a_pairing_code_typed_on_the_phone_links_without_a_qr() {
    const CODE_PHONE: &str = "15550003333";
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(CODE_PHONE, "Code User").await;
    sim.add_contact(ANN, "Ann", None).await;
    let home = tempfile::tempdir().unwrap();
    let session = whatsapp::spawn(&sim, "bycode", home.path(), &[]);
    session.wait_status("qr", WAIT).await;

    let (status, body) = session
        .post("/pair-code", json!({ "phone": format!("+{CODE_PHONE}") }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["code"].as_str().expect("code").to_string();
    assert_eq!(
        code.chars().filter(char::is_ascii_alphanumeric).count(),
        8,
        "{body}"
    );
    sim.enter_code(CODE_PHONE, &code)
        .await
        .expect("the phone takes the code");

    let info = session.wait_status("connected", WAIT).await;
    assert_eq!(info["phone"], CODE_PHONE, "{info}");
    assert_eq!(info["pushName"], "Code User", "{info}");
    let (status, sent) = session
        .post("/messages", json!({ "to": ANN, "text": "linked by code" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    let got = sim
        .wait_delivered(WAIT, |d| d.id == id && d.to == ANN)
        .await
        .expect("delivered");
    assert_eq!(got.text.as_deref(), Some("linked by code"));
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `RssAnon`, …); 0 once it is gone.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Files under `dir`, recursively, with their sizes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(meta) = entry.metadata() {
            found.push((path, meta.len()));
        }
    }
    found
}

/// Media a contact sends comes in through the real download path (the `media_conn` IQ,
/// WhatsApp's HTTPS media host, streaming decryption): an honest document is stored byte for
/// byte. A lying sender (1 KiB declared, 200 MiB streamed) is cut off at the cap while the
/// session process's memory stays flat; nothing past the cap stays on disk, the message is
/// acknowledged once and its webhook says why the media is missing.
#[tokio::test]
async fn inbound_media_is_streamed_within_the_cap_and_a_lying_sender_is_cut_off() {
    /// The default `--max-inbound-media-mb`.
    const CAP_MIB: u64 = 64;
    const STREAMED: u64 = 200 * 1024 * 1024;
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let receiver = WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "media",
        PHONE,
        &["--webhook-url", receiver.url.as_str()],
    )
    .await;
    let session = &linked.session;
    let received = |id: &str| {
        receiver
            .accepted("message.received")
            .into_iter()
            .map(|d| d.json())
            .find(|e| e["data"]["messageId"] == id)
    };

    // An honest document: downloaded, decrypted, served back as sent.
    let pdf: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let (honest, _) = sim
        .send_document(
            ANN,
            PHONE,
            wagate_wa_sim::SentDocument::encrypt(&pdf, "application/pdf", "menu.pdf"),
        )
        .await
        .expect("contact sends a document");
    assert!(
        wait_until(WAIT, || async { received(&honest).is_some() }).await,
        "the document's message.received did not arrive"
    );
    let event = received(&honest).unwrap();
    let media = &event["data"]["media"];
    assert_eq!(media["fileName"], "menu.pdf", "{event}");
    assert_eq!(media["size"], pdf.len(), "{event}");
    assert!(media["error"].is_null(), "{event}");
    let url = media["url"].as_str().expect("a media url");
    let served = whatsapp::fetch_media(session, url).await;
    assert_eq!(served.as_ref(), pdf.as_slice());

    // A lying sender: 1 KiB declared, 200 MiB streamed. Memory is sampled all along: the
    // anonymous part (heap, stacks) is what holding media would grow; the rest of the RSS is
    // the binary's code paged in as the TLS and AES paths first run (large in a debug build).
    let pid = session.pid();
    let anon_before = proc_status_kib(pid, "RssAnon");
    let peaks = std::sync::Arc::new([
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    ]);
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peaks, sampling) = (peaks.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                for (peak, field) in peaks.iter().zip(["RssAnon", "VmRSS"]) {
                    peak.fetch_max(
                        proc_status_kib(pid, field),
                        std::sync::atomic::Ordering::SeqCst,
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let (lying, direct_path) = sim
        .send_document(
            ANN,
            PHONE,
            wagate_wa_sim::SentDocument::lying(1024, STREAMED),
        )
        .await
        .expect("contact sends a document");
    let arrived = wait_until(Duration::from_secs(60), || async {
        received(&lying).is_some()
    })
    .await;
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    sampler.join().unwrap();
    assert!(
        arrived,
        "the lying document's message.received did not arrive"
    );
    let event = received(&lying).unwrap();
    let media = &event["data"]["media"];
    assert!(media["url"].is_null(), "{event}");
    assert!(
        media["error"].as_str().is_some_and(|e| e.contains("limit")),
        "the webhook says why the media is missing: {event}"
    );

    let served = sim.media_served(&direct_path);
    assert!(
        (CAP_MIB * 1024 * 1024..STREAMED).contains(&served),
        "the download went on past the cap: {served} of {STREAMED} bytes served"
    );
    let [anon_peak, rss_peak] = [0, 1].map(|i| peaks[i].load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        anon_before > 0 && anon_peak > 0 && rss_peak > 0,
        "memory was not measured: {anon_before} / {anon_peak} / {rss_peak} KiB"
    );
    println!(
        "session process during the lying download: anonymous memory {anon_before} KiB before, \
         {anon_peak} KiB at peak; whole RSS {rss_peak} KiB at peak"
    );
    assert!(
        rss_peak < 64 * 1024 && anon_peak.saturating_sub(anon_before) < 16 * 1024,
        "the session process grew during the download: RSS {rss_peak} KiB at peak, anonymous \
         memory {anon_before} KiB before and {anon_peak} KiB at peak"
    );
    let large: Vec<_> = files_under(&session.dir)
        .into_iter()
        .filter(|(_, size)| *size > CAP_MIB * 1024 * 1024)
        .collect();
    assert!(large.is_empty(), "past the cap on disk: {large:?}");
    let partial: Vec<_> = files_under(&session.dir.join("media"))
        .into_iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "part"))
        .collect();
    assert!(
        partial.is_empty(),
        "a partial download was left: {partial:?}"
    );

    // Acknowledged once: WhatsApp does not redeliver it, and no second event.
    assert!(sim.wait_client_receipt(WAIT, &lying).await.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let receipts = sim
        .client_receipts()
        .await
        .into_iter()
        // `inactive` is a delivery receipt from a client that shows itself unavailable.
        .filter(|r| r.id == lying && matches!(r.kind.as_str(), "delivery" | "inactive"))
        .count();
    assert_eq!(
        receipts, 1,
        "the lying message was receipted {receipts} times"
    );
    let events = receiver
        .accepted("message.received")
        .iter()
        .filter(|d| d.json()["data"]["messageId"] == lying.as_str())
        .count();
    assert_eq!(events, 1);
}
