//! `kubectl apply --dry-run=client` of `crds/`, `examples/` and the rendered Helm chart
//! against a fake discovery and API server, so kubectl parses and maps every document
//! without a cluster. The chart is rendered and checked by `charts/tests/check_chart.py`
//! (Helm's Go library via helm-python-sdk, kubernetes-validate in strict mode), whose Role
//! rules are compared here with the calls the binaries make (`wagate_api::rbac`).

use std::path::Path;
use std::process::Command;

use axum::Json;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use wagate_api::crd::WhatsAppSession;

/// Every API group/version kubectl must map for `crds/`, `examples/` and the rendered chart:
/// (groupVersion, [(resource, kind, namespaced)]).
/// A resource kubectl can map: (resource, kind, namespaced).
type Mapped = (&'static str, &'static str, bool);

const DISCOVERY: &[(&str, &[Mapped])] = &[
    (
        "v1",
        &[
            ("secrets", "Secret", true),
            ("serviceaccounts", "ServiceAccount", true),
            ("services", "Service", true),
        ],
    ),
    (
        "apiextensions.k8s.io/v1",
        &[(
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        )],
    ),
    (
        "wagate.dev/v1alpha1",
        &[("whatsappsessions", "WhatsAppSession", true)],
    ),
    ("apps/v1", &[("deployments", "Deployment", true)]),
    (
        "rbac.authorization.k8s.io/v1",
        &[
            ("roles", "Role", true),
            ("rolebindings", "RoleBinding", true),
        ],
    ),
    (
        "networking.k8s.io/v1",
        &[("networkpolicies", "NetworkPolicy", true)],
    ),
    (
        "policy/v1",
        &[("poddisruptionbudgets", "PodDisruptionBudget", true)],
    ),
    (
        "monitoring.coreos.com/v1",
        &[("servicemonitors", "ServiceMonitor", true)],
    ),
];

/// The discovery documents kubectl reads to map kinds to resources.
fn discovery() -> axum::Router {
    let fixed = |value: Value| get(move || async move { Json(value) });
    let resource_list = |gv: &str, resources: &[Mapped]| {
        let resources: Vec<Value> = resources
            .iter()
            .map(|(name, kind, namespaced)| {
                json!({ "name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                        "kind": kind, "verbs": ["create", "get", "list", "patch", "update", "delete", "watch"] })
            })
            .collect();
        json!({ "kind": "APIResourceList", "groupVersion": gv, "resources": resources })
    };
    let groups: Vec<Value> = DISCOVERY
        .iter()
        .filter_map(|(gv, _)| gv.split_once('/'))
        .map(|(name, version)| {
            let gv = json!({ "groupVersion": format!("{name}/{version}"), "version": version });
            json!({ "name": name, "versions": [gv.clone()], "preferredVersion": gv })
        })
        .collect();
    let mut router = axum::Router::new()
        .route(
            "/version",
            fixed(json!({ "major": "1", "minor": "33", "gitVersion": "v1.33.0" })),
        )
        .route(
            "/api",
            fixed(json!({ "kind": "APIVersions", "versions": ["v1"] })),
        )
        .route(
            "/apis",
            fixed(json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })),
        );
    for (gv, resources) in DISCOVERY {
        let path = if gv.contains('/') {
            format!("/apis/{gv}")
        } else {
            format!("/api/{gv}")
        };
        router = router.route(&path, fixed(resource_list(gv, resources)));
    }
    router
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

/// Serves the fake discovery API; returns its URL.
async fn discovery_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, discovery()).await });
    server
}

/// The Python tools the chart check uses, pinned.
const CHART_TOOLS: &[&str] = &[
    "helm-python-sdk==0.2.2",
    "kubernetes-validate==1.37.0",
    "PyYAML==6.0.2",
];

/// Runs `charts/tests/check_chart.py` once per test binary; returns its output folder
/// (rendered manifests per values file, `roles.json`).
fn checked_chart() -> &'static Path {
    static OUT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let bin = wagate_e2e::python_venv(&tmp.join("chart-venv"), CHART_TOOLS);
        let out = tmp.join("chart-rendered");
        let _ = std::fs::remove_dir_all(&out);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let result = Command::new(bin.join("python"))
            .arg(root.join("charts/tests/check_chart.py"))
            .arg(&root)
            .arg(&out)
            .output()
            .expect("python");
        assert!(
            result.status.success(),
            "chart check failed:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        out
    })
}

#[tokio::test]
async fn the_rendered_chart_passes_kubectl_dry_run_for_every_values_file() {
    let out = checked_chart();
    let server = discovery_server().await;
    let rendered: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(
        rendered.len() >= 2,
        "default + production values: {rendered:?}"
    );
    for file in rendered {
        let server = server.clone();
        let path = file.to_string_lossy().to_string();
        let (ok, text) = tokio::task::spawn_blocking(move || kubectl(&server, &["-f", &path]))
            .await
            .unwrap();
        assert!(ok, "{}: {text}", file.display());
        for kind in ["deployment.apps", "role.rbac", "networkpolicy", "secret"] {
            assert!(
                text.contains(kind),
                "{}: no {kind} in\n{text}",
                file.display()
            );
        }
    }
}

/// `defaultWebhook` reaches the operator (which gives it to session pods) and the router
/// (which shows it in the sessions' info) as the same env, under the names their flags read.
#[test]
fn the_charts_default_webhook_reaches_the_operator_and_the_router_alike() {
    let text = std::fs::read_to_string(checked_chart().join("production.yaml")).unwrap();
    let env_of = |suffix: &str| -> Vec<(String, String)> {
        let deployment = serde_yaml::Deserializer::from_str(&text)
            .map(|doc| Value::deserialize(doc).unwrap())
            .find(|o| {
                o["kind"] == "Deployment"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(suffix))
            })
            .unwrap_or_else(|| panic!("no Deployment *{suffix}"));
        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("WAGATE_DEFAULT_WEBHOOK_"))
            })
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let expected: Vec<(String, String)> = [
        (
            "WAGATE_DEFAULT_WEBHOOK_URL",
            "https://hooks.example.com/wagate",
        ),
        (
            "WAGATE_DEFAULT_WEBHOOK_EVENTS",
            "message.received,message.status",
        ),
        (
            "WAGATE_DEFAULT_WEBHOOK_SECRET_NAME",
            "wagate-default-webhook",
        ),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .to_vec();
    assert_eq!(env_of("-operator"), expected);
    assert_eq!(env_of("-router"), expected);
}

#[test]
fn the_charts_rbac_grants_exactly_the_calls_the_binaries_make() {
    let roles: std::collections::BTreeMap<String, Vec<Value>> =
        serde_json::from_str(&std::fs::read_to_string(checked_chart().join("roles.json")).unwrap())
            .unwrap();
    let granted = |suffix: &str| {
        let rules = roles
            .iter()
            .find(|(name, _)| name.ends_with(suffix))
            .unwrap_or_else(|| panic!("no Role *{suffix} in {roles:?}"))
            .1;
        let mut triples = std::collections::BTreeSet::new();
        for rule in rules {
            for group in rule["apiGroups"].as_array().unwrap() {
                for resource in rule["resources"].as_array().unwrap() {
                    for verb in rule["verbs"].as_array().unwrap() {
                        triples.insert((
                            group.as_str().unwrap().to_string(),
                            resource.as_str().unwrap().to_string(),
                            verb.as_str().unwrap().to_string(),
                        ));
                    }
                }
            }
        }
        triples
    };
    let listed = |calls: &[wagate_api::rbac::ApiCall]| {
        calls
            .iter()
            .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        granted("-operator"),
        listed(wagate_api::rbac::OPERATOR_CALLS)
    );
    assert_eq!(granted("-router"), listed(wagate_api::rbac::ROUTER_CALLS));
}

#[tokio::test]
async fn crds_and_examples_pass_kubectl_dry_run() {
    let server = discovery_server().await;
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
    let count = example_files().len();
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
    for path in example_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap();
        let session: WhatsAppSession = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Round-trip: every field written in the example is one the type knows.
        let back = serde_json::to_value(&session).unwrap();
        assert_spec_known(&value["spec"], &back["spec"], &path.display().to_string());
    }
}

/// The session resources in `examples/` (Helm values live in `examples/values/`).
fn example_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect()
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
