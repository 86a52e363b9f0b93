//! `kubectl apply --dry-run=client` of `crds/` and `examples/` against a fake discovery and
//! API server, so kubectl parses and maps every document without a cluster.

use std::path::Path;
use std::process::Command;

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};
use wagate_api::crd::WhatsAppSession;

/// The discovery documents kubectl needs to map the two kinds to resources.
fn discovery() -> axum::Router {
    let fixed = |value: Value| get(move || async move { Json(value) });
    let group = |name: &str, version: &str| {
        json!({ "name": name, "versions": [{ "groupVersion": format!("{name}/{version}"), "version": version }],
                "preferredVersion": { "groupVersion": format!("{name}/{version}"), "version": version } })
    };
    let resources = |gv: &str, name: &str, kind: &str, namespaced: bool| {
        json!({ "kind": "APIResourceList", "groupVersion": gv, "resources": [{
            "name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind,
            "verbs": ["create", "get", "list", "patch", "update", "delete", "watch"] }] })
    };
    axum::Router::new()
        .route(
            "/version",
            fixed(json!({ "major": "1", "minor": "33", "gitVersion": "v1.33.0" })),
        )
        .route(
            "/api",
            fixed(json!({ "kind": "APIVersions", "versions": ["v1"] })),
        )
        .route(
            "/api/v1",
            fixed(json!({ "kind": "APIResourceList", "groupVersion": "v1", "resources": [] })),
        )
        .route(
            "/apis",
            fixed(json!({ "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [group("apiextensions.k8s.io", "v1"), group("wagate.dev", "v1alpha1")] })),
        )
        .route(
            "/apis/apiextensions.k8s.io/v1",
            fixed(resources(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
            )),
        )
        .route(
            "/apis/wagate.dev/v1alpha1",
            fixed(resources(
                "wagate.dev/v1alpha1",
                "whatsappsessions",
                "WhatsAppSession",
                true,
            )),
        )
}

fn kubectl(server: &str, args: &[&str]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("kubectl")
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("none"))
        .args([
            "--server",
            server,
            "apply",
            "--dry-run=client",
            "--validate=false",
        ])
        .args(args)
        .output()
        .expect("kubectl is required for this test (it is on the CI machine)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn crds_and_examples_pass_kubectl_dry_run() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, discovery()).await });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (crds, examples) = (root.join("crds"), root.join("examples"));
    let (crd, sessions) = tokio::task::spawn_blocking(move || {
        (
            kubectl(&server, &["-f", &crds.to_string_lossy()]),
            kubectl(&server, &["-f", &examples.to_string_lossy()]),
        )
    })
    .await
    .unwrap();
    assert!(
        crd.0
            && crd
                .1
                .contains("whatsappsessions.wagate.dev created (dry run)"),
        "{}",
        crd.1
    );
    assert!(sessions.0, "{}", sessions.1);
    let count = std::fs::read_dir(root.join("examples")).unwrap().count();
    assert_eq!(
        sessions.1.matches("created (dry run)").count(),
        count,
        "{}",
        sessions.1
    );
}

/// Offline kubectl cannot fetch the schema, so each example is also read into the Rust
/// type the CRD is generated from: unknown fields or wrong types fail here.
#[test]
fn examples_match_the_crd_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap();
        let session: WhatsAppSession = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Round-trip: every field written in the example is one the type knows.
        let back = serde_json::to_value(&session).unwrap();
        assert_spec_known(&value["spec"], &back["spec"], &path.display().to_string());
    }
}

fn assert_spec_known(written: &Value, parsed: &Value, at: &str) {
    if let (Some(written), Some(parsed)) = (written.as_object(), parsed.as_object()) {
        for (key, value) in written {
            let known = parsed
                .get(key)
                .unwrap_or_else(|| panic!("{at}: unknown field {key}"));
            assert_spec_known(value, known, &format!("{at}.{key}"));
        }
    }
}
