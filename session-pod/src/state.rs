//! The observable state of a session and the state machine that changes it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use wagate_api::{EventKind, SessionState, SessionStatusData};

use crate::events::EventBus;
use crate::metrics::Metrics;

#[derive(Debug, Clone, PartialEq)]
pub struct QrState {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PairCodeState {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: SessionState,
    pub qr: Option<QrState>,
    pub pair_code: Option<PairCodeState>,
    /// The linked number (kept while reconnecting, cleared on logout).
    pub phone: Option<String>,
    pub push_name: Option<String>,
    pub last_connected: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub banned_until: Option<DateTime<Utc>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            status: SessionState::Starting,
            qr: None,
            pair_code: None,
            phone: None,
            push_name: None,
            last_connected: None,
            last_error: None,
            banned_until: None,
        }
    }
}

impl Snapshot {
    /// A QR that has not expired yet.
    pub fn live_qr(&self, now: DateTime<Utc>) -> Option<&QrState> {
        self.qr
            .as_ref()
            .filter(|qr| qr.expires_at > now && self.status == SessionState::Qr)
    }

    /// A linked session that is only temporarily offline: async sends are queued for it.
    pub fn accepts_queued_sends(&self) -> bool {
        match self.status {
            SessionState::Connected => true,
            SessionState::Connecting | SessionState::Starting => self.phone.is_some(),
            _ => false,
        }
    }
}

/// The session's state machine: the one place its state changes, so every change is
/// published (`session.status`, to SSE and the webhook) and counted alike.
pub(crate) struct StateMachine {
    session_id: String,
    state: watch::Sender<Snapshot>,
    metrics: Arc<Metrics>,
    events: Arc<EventBus>,
}

impl StateMachine {
    pub fn new(
        session_id: &str,
        initial: Snapshot,
        metrics: Arc<Metrics>,
        events: Arc<EventBus>,
    ) -> Self {
        metrics.set_state(session_id, initial.status);
        Self {
            session_id: session_id.to_string(),
            state: watch::Sender::new(initial),
            metrics,
            events,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.state.subscribe()
    }

    /// Applies `change`; publishes `session.status` when the state itself changed.
    pub async fn transition(&self, change: impl FnOnce(&mut Snapshot)) {
        let before = self.state.borrow().status;
        self.state.send_modify(change);
        let snap = self.snapshot();
        if snap.status == before {
            return;
        }
        tracing::info!(from = %before, to = %snap.status, last_error = snap.last_error.as_deref(), "session state changed");
        self.metrics.set_state(&self.session_id, snap.status);
        let data = SessionStatusData {
            status: snap.status,
            previous: before,
            ready: snap.status.is_ready(),
            phone: snap.phone.clone(),
            last_error: snap.last_error.clone(),
        };
        let data = serde_json::to_value(data).expect("status data serializes");
        self.events.publish(EventKind::SessionStatus, data).await;
    }

    /// A change that is not a state change (a new pairing code): nothing is published.
    pub fn note(&self, change: impl FnOnce(&mut Snapshot)) {
        self.state.send_modify(change);
    }
}
