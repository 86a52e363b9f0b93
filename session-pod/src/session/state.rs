//! The observable state of a session.

use chrono::{DateTime, Utc};
use wagate_api::SessionState;

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
