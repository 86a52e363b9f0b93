//! The `WhatsAppSession` custom resource (`wagate.dev/v1alpha1`): one linked WhatsApp number
//! as a Kubernetes object. The operator turns it into a session pod with its own volume; the
//! router's cluster backend finds sessions through it. Validation that the API server can do
//! (patterns, bounds, CEL) lives in the generated schema, so `kubectl apply` rejects bad specs
//! before any controller sees them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{EventKind, SessionInfo, SessionState, WebhookSettings};

/// Label carrying the external session id on the CR and on everything made for it, when the
/// id is a valid label value (see [`session_id_label_value`]).
pub const SESSION_ID_LABEL: &str = "wagate.dev/session-id";
/// Label naming the CR a session pod belongs to (its StatefulSet carries the CR's name).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Label on every session pod, selected by the shared Service, the NetworkPolicy and the
/// router's pod watch.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const SESSION_COMPONENT: &str = "session";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const APP_NAME: &str = "wagate";
/// The label selector of every session pod.
pub const SESSION_POD_SELECTOR: &str =
    "app.kubernetes.io/name=wagate,app.kubernetes.io/component=session";

/// The session id as a label value, when it is one: label values must start and end with an
/// alphanumeric and fit 63 characters, which `_a` or a 64-character id do not. Lookups go by
/// the CR name ([`resource_name`]); the label is a convenience for `kubectl -l`.
pub fn session_id_label_value(session_id: &str) -> Option<&str> {
    let bytes = session_id.as_bytes();
    let edges_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    (edges_ok && session_id.len() <= 63).then_some(session_id)
}

/// A linked WhatsApp number, run as its own pod with a persistent volume.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "wagate.dev",
    version = "v1alpha1",
    kind = "WhatsAppSession",
    namespaced,
    status = "WhatsAppSessionStatus",
    shortname = "was",
    shortname = "wasession",
    category = "wagate",
    printcolumn = r#"{"name":"Session","type":"string","jsonPath":".status.sessionId"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Phone","type":"string","jsonPath":".status.phone"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new("!has(oldSelf.spec.sessionId) || (has(self.spec.sessionId) && self.spec.sessionId == oldSelf.spec.sessionId)").message("spec.sessionId is immutable once set"),
)]
#[cfg_attr(test, kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct WhatsAppSessionSpec {
    /// External session id used in the REST API; defaults to `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub session_id: Option<String>,
    /// Scale the pod to 0 and keep the link (auth stays on the volume).
    #[serde(default)]
    pub suspend: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSpec>,
    #[serde(default)]
    pub storage: StorageSpec,
    /// Keep the volume (and so the link) when the resource is deleted. `false` purges it.
    #[serde(default = "default_true")]
    pub retain_auth_on_delete: bool,
    #[serde(default)]
    pub sending: SendingSpec,
    #[serde(default)]
    pub pairing: PairingSpec,
    /// How the session behaves on calls, reads, presence and what it reports (the same
    /// object as `PUT .../settings`; changing it rolls the pod onto it).
    #[serde(default)]
    pub settings: crate::SessionSettings,
    /// Resources of the session container; the operator's defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

fn default_true() -> bool {
    true
}

/// Where the session posts its events.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    #[schemars(
        regex(pattern = r"^https?://[^\s/?#]+([/?#]\S*)?$"),
        length(max = 2048)
    )]
    pub url: String,
    /// Events to deliver; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "webhook_events_schema")]
    pub events: Vec<EventKind>,
    /// Secret key holding the HMAC secret for `x-wagate-signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

impl WebhookSpec {
    /// The webhook at `url` (none when blank) for `events` (all when empty), signed with
    /// key `secret` of Secret `secret_name` when one is named.
    pub fn at(
        url: Option<&str>,
        events: Vec<EventKind>,
        secret_name: Option<&str>,
    ) -> Option<Self> {
        let url = url.map(str::trim).filter(|u| !u.is_empty())?;
        Some(Self {
            url: url.to_string(),
            events,
            secret_ref: secret_name
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|name| SecretKeyRef {
                    name: name.to_string(),
                    key: "secret".into(),
                }),
        })
    }

    /// As the API shows it.
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            url: self.url.clone(),
            events: if self.events.is_empty() {
                EventKind::WEBHOOK.to_vec()
            } else {
                self.events.clone()
            },
            has_secret: self.secret_ref.is_some(),
        }
    }
}

/// The events a resource's webhook may subscribe to: [`EventKind::WEBHOOK`] (the SSE-only
/// `qr` is not one), so the API server refuses any other name.
fn webhook_events_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = EventKind::WEBHOOK.iter().map(|e| e.as_str()).collect();
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "string", "enum": names }
    })
}

/// A key of a Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The session's persistent volume (WhatsApp keys, outbox, media).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size as a Kubernetes quantity (e.g. `256Mi`, `1Gi`).
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
    /// Storage class of the claim; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_storage_size() -> String {
    "256Mi".into()
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
        }
    }
}

/// Pace of outgoing messages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendingSpec {
    /// Minimum gap between two sends, 0-60000 ms.
    #[serde(default = "default_min_interval")]
    #[schemars(range(min = 0, max = 60_000))]
    pub min_interval_ms: u32,
}

fn default_min_interval() -> u32 {
    1_000
}

impl Default for SendingSpec {
    fn default() -> Self {
        Self {
            min_interval_ms: default_min_interval(),
        }
    }
}

/// Linking by pairing code instead of QR.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingSpec {
    /// Phone number (digits, with country code) to request a pairing code for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\+?[0-9]{6,15}$"))]
    pub phone_number: Option<String>,
}

/// What the operator observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhatsAppSessionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The external session id in effect (spec or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The session state of the REST API (`qr`, `connected`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_name: Option<String>,
    #[serde(default)]
    pub qr_available: bool,
    /// While waiting for a scan with `spec.pairing.phoneNumber` set: the code to enter on
    /// the phone (WhatsApp → Linked devices → Link with phone number) and its expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
    /// When `pairingCode` expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_code_expires_at: Option<Time>,
    /// When the session was last connected to WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connected: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// Address of the ready session pod (`ip:port`), for the router's cluster backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Coarse lifecycle of the resource, for `kubectl get`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Starting,
    WaitingForScan,
    Connected,
    LoggedOut,
    Banned,
    Suspended,
    Failed,
}

/// Annotation holding the session's API labels as JSON (label values of the API are free
/// text, which Kubernetes labels are not).
pub const LABELS_ANNOTATION: &str = "wagate.dev/labels";

/// A Kubernetes timestamp of a chrono one (what the runtime keeps).
pub fn to_time(t: DateTime<Utc>) -> Time {
    Time(
        Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
            .unwrap_or(Timestamp::UNIX_EPOCH),
    )
}

/// A chrono timestamp of a Kubernetes one.
pub fn from_time(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
        .unwrap_or_default()
}

/// The reason of the `Ready=False` condition the operator gives a resource whose session id
/// another resource owns.
pub const DUPLICATE_SESSION_ID: &str = "DuplicateSessionId";

/// Of the resources that claim one session id, the one that owns it: the oldest that is not
/// being deleted. The operator runs only it and the router routes only to it; a later
/// duplicate (a hand-written YAML with another name) never takes over a linked number.
/// Creation times have a resolution of one second, so a tie goes to the resource the
/// operator already runs (it has a status and was not refused), then to one it has not seen
/// yet, then by name: a duplicate created in the same second as the owner cannot displace it.
pub fn owner_of_session_id<'a>(
    claimants: impl IntoIterator<Item = &'a WhatsAppSession>,
) -> Option<&'a WhatsAppSession> {
    claimants
        .into_iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .min_by_key(|r| {
            let created = r.metadata.creation_timestamp.clone().map(|t| t.0);
            // A resource without a timestamp (not yet stored) sorts after every stored one.
            (
                created.is_none(),
                created,
                r.incumbency(),
                r.metadata.name.clone(),
            )
        })
}

impl WhatsAppSession {
    /// How settled this resource's claim to its session id is (lower wins a tie): run by
    /// the operator, not reconciled yet, refused as a duplicate.
    fn incumbency(&self) -> u8 {
        match &self.status {
            Some(status)
                if status
                    .conditions
                    .iter()
                    .any(|c| c.reason == DUPLICATE_SESSION_ID) =>
            {
                2
            }
            Some(_) => 0,
            None => 1,
        }
    }

    /// Whether this resource claims session `id`, without allocating (the router asks it
    /// of every resource on every request).
    pub fn has_session_id(&self, id: &str) -> bool {
        self.spec
            .session_id
            .as_deref()
            .or(self.metadata.name.as_deref())
            == Some(id)
    }

    /// The external session id: `spec.sessionId`, else the resource name.
    pub fn session_id(&self) -> String {
        self.session_id_str().to_string()
    }

    /// [`session_id`](Self::session_id) without a copy, for indexing thousands of them.
    pub fn session_id_str(&self) -> &str {
        self.spec
            .session_id
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }

    /// The API labels of the session, kept as JSON in [`LABELS_ANNOTATION`].
    pub fn api_labels(&self) -> BTreeMap<String, String> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LABELS_ANNOTATION))
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    /// The session as the API shows it, from this resource alone: configuration from the
    /// spec, state from the operator's status (`ready` is for whoever knows the pod to
    /// say). `default_webhook` is what a session without `spec.webhook` delivers to.
    pub fn session_info(&self, default_webhook: Option<&WebhookSpec>) -> SessionInfo {
        // Borrowed, not cloned: the status also holds conditions, and a cluster list does
        // this for every session.
        let status = self.status.as_ref();
        let state = status
            .and_then(|s| s.status)
            .unwrap_or(if self.spec.suspend {
                SessionState::Stopped
            } else {
                SessionState::Starting
            });
        let webhook = self
            .spec
            .webhook
            .as_ref()
            .or(default_webhook)
            .map(WebhookSpec::settings);
        SessionInfo {
            session_id: self.session_id(),
            status: state,
            ready: false,
            qr_available: status.is_some_and(|s| s.qr_available),
            phone: status.and_then(|s| s.phone.clone()),
            push_name: status.and_then(|s| s.push_name.clone()),
            last_connected: status
                .and_then(|s| s.last_connected.as_ref())
                .map(from_time),
            last_error: status.and_then(|s| s.last_error.clone()),
            created_at: self
                .metadata
                .creation_timestamp
                .as_ref()
                .map(from_time)
                .unwrap_or_else(Utc::now),
            webhook,
            labels: self.api_labels(),
            banned_until: None,
            settings: self.spec.settings.clone(),
            outbox_depth: None,
        }
    }
}

/// The Kubernetes name for a session id: lowercase, `_` → `-`, and a short hash suffix
/// whenever that mapping lost information (or the id is too long for the objects derived
/// from it: a StatefulSet's pods carry `<name>-<revision hash>` labels of ≤ 63 characters).
pub fn resource_name(session_id: &str) -> String {
    const MAX_BASE: usize = 40;
    let mapped: String = session_id
        .chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let lossless = trimmed == session_id && trimmed.len() <= MAX_BASE && !trimmed.is_empty();
    if lossless {
        return trimmed.to_string();
    }
    let base: String = trimmed.chars().take(MAX_BASE).collect();
    let base = base.trim_end_matches('-');
    let suffix = format!("{:04x}", fnv1a(session_id.as_bytes()) & 0xffff);
    if base.is_empty() {
        format!("session-{suffix}")
    } else {
        format!("{base}-{suffix}")
    }
}

/// FNV-1a: a stable, dependency-free hash; collisions only matter between ids that map to
/// the same lowercase base, which the suffix is there to tell apart.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn only_label_safe_session_ids_become_label_values() {
        assert_eq!(session_id_label_value("Trainer_1"), Some("Trainer_1"));
        assert_eq!(session_id_label_value("a"), Some("a"));
        for bad in ["_a", "a-", "", &"x".repeat(64)] {
            assert_eq!(session_id_label_value(bad), None, "{bad}");
        }
    }

    fn session(spec: serde_json::Value) -> WhatsAppSession {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wagate.dev/v1alpha1",
            "kind": "WhatsAppSession",
            "metadata": { "name": "demo" },
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn names_are_dns_labels_and_distinct() {
        assert_eq!(resource_name("trainer-demo"), "trainer-demo");
        let lossy = resource_name("Trainer_1");
        assert!(lossy.starts_with("trainer-1-") && lossy.len() == "trainer-1-".len() + 4);
        assert_ne!(resource_name("Trainer_1"), resource_name("trainer_1"));
        assert_ne!(resource_name("trainer_1"), resource_name("trainer-1"));
        for id in ["_", "-x-", &"A".repeat(64), "a_b-c"] {
            let name = resource_name(id);
            assert!(name.len() <= 45, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
    }

    fn claimant(name: &str, created: &str, status: serde_json::Value) -> WhatsAppSession {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wagate.dev/v1alpha1",
            "kind": "WhatsAppSession",
            "metadata": { "name": name, "creationTimestamp": created },
            "spec": { "sessionId": "shared" },
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn the_oldest_claimant_owns_a_session_id_and_a_same_second_tie_keeps_the_running_one() {
        let refused = serde_json::json!({ "conditions": [{ "type": "Ready", "status": "False",
            "reason": DUPLICATE_SESSION_ID, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z" }] });
        let running = serde_json::json!({ "phase": "Connected" });
        let owner = |claimants: &[WhatsAppSession]| {
            owner_of_session_id(claimants)
                .and_then(|r| r.metadata.name.clone())
                .unwrap()
        };
        // Older wins, whatever the names and statuses.
        let older = claimant("z-old", "2026-01-01T00:00:00Z", serde_json::Value::Null);
        let newer = claimant("a-new", "2026-01-01T00:00:01Z", running.clone());
        assert_eq!(owner(&[newer, older]), "z-old");
        // Same second: the one the operator runs keeps it against a new one that sorts first.
        let running_one = claimant("z-run", "2026-01-01T00:00:00Z", running);
        let new_one = claimant("a-new", "2026-01-01T00:00:00Z", serde_json::Value::Null);
        assert_eq!(owner(&[new_one.clone(), running_one]), "z-run");
        // Once refused, a duplicate stays refused against one not reconciled yet.
        let refused_one = claimant("a-dup", "2026-01-01T00:00:00Z", refused);
        assert_eq!(owner(&[refused_one, new_one]), "a-new");
    }

    #[test]
    fn defaults_keep_auth_and_pace_sends() {
        let s = session(serde_json::json!({}));
        assert!(s.spec.retain_auth_on_delete);
        assert_eq!(s.spec.storage.size, "256Mi");
        assert_eq!(s.spec.sending.min_interval_ms, 1000);
        assert_eq!(s.session_id(), "demo");
    }

    #[test]
    fn session_id_is_immutable_once_set() {
        let set = session(serde_json::json!({ "sessionId": "a_1" }));
        let changed = session(serde_json::json!({ "sessionId": "b_2" }));
        let unset = session(serde_json::json!({}));
        assert!(set.validate_cel_update(&set).is_ok());
        assert!(changed.validate_cel_update(&set).is_err());
        assert!(unset.validate_cel_update(&set).is_err(), "removing it");
        assert!(set.validate_cel_update(&unset).is_ok(), "setting it once");
        let err = changed.validate_cel_update(&set).unwrap_err().to_string();
        assert!(err.contains("immutable"), "{err}");
    }

    #[test]
    fn schema_carries_the_validation() {
        let crd = serde_json::to_string(&WhatsAppSession::crd()).unwrap();
        for needle in [
            "^[A-Za-z0-9_-]{1,64}$",
            "\"maximum\":60000",
            "x-kubernetes-validations",
            "\"shortNames\":[\"was\",\"wasession\"]",
            "\"categories\":[\"wagate\"]",
        ] {
            assert!(crd.contains(needle), "{needle}");
        }
    }
}
