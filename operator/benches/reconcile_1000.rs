//! Reconciling 1,000 sessions against the in-memory API (the same fake as the tests) and
//! real HTTP session pods: wall time, per-reconcile latency and the process's RSS.
//!
//!   cargo bench -p wagate-operator --bench reconcile_1000
//!
//! Each reconcile does what it does in a cluster: apply the shared Service and the
//! StatefulSet, read the pod, call the pod's status API, write `status`, emit an Event.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use support::*;
use wagate_operator::reconcile::{FINALIZER, reconcile};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() {
    const SESSIONS: usize = 1_000;
    let pod = FakeSessionPod::start("connected").await;
    let (client, api) = FakeApiServer::start();
    api.set_pod(Some(ready_pod("127.0.0.1")));
    let ctx = context(client, pod.addr.port());
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let mut s = (*session(json!({ "sessionId": format!("s_{i}") }), &[FINALIZER])).clone();
            s.metadata.name = Some(format!("s-{i}"));
            std::sync::Arc::new(s)
        })
        .collect();
    let before = rss_mib();
    for concurrency in [1, 16] {
        api.clear();
        let started = Instant::now();
        let mut latencies: Vec<f64> = futures::stream::iter(sessions.clone())
            .map(|s| {
                let ctx = ctx.clone();
                async move {
                    let t = Instant::now();
                    reconcile(s, ctx).await.expect("reconcile");
                    t.elapsed().as_secs_f64() * 1000.0
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let took = started.elapsed();
        latencies.sort_by(f64::total_cmp);
        let p =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        println!(
            "{SESSIONS} reconciles, concurrency {concurrency:>2}: {:>6.0} ms total, {:>6.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} API calls",
            took.as_secs_f64() * 1000.0,
            SESSIONS as f64 / took.as_secs_f64(),
            p(0.50),
            p(0.99),
            api.calls().len()
        );
    }
    println!(
        "RSS: {before:.1} MiB before, {:.1} MiB after (includes the fake API and pod)",
        rss_mib()
    );
}
