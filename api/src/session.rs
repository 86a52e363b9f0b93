//! Sessions: their states, the `SessionInfo` view and session-level requests.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::EventKind;
use crate::{ApiError, FieldErrors, SessionId};

/// The session state machine of ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Starting,
    Connecting,
    Qr,
    Connected,
    LoggedOut,
    Banned,
    Stopped,
    Failed,
}

impl SessionState {
    pub const ALL: [SessionState; 8] = [
        Self::Starting,
        Self::Connecting,
        Self::Qr,
        Self::Connected,
        Self::LoggedOut,
        Self::Banned,
        Self::Stopped,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Connecting => "connecting",
            Self::Qr => "qr",
            Self::Connected => "connected",
            Self::LoggedOut => "logged_out",
            Self::Banned => "banned",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    /// Only a connected session can send.
    pub fn is_ready(self) -> bool {
        self == Self::Connected
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionState {
    type Err = ApiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::field("status", format!("must be one of {}", names.join(", ")))
            })
    }
}

/// Webhook configuration as the public API shows it (the secret is write-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    pub url: String,
    pub events: Vec<EventKind>,
    pub has_secret: bool,
}

/// Webhook configuration as clients send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// Absolute `http(s)` URL that receives `POST`s.
    pub url: String,
    /// Which events to deliver; all of them when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventKind>>,
    /// HMAC-SHA256 key for `x-wagate-signature`. Kept when omitted on update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut errors = FieldErrors::new();
        if let Err(why) = validate_webhook_url(&self.url) {
            errors.insert("webhook.url".into(), why);
        }
        match &self.events {
            Some(events) if events.is_empty() => {
                errors.insert(
                    "webhook.events".into(),
                    "must list at least one event".into(),
                );
            }
            Some(events) if events.iter().any(|e| !EventKind::WEBHOOK.contains(e)) => {
                errors.insert(
                    "webhook.events".into(),
                    format!(
                        "may only list {}",
                        EventKind::WEBHOOK.map(EventKind::as_str).join(", ")
                    ),
                );
            }
            _ => {}
        }
        // A short secret can be brute-forced from one signed body.
        if matches!(&self.secret, Some(secret) if secret.len() < 16 || secret.len() > 512) {
            errors.insert("webhook.secret".into(), "must be 16-512 characters".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(errors))
        }
    }

    pub fn events_or_all(&self) -> Vec<EventKind> {
        self.events
            .clone()
            .unwrap_or_else(|| EventKind::WEBHOOK.to_vec())
    }
}

/// A webhook URL must be absolute `http` or `https` with a host.
pub fn validate_webhook_url(raw: &str) -> Result<(), String> {
    const RULE: &str = "must be an absolute http:// or https:// URL";
    if raw.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let uri: http::Uri = raw.parse().map_err(|_| RULE.to_string())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if scheme_ok && host_ok {
        Ok(())
    } else {
        Err(RULE.into())
    }
}

/// One session as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub session_id: String,
    pub status: SessionState,
    pub ready: bool,
    pub qr_available: bool,
    pub phone: Option<String>,
    pub push_name: Option<String>,
    pub last_connected: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub webhook: Option<WebhookSettings>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// When a temporary ban ends (status `banned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banned_until: Option<DateTime<Utc>>,
    /// How the session behaves on calls, reads, presence and what it reports.
    #[serde(default)]
    pub settings: SessionSettings,
    /// Messages waiting in the outbox, where the router knows it (`local`, and a session
    /// pod's own answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_depth: Option<u64>,
}

/// The longest reply to a rejected call.
pub const REJECT_CALLS_MESSAGE_MAX_CHARS: usize = 4096;

/// How a session behaves (`PUT .../settings`, `spec.settings` of the resource in cluster
/// mode, where the resource is the truth). Everything is off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionSettings {
    /// Reject incoming calls (the caller sees a declined call; `call.received` still
    /// reports it).
    #[serde(default)]
    pub reject_calls: bool,
    /// Sent to a caller whose call was rejected, at most once per caller per 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 4096)))]
    pub reject_calls_message: Option<String>,
    /// Mark a received message read once its `message.received` webhook was delivered
    /// (2xx); without a webhook, once it is published.
    #[serde(default)]
    pub auto_read: bool,
    /// Show the number online whenever the session is connected. Off, the session shows it
    /// unavailable once connected, so the phone keeps getting notifications.
    #[serde(default)]
    pub always_online: bool,
    /// No events for group chats (messages, reactions, edits, votes, typing); group
    /// administration events still come.
    #[serde(default)]
    pub ignore_groups: bool,
    /// No events for status updates (`status@broadcast`).
    #[serde(default)]
    pub ignore_status_broadcast: bool,
}

impl SessionSettings {
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(message) = &self.reject_calls_message {
            let chars = message.chars().count();
            if chars == 0 || chars > REJECT_CALLS_MESSAGE_MAX_CHARS {
                return Err(ApiError::field(
                    "rejectCallsMessage",
                    format!("must be 1-{REJECT_CALLS_MESSAGE_MAX_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub session_id: SessionId,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeleteResponse {
    pub deleted: bool,
    pub purged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OkResponse {
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in SessionState::ALL {
            assert_eq!(state.as_str().parse::<SessionState>().unwrap(), state);
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert!("online".parse::<SessionState>().is_err());
    }

    #[test]
    fn webhook_urls_must_be_http() {
        assert!(validate_webhook_url("https://app.example.com/hooks/wa").is_ok());
        assert!(validate_webhook_url("http://127.0.0.1:9000/x").is_ok());
        for bad in ["ftp://x", "/relative", "not a url", "https://"] {
            assert!(validate_webhook_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_validation_names_fields() {
        let cfg = WebhookConfig {
            url: "x".into(),
            events: Some(vec![]),
            secret: None,
        };
        let details = cfg.validate().unwrap_err().details.unwrap();
        assert!(details.contains_key("webhook.url") && details.contains_key("webhook.events"));
        let sse_only = WebhookConfig {
            url: "https://a.example/h".into(),
            events: Some(vec![EventKind::Qr]),
            secret: None,
        };
        assert!(sse_only.validate().is_err(), "qr is an SSE-only event");
    }
}
