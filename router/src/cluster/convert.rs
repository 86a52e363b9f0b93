//! Pure conversions between the REST contract and Kubernetes objects: the resource a
//! `POST /v1/sessions` creates, the webhook Secret, a pod's address. (A resource as a
//! `SessionInfo` is `WhatsAppSession::session_info`, in `wagate-api`.)

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use wagate_api::WebhookConfig;
pub use wagate_api::crd::LABELS_ANNOTATION;
use wagate_api::crd::{
    SESSION_ID_LABEL, SecretKeyRef, WebhookSpec, WhatsAppSession, WhatsAppSessionSpec,
    resource_name, session_id_label_value,
};

use super::index::PodAddress;

/// Marks objects the router made (the webhook Secrets it may replace and delete).
pub const CREATED_BY_LABEL: &str = "app.kubernetes.io/created-by";
pub const ROUTER: &str = "wagate-router";
/// Names the webhook Secret the router made for a resource: only that one is ever deleted
/// by the router, which needs no right to read Secrets to know it.
pub const ROUTER_SECRET_ANNOTATION: &str = "wagate.dev/router-webhook-secret";
/// Key of the HMAC secret inside a webhook Secret.
pub const WEBHOOK_SECRET_KEY: &str = "secret";
const DEFAULT_HTTP_PORT: i32 = 8080;
const DEFAULT_METRICS_PORT: i32 = 9090;

/// The resource a `POST /v1/sessions` creates.
pub fn session_resource(
    session_id: &str,
    webhook: Option<WebhookSpec>,
    labels: &BTreeMap<String, String>,
) -> WhatsAppSession {
    let mut resource = WhatsAppSession::new(
        &resource_name(session_id),
        WhatsAppSessionSpec {
            session_id: Some(session_id.to_string()),
            webhook,
            ..serde_json::from_value(serde_json::json!({})).expect("spec defaults")
        },
    );
    let mut k8s_labels = BTreeMap::from([(CREATED_BY_LABEL.to_string(), ROUTER.to_string())]);
    if let Some(value) = session_id_label_value(session_id) {
        k8s_labels.insert(SESSION_ID_LABEL.into(), value.into());
    }
    resource.metadata.labels = Some(k8s_labels);
    resource.metadata.annotations = labels_annotation(labels);
    resource
}

/// `metadata.annotations` carrying the API labels (none when there are none).
pub fn labels_annotation(labels: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!labels.is_empty()).then(|| {
        BTreeMap::from([(
            LABELS_ANNOTATION.to_string(),
            serde_json::to_string(labels).expect("labels serialize"),
        )])
    })
}

/// Name of a new Secret holding a webhook secret: fresh for every new secret, so the pod
/// template changes and the operator rolls the pod. Random rather than derived from the
/// secret: a digest in a name anyone with `list secrets` can read would let them test
/// guesses of the secret offline.
pub fn webhook_secret_name(resource_name: &str) -> String {
    let suffix: [u8; 5] = rand::random();
    format!("{resource_name}-webhook-{}", hex::encode(suffix))
}

/// Whether `name` has the shape of a Secret [`webhook_secret_name`] makes for the resource:
/// the annotation that names it can be edited by whoever edits the resource, and must not
/// make the router delete another Secret (the internal token, say).
pub fn is_webhook_secret_name(resource_name: &str, name: &str) -> bool {
    name.strip_prefix(resource_name)
        .and_then(|rest| rest.strip_prefix("-webhook-"))
        .is_some_and(|suffix| {
            suffix.len() == 10
                && suffix
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// The `spec.webhook` of an API webhook; `secret_ref` names the Secret with its secret.
pub fn webhook_spec(config: &WebhookConfig, secret_ref: Option<SecretKeyRef>) -> WebhookSpec {
    WebhookSpec {
        url: config.url.clone(),
        // Validated at the edge: only webhook events.
        events: config.events.clone().unwrap_or_default(),
        secret_ref,
    }
}

/// The Secret of a webhook secret, owned by the resource so it goes when the session goes.
pub fn webhook_secret(owner: &WhatsAppSession, name: &str, secret: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: owner.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([(
                CREATED_BY_LABEL.to_string(),
                ROUTER.to_string(),
            )])),
            owner_references: owner.controller_owner_ref(&()).map(|mut r| {
                // The operator is the controller of the resource's children; this is a plain owner.
                r.controller = None;
                vec![r]
            }),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([(
            WEBHOOK_SECRET_KEY.to_string(),
            secret.to_string(),
        )])),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The address of a pod that can take requests: ready, not terminating, with an IP.
pub fn pod_address(pod: &Pod) -> Option<PodAddress> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let ip = status.pod_ip.as_deref().filter(|ip| !ip.is_empty())?;
    if !ready {
        return None;
    }
    let port = |name: &str, default: i32| {
        pod.spec
            .iter()
            .flat_map(|s| &s.containers)
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name))
            .map_or(default, |p| p.container_port)
    };
    // An IPv6 pod IP needs brackets in `ip:port`.
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    Some(PodAddress {
        http: format!("{host}:{}", port("http", DEFAULT_HTTP_PORT)),
        metrics: format!("{host}:{}", port("metrics", DEFAULT_METRICS_PORT)),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wagate_api::{EventKind, SessionState};

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_ready_pods_with_an_ip_have_an_address() {
        let ready = json!({
            "metadata": { "name": "a-0", "uid": "u1" },
            "spec": { "containers": [{ "name": "session", "ports": [
                { "name": "http", "containerPort": 18080 }, { "name": "metrics", "containerPort": 19090 } ] }] },
            "status": { "podIP": "10.1.2.3", "conditions": [{ "type": "Ready", "status": "True" }] }
        });
        assert_eq!(
            pod_address(&pod(ready.clone())),
            Some(PodAddress {
                http: "10.1.2.3:18080".into(),
                metrics: "10.1.2.3:19090".into(),
                uid: "u1".into()
            })
        );
        let mut not_ready = ready.clone();
        not_ready["status"]["conditions"][0]["status"] = json!("False");
        assert_eq!(pod_address(&pod(not_ready)), None);
        let mut no_ip = ready.clone();
        no_ip["status"]["podIP"] = json!(null);
        assert_eq!(pod_address(&pod(no_ip)), None);
        let mut terminating = ready.clone();
        terminating["metadata"]["deletionTimestamp"] = json!("2026-11-23T10:00:00Z");
        assert_eq!(pod_address(&pod(terminating)), None);
        let mut v6 = ready;
        v6["status"]["podIP"] = json!("fd00::7");
        v6["spec"]["containers"][0]["ports"] = json!([]);
        assert_eq!(pod_address(&pod(v6)).unwrap().http, "[fd00::7]:8080");
    }

    #[test]
    fn a_created_resource_carries_id_labels_and_webhook() {
        let labels = BTreeMap::from([("team".to_string(), "sales & support".to_string())]);
        let config = WebhookConfig {
            url: "https://hooks.example.com/wa".into(),
            events: Some(vec![EventKind::MessageReceived]),
            secret: Some("s3cret".into()),
        };
        let secret_name = webhook_secret_name("trainer-1-5f3a");
        assert!(is_webhook_secret_name("trainer-1-5f3a", &secret_name));
        for other in [
            "wagate-internal-token",
            "trainer-1-5f3a-webhook-",
            "trainer-1-5f3a-webhook-0123456789x",
        ] {
            assert!(!is_webhook_secret_name("trainer-1-5f3a", other), "{other}");
        }
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b"s3cret"))
        };
        assert!(
            !secret_name.contains(&digest[..6]),
            "the name carries nothing of the secret"
        );
        let spec = webhook_spec(
            &config,
            Some(SecretKeyRef {
                name: secret_name.clone(),
                key: WEBHOOK_SECRET_KEY.into(),
            }),
        );
        let resource = session_resource("Trainer_1", Some(spec), &labels);
        assert_eq!(
            resource.metadata.name.as_deref(),
            Some(resource_name("Trainer_1").as_str())
        );
        assert_eq!(resource.spec.session_id.as_deref(), Some("Trainer_1"));
        assert!(resource.spec.retain_auth_on_delete, "CRD default kept");
        assert_eq!(
            resource.metadata.labels.as_ref().unwrap()[SESSION_ID_LABEL],
            "Trainer_1"
        );
        let info = resource.session_info(None);
        assert_eq!(info.labels, labels, "labels survive the annotation");
        assert_eq!(info.status, SessionState::Starting);
        let webhook = info.webhook.unwrap();
        assert_eq!(webhook.events, vec![EventKind::MessageReceived]);
        assert!(webhook.has_secret);
        assert_ne!(
            secret_name,
            webhook_secret_name("trainer-1-5f3a"),
            "a new secret is a new Secret name"
        );
        assert!(
            !session_resource("_x", None, &BTreeMap::new())
                .metadata
                .labels
                .unwrap()
                .contains_key(SESSION_ID_LABEL),
            "ids that are no label value stay out of labels"
        );
    }
}
