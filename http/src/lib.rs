//! The platform side shared by `wagate-session`, `wagate-router` and `wagate-operator`:
//! one way to log (`telemetry`), to serve until SIGTERM with the same flags (`serve`) and
//! layers (`layers`), to authenticate and scope callers (`auth`), to turn bad requests
//! into the contract's errors (`extract`), to answer health and readiness probes
//! (`health`), to keep generated secrets (`secrets`) and to call a session pod
//! (`pod_client`). Nothing here knows about WhatsApp or Kubernetes.

pub mod auth;
pub mod extract;
pub mod health;
pub mod layers;
pub mod pod_client;
pub mod secrets;
pub mod serve;
pub mod telemetry;

pub use extract::{ApiJson, ApiQuery, JsonOrDefault, api_fallback, path_session_id};
pub use layers::{common_layers, limit_inflight, metrics_router};
pub use serve::ServeArgs;
