//! The platform side shared by `wagate-session`, `wagate-router` and `wagate-operator`:
//! one way to log (`telemetry`), to serve until SIGTERM, and to answer health and
//! readiness probes (`health`). Nothing here knows about WhatsApp or Kubernetes.

pub mod health;
pub mod telemetry;
