//! Where a session's events go: live to SSE subscribers (a bounded broadcast that a slow
//! reader falls behind on) and durably to the webhook queue when its webhook wants them.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::broadcast;
use wagate_api::{EventKind, GatewayEvent};

use crate::webhook::WebhookQueue;

/// Events kept for SSE subscribers that fall behind before they miss some (the buffer is
/// allocated up front, per session: keep it small for processes with thousands of them).
const EVENT_BUFFER: usize = 128;

pub(crate) struct EventBus {
    session_id: String,
    live: broadcast::Sender<GatewayEvent>,
    webhooks: Arc<WebhookQueue>,
}

impl EventBus {
    pub fn new(session_id: &str, webhooks: Arc<WebhookQueue>) -> Self {
        Self {
            session_id: session_id.to_string(),
            live: broadcast::channel(EVENT_BUFFER).0,
            webhooks,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.live.subscribe()
    }

    /// Fans an event out to SSE subscribers and, durably, to the webhook queue; `false`
    /// when the webhook wants it but the delivery could not be queued.
    pub async fn publish(&self, kind: EventKind, data: serde_json::Value) -> bool {
        let event = GatewayEvent {
            event: kind,
            session_id: self.session_id.clone(),
            timestamp: Utc::now(),
            data,
        };
        let _ = self.live.send(event.clone());
        self.webhooks.offer(&event).await
    }
}
