//! Per-session series gathered from the pods' `/metrics`, so the router is the one scrape
//! target of the whole fleet. Scraped on an interval with bounded concurrency and cached;
//! a session that leaves the index leaves the cache at the next round (no stale series).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;

use super::index::SessionIndex;
use wagate_http::pod_client::PodClient;

/// Pods scraped at once.
const SCRAPE_CONCURRENCY: usize = 8;
/// The families relayed from pods: the per-session state and message counters.
const RELAYED: [&str; 6] = [
    "wagate_session_state",
    "wagate_messages_sent_total",
    "wagate_messages_failed_total",
    "wagate_messages_received_total",
    "wagate_outbox_depth",
    "wagate_webhook_deliveries_total",
];

/// A relayed sample of one pod, labelled with its session.
struct Sample {
    family: &'static str,
    line: Box<str>,
}

/// The last scrape of every session's pod: only the relayed samples, not the pod's whole
/// exposition (its HTTP histograms and process figures are several KiB a pod, 10,000 times).
#[derive(Default)]
pub struct PodMetricsCache {
    by_session: RwLock<BTreeMap<String, Vec<Sample>>>,
    /// `HELP` and `TYPE` of each relayed family, as the pods describe it.
    headers: RwLock<BTreeMap<&'static str, Vec<String>>>,
}

impl PodMetricsCache {
    /// The cached series as one exposition text: per family (by name), its `HELP`/`TYPE`,
    /// then every session's samples (by session id).
    pub fn render(&self) -> String {
        let cache = self.by_session.read().unwrap_or_else(|p| p.into_inner());
        let headers = self.headers.read().unwrap_or_else(|p| p.into_inner());
        let mut families = RELAYED;
        families.sort_unstable();
        let mut out = String::new();
        for family in families {
            let mut samples = cache
                .values()
                .flatten()
                .filter(|s| s.family == family)
                .peekable();
            if samples.peek().is_none() {
                continue;
            }
            for header in headers.get(family).into_iter().flatten() {
                out.push_str(header);
                out.push('\n');
            }
            for sample in samples {
                out.push_str(&sample.line);
                out.push('\n');
            }
        }
        out
    }

    /// Keeps the relayed families of one pod's exposition `text`.
    fn keep(&self, session_id: &str, text: &str) -> Vec<Sample> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(meta) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
            {
                let family = meta.split(' ').next().unwrap_or_default();
                if let Some(name) = RELAYED.iter().find(|f| **f == family) {
                    let mut headers = self.headers.write().unwrap_or_else(|p| p.into_inner());
                    let lines = headers.entry(name).or_default();
                    if lines.len() < 2 && !lines.iter().any(|l| l == line) {
                        lines.push(line.to_string());
                    }
                }
            } else if let Some(family) = RELAYED.iter().find(|f| **f == sample_family(line)) {
                samples.push(Sample {
                    family,
                    line: with_session_label(line, session_id).into_boxed_str(),
                });
            }
        }
        samples
    }

    /// Scrapes every ready pod once; sessions without a ready pod keep their last figures
    /// until they leave the index.
    pub async fn refresh(&self, index: &SessionIndex, pods: &PodClient) {
        let entries = index.all();
        let targets: Vec<_> = entries
            .iter()
            .filter_map(|e| Some((e.session_id(), e.pod.clone()?)))
            .collect();
        // Each answer is cut down to its relayed samples as it comes, so at most
        // SCRAPE_CONCURRENCY whole expositions are held at once.
        let mut scraped: HashMap<String, Vec<Sample>> = futures::stream::iter(targets)
            .map(|(id, pod)| {
                let pods = pods.clone();
                async move {
                    let result = pods.metrics(&pod.metrics).await;
                    (id, result)
                }
            })
            .buffer_unordered(SCRAPE_CONCURRENCY)
            .filter_map(|(id, result)| async move {
                match result {
                    Ok(text) => {
                        let samples = self.keep(&id, &text);
                        Some((id, samples))
                    }
                    Err(e) => {
                        tracing::debug!(session = %id, error = %e, "cannot scrape the session pod's metrics");
                        None
                    }
                }
            })
            .collect()
            .await;
        let mut cache = self.by_session.write().unwrap_or_else(|p| p.into_inner());
        let mut previous = std::mem::take(&mut *cache);
        for entry in entries.iter() {
            let id = entry.session_id();
            let samples = scraped.remove(&id).or_else(|| previous.remove(&id));
            if let Some(samples) = samples {
                cache.insert(id, samples);
            }
        }
    }

    /// Refreshes every `interval` until the task is aborted.
    pub fn spawn(
        self: Arc<Self>,
        index: Arc<SessionIndex>,
        pods: PodClient,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            index.wait_until_ready().await;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.refresh(&index, &pods).await;
            }
        })
    }
}

/// The family a sample line belongs to (`name{...} v` or `name v`).
fn sample_family(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// Adds `session="<id>"` to a sample that does not carry it (e.g. webhook deliveries).
fn with_session_label(line: &str, session_id: &str) -> String {
    if line.contains("session=\"") {
        return line.to_string();
    }
    let family = sample_family(line);
    let rest = &line[family.len()..];
    match rest.strip_prefix('{') {
        Some(labels) => format!("{family}{{session=\"{session_id}\",{labels}"),
        None => format!("{family}{{session=\"{session_id}\"}}{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD_A: &str = "# HELP wagate_messages_sent_total Messages WhatsApp accepted\n# TYPE wagate_messages_sent_total counter\nwagate_messages_sent_total{session=\"a\"} 3\n# HELP wagate_webhook_deliveries_total Webhook delivery attempts\n# TYPE wagate_webhook_deliveries_total counter\nwagate_webhook_deliveries_total{result=\"ok\"} 2\n# HELP wagate_http_request_duration_seconds x\n# TYPE wagate_http_request_duration_seconds histogram\nwagate_http_request_duration_seconds_count 5\n";
    const POD_B: &str = "# HELP wagate_messages_sent_total Messages WhatsApp accepted\n# TYPE wagate_messages_sent_total counter\nwagate_messages_sent_total{session=\"b\"} 7\n";

    #[test]
    fn families_merge_once_with_every_pods_samples() {
        let cache = PodMetricsCache::default();
        for (id, text) in [("b", POD_B), ("a", POD_A)] {
            let samples = cache.keep(id, text);
            cache.by_session.write().unwrap().insert(id.into(), samples);
        }
        let merged = cache.render();
        assert_eq!(
            merged,
            "# HELP wagate_messages_sent_total Messages WhatsApp accepted\n# TYPE wagate_messages_sent_total counter\nwagate_messages_sent_total{session=\"a\"} 3\nwagate_messages_sent_total{session=\"b\"} 7\n# HELP wagate_webhook_deliveries_total Webhook delivery attempts\n# TYPE wagate_webhook_deliveries_total counter\nwagate_webhook_deliveries_total{session=\"a\",result=\"ok\"} 2\n"
        );
        assert!(
            !merged.contains("http_request_duration"),
            "a pod's HTTP latency is its own"
        );
    }

    #[test]
    fn samples_without_labels_get_the_session() {
        assert_eq!(
            with_session_label("wagate_outbox_depth 4", "x"),
            "wagate_outbox_depth{session=\"x\"} 4"
        );
    }
}
