//! One event-stream subscription per ready session pod: its events feed `GET /v1/events`
//! and keep the index's live state current without polling. A supervisor follows the
//! index (pods come, go, move) and starts or stops subscriptions to match.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use wagate_api::GatewayEvent;

use super::index::{PodAddress, SessionIndex};
use wagate_http::pod_client::PodClient;

/// Pause before re-subscribing to a pod whose stream ended or failed, for its first few
/// failures: a blip heals at once, as does a pod marked ready a moment before it listens.
const QUICK_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
const QUICK_RESUBSCRIBES: u32 = 5;
/// After those, the pause doubles (jitter adds up to as much again) to 15–30 s.
const SLOW_RESUBSCRIBE_FIRST: Duration = Duration::from_secs(2);
const SLOW_RESUBSCRIBE_MAX: Duration = Duration::from_secs(15);
/// The supervisor also re-checks on this interval, in case a change notification was missed.
const RECHECK_INTERVAL: Duration = Duration::from_secs(5);

pub struct EventRelay {
    pub index: Arc<SessionIndex>,
    pub pods: PodClient,
    pub events: broadcast::Sender<GatewayEvent>,
}

impl EventRelay {
    /// Runs until aborted; `changed` is notified whenever a reflector saw a change.
    pub fn spawn(self: Arc<Self>, changed: Arc<Notify>) -> JoinHandle<()> {
        tokio::spawn(async move {
            self.index.wait_until_ready().await;
            let mut running: HashMap<String, (PodAddress, JoinHandle<()>)> = HashMap::new();
            loop {
                self.sync(&mut running);
                let _ = tokio::time::timeout(RECHECK_INTERVAL, changed.notified()).await;
            }
        })
    }

    /// Starts a subscription for every ready pod and stops those of pods that went away.
    fn sync(self: &Arc<Self>, running: &mut HashMap<String, (PodAddress, JoinHandle<()>)>) {
        let desired: HashMap<String, PodAddress> = self
            .index
            .all()
            .iter()
            .filter_map(|e| Some((e.session_id(), e.pod.clone()?)))
            .collect();
        running.retain(|id, (pod, task)| {
            let keep = desired.get(id) == Some(pod);
            if !keep {
                task.abort();
            }
            keep
        });
        for (id, pod) in &desired {
            if !running.contains_key(id) {
                let task = tokio::spawn(self.clone().follow(id.clone(), pod.clone()));
                running.insert(id.clone(), (pod.clone(), task));
            }
        }
        self.index
            .retain_live(|id, uid| desired.get(id).is_some_and(|p| p.uid == uid));
    }

    /// Follows one pod's stream, re-subscribing after interruptions, until aborted.
    #[tracing::instrument(name = "relay", skip_all, fields(session = %session_id))]
    async fn follow(self: Arc<Self>, session_id: String, pod: PodAddress) {
        let mut resubscribe = Resubscribe::default();
        loop {
            match self.pods.events(&pod.http, &session_id).await {
                Ok(response) => {
                    let mut stream = response.bytes_stream().eventsource();
                    while let Some(Ok(message)) = stream.next().await {
                        let Ok(event) = serde_json::from_str::<GatewayEvent>(&message.data) else {
                            continue; // `lagged` notices and keep-alives carry no event
                        };
                        // A pod that answers and hangs up at once is still failing; one
                        // that delivered an event (its state comes first) is back.
                        resubscribe = Resubscribe::default();
                        self.index.record_event(&pod, &event);
                        let _ = self.events.send(event);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot follow the session pod's events")
                }
            }
            tokio::time::sleep(resubscribe.next_delay()).await;
        }
    }
}

/// When to dial a pod's stream again: every second for the first few failures, then
/// doubling with jitter to 15–30 s while the pod keeps failing, so a fleet of pods that went
/// away together (a node drained) is not redialled by every replica every second.
struct Resubscribe {
    failures: u32,
    slow: backon::ExponentialBackoff,
}

impl Default for Resubscribe {
    fn default() -> Self {
        use backon::BackoffBuilder;
        Self {
            failures: 0,
            slow: backon::ExponentialBuilder::default()
                .with_min_delay(SLOW_RESUBSCRIBE_FIRST)
                .with_max_delay(SLOW_RESUBSCRIBE_MAX)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build(),
        }
    }
}

impl Resubscribe {
    fn next_delay(&mut self) -> Duration {
        self.failures += 1;
        if self.failures <= QUICK_RESUBSCRIBES {
            QUICK_RESUBSCRIBE_DELAY
        } else {
            self.slow.next().unwrap_or(SLOW_RESUBSCRIBE_MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resubscribing_is_quick_at_first_then_backs_off_to_half_a_minute() {
        let mut resubscribe = Resubscribe::default();
        for _ in 0..QUICK_RESUBSCRIBES {
            assert_eq!(resubscribe.next_delay(), QUICK_RESUBSCRIBE_DELAY);
        }
        let slow: Vec<Duration> = (0..20).map(|_| resubscribe.next_delay()).collect();
        assert!(slow[0] >= SLOW_RESUBSCRIBE_FIRST, "{slow:?}");
        assert!(
            slow.iter().all(|d| *d <= 2 * SLOW_RESUBSCRIBE_MAX),
            "{slow:?}"
        );
        assert!(
            slow[10..].iter().all(|d| *d >= SLOW_RESUBSCRIBE_MAX),
            "{slow:?}"
        );
    }
}
