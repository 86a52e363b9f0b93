//! The standalone router over HTTP with the simulator engine: the collection routes, the
//! per-session routes mounted under them, and their documented errors. The cases shared
//! with the cluster backend are in `contract/cases.rs`.

mod cases;

use crate::support::Process;
pub use crate::support::Router;
use reqwest::StatusCode;
use serde_json::json;

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
    let process = Process::start(crate::support::BIN, args.to_vec());
    let key = std::fs::read_to_string(home.path().join("admin-api-key")).unwrap();
    let api = crate::support::Api::new(&process.base, key.trim());
    let (status, body) = api.get("/v1/sessions").await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "sessions": [] })));
    let (status, _) = crate::support::Api::new(&process.base, "wrong-key-wrong-key")
        .get("/v1/sessions")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
