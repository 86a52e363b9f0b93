//! `GET /v1/sessions/{id}/host` in cluster mode: the resource, its phase and conditions,
//! its pod, and the Kubernetes events the operator wrote about it.

use kube::api::ListParams;
use wagate_api::crd::from_time;
use wagate_api::{ApiError, HostBackend, HostCondition, HostEvent, SessionHost};

use super::Shared;

/// Events shown per session (newest first).
const EVENTS_SHOWN: usize = 20;

impl Shared {
    pub(super) async fn host(&self, id: &str) -> Result<SessionHost, ApiError> {
        let entry = self.find(id).await?;
        let name = entry.name();
        let status = entry.resource.status.as_ref();
        let conditions = status
            .map(|s| {
                s.conditions
                    .iter()
                    .map(|c| HostCondition {
                        kind: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        last_transition_time: Some(from_time(&c.last_transition_time)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(SessionHost {
            backend: HostBackend::Cluster,
            resource: Some(format!("{}/{name}", self.config.namespace)),
            phase: Some(entry.phase()),
            pod: status.and_then(|s| s.pod_name.clone()),
            conditions,
            events: self.events_about(&name).await,
        })
    }

    /// The resource's events; none (logged) when Kubernetes will not list them, as the
    /// page is still useful without.
    async fn events_about(&self, name: &str) -> Vec<HostEvent> {
        let selector = format!("regarding.kind=WhatsAppSession,regarding.name={name}");
        let listed = match self
            .kube_events
            .list(&ListParams::default().fields(&selector))
            .await
        {
            Ok(list) => list.items,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the events of session resource {name}");
                return Vec::new();
            }
        };
        let mut events: Vec<HostEvent> = listed
            .into_iter()
            // Field selectors are a server-side nicety; check what came back.
            .filter(|e| {
                e.regarding
                    .as_ref()
                    .is_some_and(|r| r.name.as_deref() == Some(name))
            })
            .map(|e| HostEvent {
                at: e
                    .series
                    .as_ref()
                    .map(|s| s.last_observed_time.0)
                    .or(e.event_time.as_ref().map(|t| t.0))
                    .or(e.deprecated_last_timestamp.as_ref().map(|t| t.0))
                    .and_then(|t| {
                        chrono::DateTime::from_timestamp(
                            t.as_second(),
                            t.subsec_nanosecond().max(0) as u32,
                        )
                    }),
                kind: e.type_.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                note: e.note.unwrap_or_default(),
            })
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.at));
        events.truncate(EVENTS_SHOWN);
        events
    }
}
