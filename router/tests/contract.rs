//! The standalone router over HTTP with the simulator engine: the collection routes, the
//! per-session routes mounted under them, and their documented errors. The cases shared
//! with the cluster backend are in `contract/cases.rs`.

mod support;

#[path = "contract/cases.rs"]
mod cases;

use reqwest::StatusCode;
use serde_json::json;
use support::Process;
pub use support::Router;

#[tokio::test]
async fn no_flags_but_a_data_dir_gives_a_working_gateway_with_a_generated_key() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "--data-dir",
        &home.path().to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
        "--engine",
        "simulator",
    ]
    .map(String::from);
    let process = Process::start(support::BIN, args.to_vec());
    let key = std::fs::read_to_string(home.path().join("admin-api-key")).unwrap();
    let api = support::Api::new(&process.base, key.trim());
    let (status, body) = api.get("/v1/sessions").await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "sessions": [] })));
    let (status, _) = support::Api::new(&process.base, "wrong-key-wrong-key")
        .get("/v1/sessions")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
