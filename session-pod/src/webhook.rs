//! Webhook delivery from the persistent queue: signed POSTs, exponential backoff with
//! jitter, dead letters after the retry window. At-least-once: a delivery is removed from
//! the queue only after the receiver answered 2xx.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{Notify, RwLock};
use tokio_util::sync::CancellationToken;
use wagate_api::{EventKind, GatewayEvent, WebhookSettings};

use crate::config::{DefaultWebhook, SessionConfig};
use crate::egress::{Egress, EgressError, FetchFailure};
use crate::metrics::Metrics;
use crate::store::{DeadLetter, GatewayStore, MetaKey, QueuedDelivery, StoreError, now_ms};

/// A webhook as stored for a session (the secret never leaves the gateway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    /// The events it wants; `None` is every event, including kinds added later, except
    /// the opt-in ones (typing).
    #[serde(default)]
    pub events: Option<Vec<EventKind>>,
    pub secret: Option<String>,
}

impl WebhookTarget {
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            url: self.url.clone(),
            events: self.events.clone().unwrap_or_else(|| {
                EventKind::WEBHOOK
                    .into_iter()
                    .filter(|k| !k.opt_in())
                    .collect()
            }),
            has_secret: self.secret.is_some(),
        }
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        match &self.events {
            Some(events) => events.contains(&kind),
            None => !kind.opt_in(),
        }
    }

    /// A target stored before `None` meant "every event": such a webhook saved "all" as the
    /// three kinds there were, and keeps getting every kind.
    pub fn upgraded(mut self) -> Self {
        const ALL_BEFORE: [EventKind; 3] = [
            EventKind::MessageReceived,
            EventKind::MessageStatus,
            EventKind::SessionStatus,
        ];
        if self.events.as_deref() == Some(&ALL_BEFORE[..]) {
            self.events = None;
        }
        self
    }

    /// The process default, when it has a URL.
    fn default_of(default: &DefaultWebhook) -> Option<Self> {
        default.url.as_ref().map(|url| Self {
            url: url.clone(),
            events: default.events.clone(),
            secret: default.secret.clone(),
        })
    }
}

/// A session's webhook queue: which receiver it delivers to, the durable queue in
/// `gateway.db`, and the worker that drains it.
pub(crate) struct WebhookQueue {
    store: GatewayStore,
    /// The session's own webhook; `None` falls back to `default`.
    own: RwLock<Option<WebhookTarget>>,
    default: Option<WebhookTarget>,
    wake: Notify,
    egress: Egress,
    retry: crate::config::RetryPolicy,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Told the body of each `message.received` delivered (2xx): `autoRead` reads after it.
    delivered: tokio::sync::mpsc::UnboundedSender<String>,
}

impl WebhookQueue {
    pub fn new(
        store: GatewayStore,
        own: Option<WebhookTarget>,
        config: &SessionConfig,
        metrics: Arc<Metrics>,
        delivered: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Self {
        Self {
            store,
            own: RwLock::new(own.map(WebhookTarget::upgraded)),
            default: WebhookTarget::default_of(&config.default_webhook),
            wake: Notify::new(),
            egress: config.egress.clone(),
            retry: config.webhook_retry,
            timeout: config.webhook_timeout,
            metrics,
            delivered,
        }
    }

    /// The webhook this session delivers to: its own, else the process default.
    pub async fn target(&self) -> Option<WebhookTarget> {
        match self.own.read().await.clone() {
            Some(own) => Some(own),
            None => self.default.clone(),
        }
    }

    /// The secret of the session's own webhook, kept when an update gives none.
    pub async fn own_secret(&self) -> Option<String> {
        self.own
            .read()
            .await
            .as_ref()
            .and_then(|t| t.secret.clone())
    }

    /// Stores and switches to the session's own webhook (`None`: back to the default).
    pub async fn set_own(&self, target: Option<WebhookTarget>) -> Result<(), StoreError> {
        self.store
            .meta_set(MetaKey::Webhook, target.as_ref())
            .await?;
        *self.own.write().await = target;
        self.wake.notify_one();
        Ok(())
    }

    /// Queues `event` when the webhook wants it; `false` when it does but the delivery
    /// could not be written.
    pub async fn offer(&self, event: &GatewayEvent) -> bool {
        if !self.target().await.is_some_and(|t| t.wants(event.event)) {
            return true;
        }
        let body = serde_json::to_string(event).expect("events serialize");
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let kind = event.event.as_str().to_string();
        match self
            .store
            .webhook_enqueue(delivery_id, kind, body, now_ms())
            .await
        {
            Ok(()) => {
                self.wake.notify_one();
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot queue webhook delivery");
                false
            }
        }
    }

    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.store.dead_letters(1000).await
    }

    /// Queues every dead letter again; answers how many.
    pub async fn replay(&self) -> Result<usize, StoreError> {
        let replayed = self.store.replay_dead_letters(now_ms()).await?;
        self.wake.notify_one();
        Ok(replayed)
    }
}

/// `sha256=<hex>` of the body under the webhook secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

enum Outcome {
    Delivered,
    /// Worth retrying: the receiver was down or answered non-2xx.
    Failed(String),
    /// The egress policy refuses the receiver's address: dead-lettered at once (a replay
    /// after the policy or the webhook changed delivers it).
    Denied(String),
}

/// POSTs one delivery through the egress guard. What is recorded names neither the URL
/// (it may carry a token) nor the receiver's answer body.
async fn post(
    egress: &Egress,
    target: &WebhookTarget,
    delivery: &QueuedDelivery,
    timeout: Duration,
) -> Outcome {
    let denied = |e: EgressError| Outcome::Denied(format!("egress_denied: {e}"));
    let mut request = match egress.request_no_redirects(reqwest::Method::POST, &target.url) {
        Ok(request) => request,
        Err(e) => return denied(e),
    }
    .timeout(timeout)
    .header(reqwest::header::CONTENT_TYPE, "application/json")
    .header("x-wagate-event", &delivery.event)
    .header("x-wagate-delivery", &delivery.delivery_id)
    .body(delivery.body.clone());
    if let Some(secret) = &target.secret {
        request = request.header(
            "x-wagate-signature",
            signature(secret, delivery.body.as_bytes()),
        );
    }
    match request.send().await {
        Ok(resp) if resp.status().is_success() => Outcome::Delivered,
        Ok(resp) => Outcome::Failed(format!("receiver answered {}", resp.status())),
        Err(e) => match FetchFailure::of(&e) {
            FetchFailure::Denied(e) => denied(e),
            other => Outcome::Failed(format!("receiver {other}")),
        },
    }
}

impl WebhookQueue {
    /// Delivers the queue until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let idle = Duration::from_secs(3600);
            let wait = match (
                self.target().await,
                self.store.webhook_due(now_ms(), 32).await,
            ) {
                (Some(target), Ok(due)) if !due.is_empty() => {
                    for delivery in due {
                        if shutdown.is_cancelled() {
                            return;
                        }
                        self.deliver(&target, &delivery).await;
                    }
                    Duration::ZERO
                }
                (Some(_), Ok(_)) => match self.store.webhook_next_due().await {
                    Ok(Some(at)) => {
                        Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64)
                    }
                    _ => idle,
                },
                (None, _) => idle,
                (_, Err(e)) => {
                    tracing::error!(error = %e, "webhook queue unreadable; retrying");
                    Duration::from_secs(5)
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt at one delivery: removed once delivered, dead-lettered when refused or
    /// too old, else rescheduled with backoff.
    async fn deliver(&self, target: &WebhookTarget, delivery: &QueuedDelivery) {
        let counted = |outcome: &str| {
            self.metrics
                .webhook_deliveries
                .with_label_values(&[outcome])
                .inc()
        };
        let store = &self.store;
        let result = match post(&self.egress, target, delivery, self.timeout).await {
            Outcome::Delivered => {
                counted("ok");
                if delivery.event == EventKind::MessageReceived.as_str() {
                    let _ = self.delivered.send(delivery.body.clone());
                }
                store.webhook_delivered(delivery.seq).await
            }
            Outcome::Denied(why) => {
                tracing::warn!(delivery = %delivery.delivery_id, "webhook receiver refused by the egress policy; dead-lettered");
                counted("dead");
                store.webhook_kill(delivery.seq, now_ms(), why).await
            }
            Outcome::Failed(why) => {
                let now = now_ms();
                let age = Duration::from_millis((now - delivery.created_at).max(0) as u64);
                if age >= self.retry.give_up_after {
                    tracing::warn!(delivery = %delivery.delivery_id, %why, "webhook delivery dead-lettered");
                    counted("dead");
                    store.webhook_kill(delivery.seq, now, why).await
                } else {
                    let delay = self.retry.delay(delivery.attempts);
                    tracing::debug!(delivery = %delivery.delivery_id, %why, ?delay, "webhook delivery will be retried");
                    counted("retry");
                    store
                        .webhook_retry(delivery.seq, now + delay.as_millis() as i64, why)
                        .await
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "webhook queue update failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_event_list_is_every_event_and_old_all_lists_stay_all() {
        let target = |events: Option<Vec<EventKind>>| WebhookTarget {
            url: "https://hooks.example.com".into(),
            events,
            secret: None,
        };
        assert!(target(None).wants(EventKind::MessageReaction));
        let old: WebhookTarget = serde_json::from_value(serde_json::json!({
            "url": "https://hooks.example.com", "secret": null,
            "events": ["message.received", "message.status", "session.status"]
        }))
        .unwrap();
        assert!(
            !old.wants(EventKind::MessageReaction),
            "read back as written"
        );
        assert!(
            old.upgraded().wants(EventKind::MessageRevoked),
            "then upgraded to all"
        );
        let chosen = target(Some(vec![EventKind::MessageStatus])).upgraded();
        assert!(chosen.wants(EventKind::MessageStatus));
        assert!(
            !chosen.wants(EventKind::MessageReceived),
            "a real choice is kept"
        );
        assert_eq!(
            target(None).settings().events.len(),
            EventKind::WEBHOOK.len() - 1
        );
        assert!(
            !target(None).wants(EventKind::ChatPresence),
            "typing only when asked for"
        );
        assert!(target(Some(vec![EventKind::ChatPresence])).wants(EventKind::ChatPresence));
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
