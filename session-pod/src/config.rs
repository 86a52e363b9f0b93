//! Runtime settings of a session (the binary maps its flags onto these).

use std::time::Duration;

use wagate_api::{EventKind, MediaLimits};

use crate::egress::Egress;
use crate::engine::{EngineKind, EngineOptions};

/// The webhook used by sessions that have none of their own.
#[derive(Debug, Clone, Default)]
pub struct DefaultWebhook {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub events: Option<Vec<EventKind>>,
}

/// How long and how often a failing delivery is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// After this long since the first attempt, a delivery becomes a dead letter.
    pub give_up_after: Duration,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub engine: EngineKind,
    pub engine_options: EngineOptions,
    /// Minimum gap between two messages of this session (WhatsApp bans blasting).
    pub send_min_interval: Duration,
    /// Conversations this account may start per 24 h (0 = no cap).
    pub new_chats_per_day: u32,
    /// Transient send failures are retried this many times before the message fails.
    pub send_max_attempts: u32,
    pub send_retry: RetryPolicy,
    /// How long a synchronous send waits for WhatsApp before answering `202 queued`.
    pub send_wait: Duration,
    pub default_webhook: DefaultWebhook,
    pub webhook_retry: RetryPolicy,
    pub webhook_timeout: Duration,
    pub media_retention: Duration,
    /// How long the message index remembers a message (actions by id need it).
    pub message_index_retention: Duration,
    /// Bytes of inbound media a session keeps; `None`: 80 % of its volume (or 1 GiB).
    pub media_quota: Option<u64>,
    pub media_limits: MediaLimits,
    /// Prefix for links the session hands out (media URLs in webhooks); empty = relative paths.
    pub public_url: String,
    /// How long a send in flight may still take once the session is stopping (the pod's
    /// grace period must be longer); what is unfinished stays queued.
    pub shutdown_timeout: Duration,
    /// The guarded client for every server-side fetch (media URLs, webhooks).
    pub egress: Egress,
    /// Settings fixed from outside (a pod's `WhatsAppSession` resource): they win over what
    /// the session stored, and `PUT .../settings` goes to the resource instead.
    pub fixed_settings: Option<wagate_api::SessionSettings>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            engine: EngineKind::Whatsapp,
            engine_options: EngineOptions::default(),
            send_min_interval: Duration::from_secs(1),
            new_chats_per_day: 250,
            send_max_attempts: 8,
            send_retry: RetryPolicy {
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
                give_up_after: Duration::from_secs(24 * 3600),
            },
            send_wait: Duration::from_secs(60),
            default_webhook: DefaultWebhook::default(),
            webhook_retry: RetryPolicy {
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(600),
                give_up_after: Duration::from_secs(24 * 3600),
            },
            webhook_timeout: Duration::from_secs(10),
            media_retention: Duration::from_secs(7 * 24 * 3600),
            message_index_retention: Duration::from_secs(30 * 24 * 3600),
            media_quota: None,
            media_limits: MediaLimits::default(),
            public_url: String::new(),
            shutdown_timeout: Duration::from_secs(20),
            egress: Egress::default(),
            fixed_settings: None,
        }
    }
}

impl RetryPolicy {
    /// Exponential delay before retry number `attempt` (0-based), with full jitter so a
    /// fleet of sessions does not hammer a recovering receiver in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempt as usize)
            .unwrap_or(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            give_up_after: Duration::from_secs(60),
        };
        assert!(policy.delay(0) >= Duration::from_millis(100));
        assert!(policy.delay(0) <= Duration::from_millis(200));
        assert!(policy.delay(3) >= Duration::from_millis(800));
        for attempt in [10, 40, 1000] {
            assert!(
                policy.delay(attempt) <= Duration::from_secs(4),
                "jitter stays within 2x the cap"
            );
        }
    }
}
