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
        "settings": { "rejectCalls": true, "rejectCallsMessage": "Please write", "autoRead": true },
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

/// The default webhook is what a session without `spec.webhook` gets; its own wins.
#[test]
fn default_webhook_goes_to_sessions_without_their_own() {
    use wagate_api::EventKind;
    use wagate_api::crd::WebhookSpec;
    let config = OperatorConfig {
        default_webhook: WebhookSpec::at(
            Some("https://hooks.example.com/default"),
            vec![EventKind::MessageReceived],
            Some("default-hook"),
        ),
        ..OperatorConfig::default()
    };
    let env_and_secret = |spec: serde_json::Value| {
        let sts = serde_json::to_value(statefulset(&session(spec), &config)).unwrap();
        let pod = &sts["spec"]["template"]["spec"];
        let env: Vec<(String, String)> = pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with("WAGATE_WEBHOOK_"))
            .map(|e| {
                let name = e["name"].as_str().unwrap().to_string();
                (name, e["value"].as_str().unwrap_or_default().to_string())
            })
            .collect();
        let secret = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "webhook-secret")
            .map(|v| v["secret"]["secretName"].as_str().unwrap().to_string());
        (env, secret)
    };
    let (env, secret) = env_and_secret(json!({}));
    assert_eq!(
        env,
        [
            ("WAGATE_WEBHOOK_URL", "https://hooks.example.com/default"),
            ("WAGATE_WEBHOOK_EVENTS", "message.received"),
            (
                "WAGATE_WEBHOOK_SECRET_FILE",
                "/var/run/wagate/webhook/secret"
            ),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(secret.as_deref(), Some("default-hook"));

    let (env, secret) =
        env_and_secret(json!({ "webhook": { "url": "https://app.example.com/own" } }));
    assert_eq!(
        env,
        [(
            "WAGATE_WEBHOOK_URL".to_string(),
            "https://app.example.com/own".to_string()
        )]
    );
    assert_eq!(
        secret, None,
        "the default's Secret is not mounted for an own webhook"
    );
}
