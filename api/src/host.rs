//! Where a session runs, for operators: `GET /v1/sessions/{id}/host`. In this process
//! (`local`), or in a pod the operator made from its `WhatsAppSession` resource
//! (`cluster`), with the resource's phase, conditions and recent Kubernetes events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where sessions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostBackend {
    /// In the router's process, on its disk.
    Local,
    /// In their own pod, from a `WhatsAppSession` resource.
    Cluster,
}

/// `GET /v1/sessions/{id}/host`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionHost {
    pub backend: HostBackend,
    /// `namespace/name` of the resource (cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The resource's phase (cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The pod running the session, when there is one (cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default)]
    pub conditions: Vec<HostCondition>,
    /// The resource's Kubernetes events, newest first.
    #[serde(default)]
    pub events: Vec<HostEvent>,
}

/// One condition of the resource's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<DateTime<Utc>>,
}

/// One Kubernetes event about the resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostEvent {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    pub note: String,
    pub at: Option<DateTime<Utc>>,
}
