//! Webhook delivery from the persistent queue: signed POSTs, exponential backoff with
//! jitter, dead letters after the retry window. At-least-once: a delivery is removed from
//! the queue only after the receiver answered 2xx.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use wagate_api::{EventKind, WebhookSettings};

use crate::egress::{Egress, EgressError, FetchFailure};
use crate::session::Session;
use crate::store::{QueuedDelivery, now_ms};

/// A webhook as stored for a session (the secret never leaves the gateway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    pub events: Vec<EventKind>,
    pub secret: Option<String>,
}

impl WebhookTarget {
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            url: self.url.clone(),
            events: self.events.clone(),
            has_secret: self.secret.is_some(),
        }
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
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

/// Delivers the session's queue until `shutdown`.
pub(crate) async fn run(session: Arc<Session>, shutdown: CancellationToken) {
    let egress = session.config().egress.clone();
    let policy = session.config().webhook_retry;
    let timeout = session.config().webhook_timeout;
    let metrics = session.metrics().clone();
    loop {
        let idle = Duration::from_secs(3600);
        let wait = match (
            session.webhook_target().await,
            session.store().webhook_due(now_ms(), 32).await,
        ) {
            (Some(target), Ok(due)) if !due.is_empty() => {
                for delivery in due {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    let store = session.store();
                    let result = match post(&egress, &target, &delivery, timeout).await {
                        Outcome::Delivered => {
                            metrics.webhook_deliveries.with_label_values(&["ok"]).inc();
                            store.webhook_delivered(delivery.seq).await
                        }
                        Outcome::Denied(why) => {
                            tracing::warn!(session = session.id(), delivery = %delivery.delivery_id, "webhook receiver refused by the egress policy; dead-lettered");
                            metrics
                                .webhook_deliveries
                                .with_label_values(&["dead"])
                                .inc();
                            store.webhook_kill(delivery.seq, now_ms(), why).await
                        }
                        Outcome::Failed(why) => {
                            let now = now_ms();
                            let age =
                                Duration::from_millis((now - delivery.created_at).max(0) as u64);
                            if age >= policy.give_up_after {
                                tracing::warn!(session = session.id(), delivery = %delivery.delivery_id, %why, "webhook delivery dead-lettered");
                                metrics
                                    .webhook_deliveries
                                    .with_label_values(&["dead"])
                                    .inc();
                                store.webhook_kill(delivery.seq, now, why).await
                            } else {
                                let delay = policy.delay(delivery.attempts);
                                tracing::debug!(session = session.id(), delivery = %delivery.delivery_id, %why, ?delay, "webhook delivery will be retried");
                                metrics
                                    .webhook_deliveries
                                    .with_label_values(&["retry"])
                                    .inc();
                                store
                                    .webhook_retry(
                                        delivery.seq,
                                        now + delay.as_millis() as i64,
                                        why,
                                    )
                                    .await
                            }
                        }
                    };
                    if let Err(e) = result {
                        tracing::error!(session = session.id(), error = %e, "webhook queue update failed");
                    }
                }
                Duration::ZERO
            }
            (Some(_), Ok(_)) => match session.store().webhook_next_due().await {
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64),
                _ => idle,
            },
            (None, _) => idle,
            (_, Err(e)) => {
                tracing::error!(session = session.id(), error = %e, "webhook queue unreadable; retrying");
                Duration::from_secs(5)
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = session.webhook_wake().notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
