//! The connect pacer against the protocol simulator: a router restarting with 50 linked
//! real-engine sessions never has more logins in flight at "WhatsApp" than it was told,
//! and still brings every session back.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use wagate_wa_sim::Simulator;

use crate::support::{Api, BIN, KEY, Process};

const SESSIONS: usize = 50;
const MAX_CONCURRENT_CONNECTS: usize = 4;

fn start_router(home: &std::path::Path, sim: &Simulator) -> Process {
    let args = [
        "--data-dir",
        &home.to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
        "--api-key",
        KEY,
        "--engine",
        "whatsapp",
        "--whatsapp-ws-url",
        &sim.ws_url(),
        "--whatsapp-version",
        "2.3000.1023456789",
        "--max-concurrent-connects",
        &MAX_CONCURRENT_CONNECTS.to_string(),
    ];
    Process::start(BIN, args.iter().map(|s| s.to_string()).collect())
}

/// Creates session `id`, has `phone` scan its QR and waits until it is connected.
async fn link(api: &Api, sim: &Simulator, id: String, phone: String) {
    let (status, body) = api.post("/v1/sessions", json!({ "sessionId": id })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.wait_status(&id, "qr", Duration::from_secs(60)).await;
    let (status, qr) = api.get(&format!("/v1/sessions/{id}/qr?format=json")).await;
    assert_eq!(status, StatusCode::OK, "{qr}");
    sim.scan(qr["qr"].as_str().expect("qr text"), Some(&phone))
        .await
        .expect("scan");
    api.wait_status(&id, "connected", Duration::from_secs(60))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_50_linked_sessions_keeps_to_the_connect_limit() {
    let sim = Simulator::start().await.expect("simulator");
    // Logins take a while, as on a busy server, so that unpaced ones would pile up.
    sim.set_handshake_delay(Duration::from_millis(150)).await;
    let home = tempfile::tempdir().unwrap();
    let mut router = start_router(home.path(), &sim);
    let api = Api::new(&router.base, KEY);
    join_all(
        (0..SESSIONS).map(|n| link(&api, &sim, format!("desk-{n:02}"), format!("9715000{n:05}"))),
    )
    .await;
    assert!(
        sim.login_peak() <= MAX_CONCURRENT_CONNECTS,
        "linking {SESSIONS} sessions had {} logins at once",
        sim.login_peak()
    );

    let (_, clean) = router.terminate();
    assert!(clean, "graceful stop");
    sim.reset_login_peak();
    let router = start_router(home.path(), &sim);
    let api = Api::new(&router.base, KEY);
    for n in 0..SESSIONS {
        let info = api
            .wait_status(
                &format!("desk-{n:02}"),
                "connected",
                Duration::from_secs(90),
            )
            .await;
        assert_eq!(info["phone"], format!("9715000{n:05}"));
    }
    let peak = sim.login_peak();
    assert!(
        peak <= MAX_CONCURRENT_CONNECTS,
        "{peak} logins at once after a restart; the limit is {MAX_CONCURRENT_CONNECTS}"
    );
    // The limit was reached, so it is what held the logins back (not chance).
    assert_eq!(
        peak, MAX_CONCURRENT_CONNECTS,
        "the restart was paced below its limit"
    );
}
