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

/// Pause before re-subscribing to a pod whose stream ended or failed: from 1 s, doubling
/// with jitter up to 30 s while the pod keeps failing, so a fleet of pods that went away
/// together (a node drained, a network blip) is not dialed by every replica every second.
const RESUBSCRIBE_FIRST_DELAY: Duration = Duration::from_secs(1);
const RESUBSCRIBE_MAX_DELAY: Duration = Duration::from_secs(30);
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
            .into_iter()
            .filter_map(|e| Some((e.session_id(), e.pod?)))
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
        let mut delays = resubscribe_delays();
        loop {
            match self.pods.events(&pod.http, &session_id).await {
                Ok(response) => {
                    delays = resubscribe_delays();
                    let mut stream = response.bytes_stream().eventsource();
                    while let Some(Ok(message)) = stream.next().await {
                        let Ok(event) = serde_json::from_str::<GatewayEvent>(&message.data) else {
                            continue; // `lagged` notices and keep-alives carry no event
                        };
                        self.index.record_event(&pod, &event);
                        let _ = self.events.send(event);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot follow the session pod's events")
                }
            }
            tokio::time::sleep(delays.next().unwrap_or(RESUBSCRIBE_MAX_DELAY)).await;
        }
    }
}

fn resubscribe_delays() -> backon::ExponentialBackoff {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(RESUBSCRIBE_FIRST_DELAY)
        .with_max_delay(RESUBSCRIBE_MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}
