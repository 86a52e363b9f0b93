//! The objects a `WhatsAppSession` should have, as pure functions of the resource and the
//! operator's configuration. The reconciler server-side-applies exactly these.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, SeccompProfile, SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use wagate_api::crd::{
    APP_NAME, COMPONENT_LABEL, INSTANCE_LABEL, NAME_LABEL, SESSION_COMPONENT, SESSION_ID_LABEL,
    WhatsAppSession, session_id_label_value,
};

use crate::config::OperatorConfig;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "wagate-operator";
/// Name of the volume claim template; the claim of pod 0 is `data-<name>-0`.
pub const DATA_VOLUME: &str = "data";
const TOKEN_VOLUME: &str = "internal-token";
const WEBHOOK_SECRET_VOLUME: &str = "webhook-secret";
const TMP_VOLUME: &str = "tmp";

/// The name of the volume claim holding the session's data.
pub fn claim_name(session: &WhatsAppSession) -> String {
    format!(
        "{DATA_VOLUME}-{}-0",
        session.meta().name.as_deref().unwrap_or_default()
    )
}

/// The pod the StatefulSet runs.
pub fn pod_name(session: &WhatsAppSession) -> String {
    format!("{}-0", session.meta().name.as_deref().unwrap_or_default())
}

fn selector_labels(session: &WhatsAppSession) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            INSTANCE_LABEL.to_string(),
            session.meta().name.clone().unwrap_or_default(),
        ),
        (COMPONENT_LABEL.to_string(), SESSION_COMPONENT.to_string()),
        (NAME_LABEL.to_string(), APP_NAME.to_string()),
    ])
}

fn labels(session: &WhatsAppSession) -> BTreeMap<String, String> {
    let mut labels = selector_labels(session);
    labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    let session_id = session.session_id();
    if let Some(value) = session_id_label_value(&session_id) {
        labels.insert(SESSION_ID_LABEL.into(), value.to_string());
    }
    labels
}

/// The StatefulSet of one session pod with its own volume.
pub fn statefulset(session: &WhatsAppSession, config: &OperatorConfig) -> StatefulSet {
    let spec = &session.spec;
    let name = session.meta().name.clone().unwrap_or_default();
    let owner = session.controller_owner_ref(&()).into_iter().collect();
    let retention = if spec.retain_auth_on_delete {
        "Retain"
    } else {
        "Delete"
    };
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: session.meta().namespace.clone(),
            labels: Some(labels(session)),
            owner_references: Some(owner),
            ..Default::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(if spec.suspend { 0 } else { 1 }),
            service_name: Some(config.service_name.clone()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(session)),
                ..Default::default()
            },
            // One pod that owns a WhatsApp link: never run two side by side.
            pod_management_policy: Some("OrderedReady".into()),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(retention.into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(session)),
                    ..Default::default()
                }),
                spec: Some(pod_spec(session, config)),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(DATA_VOLUME.into()),
                    labels: Some(labels(session)),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: spec.storage.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_string(),
                            Quantity(spec.storage.size.clone()),
                        )])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn pod_spec(session: &WhatsAppSession, config: &OperatorConfig) -> PodSpec {
    let spec = &session.spec;
    let mut env_vars = vec![
        env("WAGATE_SESSION_ID", session.session_id()),
        env("WAGATE_DATA_DIR", "/data"),
        env("WAGATE_LISTEN", format!("0.0.0.0:{}", config.session_port)),
        env(
            "WAGATE_METRICS_LISTEN",
            format!("0.0.0.0:{}", config.metrics_port),
        ),
        env("WAGATE_API_KEY_FILE", "/var/run/wagate/token/token"),
        env(
            "WAGATE_SEND_INTERVAL_MS",
            spec.sending.min_interval_ms.to_string(),
        ),
        env("WAGATE_LOG_FORMAT", "json"),
        EnvVar {
            name: "POD_NAME".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    let mut volumes = vec![
        secret_volume(
            TOKEN_VOLUME,
            &config.token_secret,
            &config.token_key,
            "token",
        ),
        Volume {
            name: TMP_VOLUME.into(),
            empty_dir: Some(Default::default()),
            ..Default::default()
        },
    ];
    let mut mounts = vec![
        mount(DATA_VOLUME, "/data"),
        mount(TOKEN_VOLUME, "/var/run/wagate/token"),
        mount(TMP_VOLUME, "/tmp"),
    ];
    if let Some(url) = &config.public_url {
        env_vars.push(env("WAGATE_PUBLIC_URL", url.clone()));
    }
    if let Some(cidrs) = &config.egress_allow_cidrs {
        env_vars.push(env("WAGATE_EGRESS_ALLOW_CIDRS", cidrs.clone()));
    }
    if let Some(cidrs) = &config.egress_deny_cidrs {
        env_vars.push(env("WAGATE_EGRESS_DENY_CIDRS", cidrs.clone()));
    }
    if let Some(webhook) = spec.webhook.as_ref().or(config.default_webhook.as_ref()) {
        env_vars.push(env("WAGATE_WEBHOOK_URL", webhook.url.clone()));
        if !webhook.events.is_empty() {
            let events: Vec<&str> = webhook.events.iter().map(|e| e.as_str()).collect();
            env_vars.push(env("WAGATE_WEBHOOK_EVENTS", events.join(",")));
        }
        if let Some(secret) = &webhook.secret_ref {
            volumes.push(secret_volume(
                WEBHOOK_SECRET_VOLUME,
                &secret.name,
                &secret.key,
                "secret",
            ));
            mounts.push(mount(WEBHOOK_SECRET_VOLUME, "/var/run/wagate/webhook"));
            env_vars.push(env(
                "WAGATE_WEBHOOK_SECRET_FILE",
                "/var/run/wagate/webhook/secret",
            ));
        }
    }
    // The resource is the truth, as for the webhook. Left out while they are the defaults
    // (a pod without them keeps defaults too: the router never forwards `settings`), so an
    // operator upgrade does not roll every session's pod.
    if spec.settings != wagate_api::SessionSettings::default() {
        env_vars.push(env(
            "WAGATE_SESSION_SETTINGS",
            serde_json::to_string(&spec.settings).expect("settings serialize"),
        ));
    }
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(config.session_port)),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Default::default()
    };
    PodSpec {
        // Only the token Secret is mounted; the pod never talks to the Kubernetes API.
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        // Flushes both SQLite stores and the outbox on SIGTERM (well under this).
        termination_grace_period_seconds: Some(30),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            fs_group: Some(65532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        containers: vec![Container {
            name: "session".into(),
            image: Some(config.image.clone()),
            image_pull_policy: Some(config.image_pull_policy.clone()),
            command: Some(vec!["wagate-session".into()]),
            env: Some(env_vars),
            ports: Some(vec![
                ContainerPort {
                    name: Some("http".into()),
                    container_port: i32::from(config.session_port),
                    ..Default::default()
                },
                ContainerPort {
                    name: Some("metrics".into()),
                    container_port: i32::from(config.metrics_port),
                    ..Default::default()
                },
            ]),
            liveness_probe: Some(probe("/healthz", 10)),
            readiness_probe: Some(probe("/readyz", 5)),
            resources: spec
                .resources
                .clone()
                .or_else(|| config.default_resources.clone()),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            volume_mounts: Some(mounts),
            ..Default::default()
        }],
        volumes: Some(volumes),
        ..Default::default()
    }
}

/// Bytes in a Kubernetes quantity of the forms the CRD allows (`256Mi`, `1Gi`, `1.5G`, `500k`).
pub fn quantity_bytes(quantity: &str) -> Option<f64> {
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let factor = match unit {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// One key of a Secret as a file, readable by the pod's group only.
fn secret_volume(name: &str, secret: &str, key: &str, file: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            items: Some(vec![k8s_openapi::api::core::v1::KeyToPath {
                key: key.into(),
                path: file.into(),
                ..Default::default()
            }]),
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

/// The one headless Service all session pods share: each pod gets a stable DNS name
/// (`<name>-0.<service>`), and the NetworkPolicy and metrics scrapes select it.
pub fn shared_service(namespace: &str, config: &OperatorConfig) -> Service {
    let selector = BTreeMap::from([
        (COMPONENT_LABEL.to_string(), SESSION_COMPONENT.to_string()),
        ("app.kubernetes.io/name".to_string(), "wagate".to_string()),
    ]);
    let mut labels = selector.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    Service {
        metadata: ObjectMeta {
            name: Some(config.service_name.clone()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Pods are addressable while starting, so the operator can read their status.
            publish_not_ready_addresses: Some(true),
            selector: Some(selector),
            ports: Some(vec![
                ServicePort {
                    name: Some("http".into()),
                    port: i32::from(config.session_port),
                    target_port: Some(IntOrString::String("http".into())),
                    ..Default::default()
                },
                ServicePort {
                    name: Some("metrics".into()),
                    port: i32::from(config.metrics_port),
                    target_port: Some(IntOrString::String("metrics".into())),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantities_compare_across_units() {
        let q = |s| super::quantity_bytes(s).unwrap();
        assert!(q("1Gi") > q("1G") && q("1G") > q("512Mi"));
        assert_eq!(q("1.5Ki"), 1536.0);
        assert_eq!(super::quantity_bytes("12Xi"), None);
    }
}
