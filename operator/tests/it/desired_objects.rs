//! Snapshots of the desired StatefulSet and Service for a full and a minimal spec: any
//! change to what the operator applies shows up as a reviewed snapshot diff.

use std::sync::Arc;

use serde_json::json;
use wagate_api::crd::WhatsAppSession;
use wagate_operator::config::OperatorConfig;
use wagate_operator::resources::{shared_service, statefulset};

fn session(spec: serde_json::Value) -> Arc<WhatsAppSession> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "wagate.dev/v1alpha1", "kind": "WhatsAppSession",
            "metadata": { "name": "trainer-demo", "namespace": "team-a", "uid": "0f4c-uid" },
            "spec": spec,
        }))
        .unwrap(),
    )
}

#[test]
fn minimal_spec() {
    let sts = statefulset(&session(json!({})), &OperatorConfig::default());
    insta::assert_yaml_snapshot!(sts);
}

#[test]
fn full_spec() {
    let spec = json!({
        "sessionId": "Trainer_Demo",
        "suspend": false,
        "webhook": { "url": "https://app.example.com/hooks/wa", "events": ["message.received"],
                     "secretRef": { "name": "wa-hooks", "key": "secret" } },
        "storage": { "size": "1Gi", "storageClassName": "fast-ssd" },
        "retainAuthOnDelete": false,
        "sending": { "minIntervalMs": 2000 },
        "pairing": { "phoneNumber": "971501234567" },
        "resources": { "requests": { "cpu": "50m", "memory": "64Mi" }, "limits": { "memory": "256Mi" } }
    });
    let config = OperatorConfig {
        image: "registry.example.com/wagate:1.2.3".into(),
        public_url: Some("https://wa.example.com".into()),
        ..OperatorConfig::default()
    };
    insta::assert_yaml_snapshot!(statefulset(&session(spec), &config));
}

#[test]
fn shared_headless_service() {
    insta::assert_yaml_snapshot!(shared_service("team-a", &OperatorConfig::default()));
}
