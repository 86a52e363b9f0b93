//! Schema fuzzing of `/openapi.json` with schemathesis: every operation, every phase
//! (coverage, fuzzing, stateful), against the real router binary with the simulator.
//! Fails on any 5xx (apart from the contract's `503 session_not_ready` for a session that
//! is really not connected) and on any response the schema does not document.
//!
//! schemathesis comes from PyPI into a virtualenv under `target/`, once, so a fresh clone
//! needs nothing but `python3`. `WAGATE_FUZZ_EXAMPLES` sets the examples per operation.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{KEY, Router};

/// The schemathesis release this suite is known to pass with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

fn schemathesis() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    crate::support::python_venv(&venv, &[SCHEMATHESIS]).join("st")
}

#[test]
fn openapi_holds_under_schemathesis() {
    let st = schemathesis();
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let base = router.process.base.clone();
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/schemathesis");
    let examples = std::env::var("WAGATE_FUZZ_EXAMPLES").unwrap_or_else(|_| "100".into());
    let checks = [
        "no_unexpected_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
    ]
    .join(",");
    // SSE routes stream until the client leaves; the e2e suites cover them. The
    // `positive_data_acceptance` check is left out: phone numbers, JIDs and media are
    // validated more strictly than JSON Schema can say, so a schema-valid body may still
    // get a documented `400`.
    let output = Command::new(&st)
        .args([
            "run",
            &format!("{base}/openapi.json"),
            "--no-color",
            "--seed",
            "1",
        ])
        .args(["-H", &format!("Authorization: Bearer {KEY}")])
        .args(["--checks", &checks, "--exclude-path-regex", "/events$"])
        .args(["--max-examples", &examples])
        .env("SCHEMATHESIS_HOOKS", "wagate_hooks")
        .env("PYTHONPATH", hooks)
        .env("WAGATE_FUZZ_BASE", &base)
        .env("WAGATE_FUZZ_KEY", KEY)
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed"), "nothing was tested:\n{report}");
}
