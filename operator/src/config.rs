//! What the operator needs to know beyond the resource itself: the session image, the shared
//! Service, the internal token Secret, pacing of status polls. Filled from flags.

use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceRequirements;
use wagate_api::crd::WebhookSpec;

#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Image of the session pod (`wagate-session`).
    pub image: String,
    pub image_pull_policy: String,
    /// The headless Service all session pods share (stable DNS for each pod).
    pub service_name: String,
    /// Secret holding the internal token the router and the operator present to pods.
    pub token_secret: String,
    pub token_key: String,
    /// Port the session pod serves its API on (8080 in-cluster; tests point elsewhere).
    pub session_port: u16,
    pub metrics_port: u16,
    /// Resources of a session container when the spec gives none.
    pub default_resources: Option<ResourceRequirements>,
    /// The webhook of sessions whose spec names none (its Secret, when it has one, is in
    /// each session's namespace).
    pub default_webhook: Option<WebhookSpec>,
    /// Status poll while connected / while not (linking needs a faster loop).
    pub requeue_connected: Duration,
    pub requeue_pending: Duration,
    /// Bound on the logout call at deletion; past it the finalizer goes anyway.
    pub logout_timeout: Duration,
    /// Bound on reading a pod's status.
    pub status_timeout: Duration,
    /// The router's public URL, so links a session hands out (inbound media URLs in
    /// webhooks, QR links) point at the router rather than at the pod.
    pub public_url: Option<String>,
    /// The session pods' `--egress-allow-cidrs` / `--egress-deny-cidrs` (comma-separated).
    pub egress_allow_cidrs: Option<String>,
    pub egress_deny_cidrs: Option<String>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            image: "ghcr.io/wagate/wagate:latest".into(),
            image_pull_policy: "IfNotPresent".into(),
            service_name: "wagate-sessions".into(),
            token_secret: "wagate-internal-token".into(),
            token_key: "token".into(),
            session_port: 8080,
            public_url: None,
            egress_allow_cidrs: None,
            egress_deny_cidrs: None,
            metrics_port: 9090,
            default_resources: None,
            default_webhook: None,
            requeue_connected: Duration::from_secs(60),
            requeue_pending: Duration::from_secs(5),
            logout_timeout: Duration::from_secs(10),
            status_timeout: Duration::from_secs(3),
        }
    }
}
