//! From what the cluster and the session pod say to the resource's `status`: phase,
//! session fields and the `Ready`, `PodReady` and `Connected` conditions. Pure functions,
//! so every mapping is unit-tested without a cluster.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use wagate_api::SessionInfo;
use wagate_api::SessionState;
use wagate_api::crd::{Phase, WhatsAppSessionStatus, to_time};

/// What the reconciler saw of the pod.
#[derive(Debug, Clone, Default)]
pub struct PodView {
    pub name: Option<String>,
    pub ip: Option<String>,
    pub ready: bool,
    /// Why the pod is not running (CrashLoopBackOff, ImagePullBackOff, ...), if it says.
    pub failure: Option<String>,
}

impl PodView {
    pub fn from_pod(pod: &Pod) -> Self {
        let status = pod.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let failure = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .find_map(|c| {
                let waiting = c.state.as_ref()?.waiting.as_ref()?;
                let reason = waiting.reason.clone()?;
                matches!(
                    reason.as_str(),
                    "CrashLoopBackOff"
                        | "ImagePullBackOff"
                        | "ErrImagePull"
                        | "CreateContainerConfigError"
                )
                .then(|| match &waiting.message {
                    Some(message) => format!("{reason}: {message}"),
                    None => reason,
                })
            });
        Self {
            name: pod.metadata.name.clone(),
            ip: status.and_then(|s| s.pod_ip.clone()),
            ready,
            failure,
        }
    }
}

/// Everything one reconcile observed about a session.
#[derive(Debug, Clone, Default)]
pub struct Observed<'a> {
    pub session_id: &'a str,
    pub generation: Option<i64>,
    pub suspended: bool,
    pub pod: Option<&'a PodView>,
    pub info: Option<&'a SessionInfo>,
    /// Why the pod's status could not be read, if it could not.
    pub pod_error: Option<&'a str>,
}

/// The status to write: `previous` carries the conditions' transition times forward.
pub fn desired_status(
    observed: &Observed<'_>,
    previous: Option<&WhatsAppSessionStatus>,
    session_port: u16,
) -> WhatsAppSessionStatus {
    let Observed {
        session_id,
        generation,
        suspended,
        pod,
        info,
        pod_error,
    } = observed.clone();
    let phase = phase(suspended, pod, info);
    let state = info.map(|i| i.status);
    let pod_ready = pod.is_some_and(|p| p.ready);
    let connected = state == Some(SessionState::Connected);
    let last_error = info
        .and_then(|i| i.last_error.clone())
        .or_else(|| pod.and_then(|p| p.failure.clone()))
        .or_else(|| pod_error.map(str::to_string));
    let conditions = vec![
        condition(
            previous,
            generation,
            "Ready",
            pod_ready && connected,
            if connected {
                "Connected"
            } else {
                phase_reason(phase)
            },
            match (pod_ready, connected) {
                (true, true) => "The session is linked and can send".to_string(),
                _ => format!("Session is {}", phase_reason(phase)),
            },
        ),
        condition(
            previous,
            generation,
            "PodReady",
            pod_ready,
            if pod_ready {
                "PodReady"
            } else if suspended {
                "Suspended"
            } else {
                "PodNotReady"
            },
            pod.and_then(|p| p.failure.clone()).unwrap_or_else(|| {
                if pod_ready {
                    "Pod is ready".into()
                } else {
                    "Pod is not ready".into()
                }
            }),
        ),
        condition(
            previous,
            generation,
            "Connected",
            connected,
            state.map(state_reason).unwrap_or("Unknown"),
            match state {
                Some(SessionState::Connected) => "Linked and online".to_string(),
                Some(SessionState::Qr) => "Waiting for a QR scan".to_string(),
                Some(other) => format!("Session state: {}", state_reason(other)),
                None => "Session status not known yet".to_string(),
            },
        ),
    ];
    WhatsAppSessionStatus {
        phase: Some(phase),
        session_id: Some(session_id.to_string()),
        status: state,
        phone: info.and_then(|i| i.phone.clone()),
        push_name: info.and_then(|i| i.push_name.clone()),
        qr_available: info.is_some_and(|i| i.qr_available),
        // Filled by the reconciler, which asks the pod for one (see `reconcile`).
        pairing_code: None,
        pairing_code_expires_at: None,
        last_connected: info
            .and_then(|i| i.last_connected)
            .map(to_time)
            .or_else(|| previous.and_then(|p| p.last_connected.clone())),
        last_error,
        pod_name: pod.and_then(|p| p.name.clone()),
        pod_ip: pod
            .filter(|p| p.ready)
            .and_then(|p| p.ip.as_ref())
            .map(|ip| format!("{ip}:{session_port}")),
        observed_generation: generation,
        conditions,
    }
}

fn phase(suspended: bool, pod: Option<&PodView>, info: Option<&SessionInfo>) -> Phase {
    if suspended {
        return Phase::Suspended;
    }
    if pod.is_some_and(|p| p.failure.is_some()) {
        return Phase::Failed;
    }
    match info.map(|i| i.status) {
        None if pod.is_none() => Phase::Pending,
        None => Phase::Starting,
        Some(SessionState::Starting | SessionState::Connecting) => Phase::Starting,
        Some(SessionState::Qr) => Phase::WaitingForScan,
        Some(SessionState::Connected) => Phase::Connected,
        Some(SessionState::LoggedOut) => Phase::LoggedOut,
        Some(SessionState::Banned) => Phase::Banned,
        Some(SessionState::Stopped) => Phase::Suspended,
        Some(SessionState::Failed) => Phase::Failed,
    }
}

fn phase_reason(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Starting => "Starting",
        Phase::WaitingForScan => "WaitingForScan",
        Phase::Connected => "Connected",
        Phase::LoggedOut => "LoggedOut",
        Phase::Banned => "Banned",
        Phase::Suspended => "Suspended",
        Phase::Failed => "Failed",
    }
}

fn state_reason(state: SessionState) -> &'static str {
    match state {
        SessionState::Starting => "Starting",
        SessionState::Connecting => "Connecting",
        SessionState::Qr => "WaitingForScan",
        SessionState::Connected => "Connected",
        SessionState::LoggedOut => "LoggedOut",
        SessionState::Banned => "Banned",
        SessionState::Stopped => "Stopped",
        SessionState::Failed => "Failed",
    }
}

/// A condition whose `lastTransitionTime` only moves when its status changes.
fn condition(
    previous: Option<&WhatsAppSessionStatus>,
    generation: Option<i64>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let since = previous
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now()));
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message,
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// The status of a resource that is not run because another owns its session id.
pub fn duplicate_status(
    previous: Option<&WhatsAppSessionStatus>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
) -> WhatsAppSessionStatus {
    WhatsAppSessionStatus {
        phase: Some(Phase::Failed),
        last_error: Some(message.to_string()),
        observed_generation: generation,
        conditions: vec![condition(
            previous,
            generation,
            "Ready",
            false,
            reason,
            message.to_string(),
        )],
        ..WhatsAppSessionStatus::default()
    }
}

/// The Kubernetes Event a phase change deserves, if any: `(reason, note, warning)`.
pub fn transition_event(
    from: Option<Phase>,
    to: Phase,
) -> Option<(&'static str, &'static str, bool)> {
    if from == Some(to) {
        return None;
    }
    match to {
        Phase::Connected => Some(("Linked", "The session is linked and online", false)),
        Phase::LoggedOut => Some((
            "LoggedOut",
            "The session was unlinked; a new QR is needed",
            true,
        )),
        Phase::Banned => Some(("Banned", "WhatsApp refused the account", true)),
        Phase::Failed => Some(("PodFailed", "The session pod is failing", true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(state: SessionState) -> SessionInfo {
        serde_json::from_value(serde_json::json!({
            "sessionId": "s", "status": state, "ready": state == SessionState::Connected,
            "qrAvailable": state == SessionState::Qr, "phone": "971501234567",
            "createdAt": "2026-01-01T00:00:00Z", "labels": {}
        }))
        .unwrap()
    }

    fn pod(ready: bool) -> PodView {
        PodView {
            name: Some("s-0".into()),
            ip: Some("10.0.0.7".into()),
            ready,
            failure: None,
        }
    }

    fn get<'a>(status: &'a WhatsAppSessionStatus, type_: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn connected_pod_is_ready_and_addressable() {
        let s = desired_status(
            &Observed {
                session_id: "s",
                generation: Some(3),
                pod: Some(&pod(true)),
                info: Some(&info(SessionState::Connected)),
                ..Default::default()
            },
            None,
            8080,
        );
        assert_eq!(s.phase, Some(Phase::Connected));
        assert_eq!(s.status, Some(SessionState::Connected));
        assert_eq!(get(&s, "Ready").status, "True");
        assert_eq!(get(&s, "Connected").status, "True");
        assert_eq!(s.pod_ip.as_deref(), Some("10.0.0.7:8080"));
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn phases_follow_the_pod_and_the_session() {
        let p = |suspended, pod: Option<&PodView>, info: Option<&SessionInfo>| {
            desired_status(
                &Observed {
                    session_id: "s",
                    suspended,
                    pod,
                    info,
                    ..Default::default()
                },
                None,
                8080,
            )
            .phase
            .unwrap()
        };
        assert_eq!(p(false, None, None), Phase::Pending);
        assert_eq!(p(false, Some(&pod(false)), None), Phase::Starting);
        assert_eq!(
            p(false, Some(&pod(true)), Some(&info(SessionState::Qr))),
            Phase::WaitingForScan
        );
        assert_eq!(
            p(
                false,
                Some(&pod(true)),
                Some(&info(SessionState::LoggedOut))
            ),
            Phase::LoggedOut
        );
        assert_eq!(p(true, None, None), Phase::Suspended);
        let failing = PodView {
            failure: Some("CrashLoopBackOff".into()),
            ..pod(false)
        };
        assert_eq!(p(false, Some(&failing), None), Phase::Failed);
        let not_ready = desired_status(
            &Observed {
                session_id: "s",
                pod: Some(&pod(false)),
                ..Default::default()
            },
            None,
            8080,
        );
        assert_eq!(
            not_ready.pod_ip, None,
            "only ready pods are handed to the router"
        );
    }

    #[test]
    fn transition_times_only_move_on_change() {
        let (ready, qr) = (pod(true), info(SessionState::Qr));
        let observed = Observed {
            session_id: "s",
            pod: Some(&ready),
            info: Some(&qr),
            ..Default::default()
        };
        let first = desired_status(&observed, None, 8080);
        let again = desired_status(&observed, Some(&first), 8080);
        assert_eq!(
            get(&first, "PodReady").last_transition_time,
            get(&again, "PodReady").last_transition_time
        );
        assert_eq!(
            transition_event(Some(Phase::WaitingForScan), Phase::Connected)
                .unwrap()
                .0,
            "Linked"
        );
        assert_eq!(
            transition_event(Some(Phase::Connected), Phase::Connected),
            None
        );
        assert_eq!(
            transition_event(Some(Phase::Connected), Phase::LoggedOut)
                .unwrap()
                .0,
            "LoggedOut"
        );
    }
}
