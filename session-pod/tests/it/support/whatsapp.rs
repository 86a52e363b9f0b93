//! The real `whatsapp` engine against the protocol simulator: flags and linking.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use wagate_e2e::SessionProcess;
use wagate_wa_sim::{LinkedDevice, Simulator};

/// Any version: the simulator does not gate on it, and pinning skips the fetch from
/// web.whatsapp.com that this machine cannot make.
pub const VERSION: &str = "2.3000.1023456789";

/// `WAGATE_SIM_LOG=debug` prints every node the simulator sends and receives.
fn sim_log() {
    if let Ok(filter) = std::env::var("WAGATE_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(format!("wagate_wa_sim={filter}"))
            .with_test_writer()
            .try_init();
    }
}

/// A real-engine session process dialing `sim`, with data under `home`.
pub fn spawn(sim: &Simulator, id: &str, home: &Path, extra: &[&str]) -> SessionProcess {
    sim_log();
    let ws = sim.ws_url();
    let mut args = vec![
        "--engine",
        "whatsapp",
        "--whatsapp-ws-url",
        ws.as_str(),
        "--whatsapp-version",
        VERSION,
        "--send-interval-ms",
        "0",
        // Restarted pods log in at once: the spread is for fleets, not for one test.
        "--connect-spread-secs",
        "0",
    ];
    args.extend_from_slice(extra);
    super::spawn(id, home, &args)
}

/// The QR text the session shows, once it shows one.
pub async fn qr_text(session: &SessionProcess) -> String {
    session.wait_status("qr", Duration::from_secs(20)).await;
    let (status, body) = session.get("/qr?format=json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["qr"].as_str().expect("qr text").to_string()
}

/// Scans the session's QR with `phone`'s phone and waits until the session is connected.
pub async fn link(sim: &Simulator, session: &SessionProcess, phone: &str) -> LinkedDevice {
    let qr = qr_text(session).await;
    let linked = sim.scan(&qr, Some(phone)).await.expect("scan");
    session
        .wait_status("connected", Duration::from_secs(20))
        .await;
    linked
}

/// A real-engine session already linked to `phone`, with its data dir.
pub struct Linked {
    pub session: SessionProcess,
    pub device: u16,
    pub home: tempfile::TempDir,
}

pub async fn linked(sim: &Simulator, id: &str, phone: &str, extra: &[&str]) -> Linked {
    let home = tempfile::tempdir().expect("tempdir");
    let session = spawn(sim, id, home.path(), extra);
    let device = link(sim, &session, phone).await.device;
    Linked {
        session,
        device,
        home,
    }
}

/// How long a phone may take to decrypt what the session sent (20 MiB media included).
const DECRYPT_WAIT: Duration = Duration::from_secs(60);

/// Sends `body` (`to` is set to `to`) through the session's API, expects `200`, and returns
/// what `to`'s phone decrypted of it.
pub async fn send_and_decrypt(
    session: &SessionProcess,
    sim: &Simulator,
    to: &str,
    mut body: serde_json::Value,
) -> wagate_wa_sim::Delivered {
    body["to"] = to.into();
    let (status, sent) = session.post("/messages", body).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().expect("a message id").to_string();
    sim.wait_delivered(DECRYPT_WAIT, |d| d.id == id && d.to == to)
        .await
        .unwrap_or_else(|| panic!("{to}'s phone did not decrypt message {id}"))
}

/// The bytes the session serves at a `media.url` of a `message.received` event.
pub async fn fetch_media(session: &SessionProcess, url: &str) -> bytes::Bytes {
    let path = url
        .rfind("/media/")
        .map(|i| &url[i..])
        .expect("a media path");
    let response = session
        .client()
        .get(session.url(path))
        .bearer_auth(wagate_e2e::KEY)
        .send()
        .await
        .expect("media request");
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.expect("media body")
}
