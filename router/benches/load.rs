//! Load through the router vs. the session runtime, side by side in one run:
//! `cargo bench -p wagate-router --bench load` (env `LOAD_REQUESTS`, `LOAD_CONCURRENCY`).
//!
//! One process holds a local backend with one linked simulator session (zero send
//! interval) and serves it twice on loopback: through the router app (auth, key scoping,
//! metrics, per-session routes) and through the per-session routes alone (what a
//! `wagate-session` pod serves). Each workload runs against the runtime called directly,
//! the session HTTP API and the router, and prints throughput and p50/p99 latency.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wagate_api::{MediaLimits, SendRequest};
use wagate_http::auth::LinkSigner;
use wagate_http::auth::{ApiKeySet, KeySpec};
use wagate_http::auth::{AuthState, authenticate};
use wagate_router::app::{AppParts, build_app};
use wagate_router::backend::SessionBackend;
use wagate_router::local::LocalBackend;
use wagate_session::config::SessionConfig;
use wagate_session::engine::EngineKind;
use wagate_session::http::{HttpState, SessionResolver};
use wagate_session::metrics::Metrics;

const KEY: &str = "load-key-0123456789";
const ID: &str = "load";

struct Stats {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `total` calls of `call` with `concurrency` in flight.
async fn drive<F, Fut>(total: usize, concurrency: usize, call: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(total / concurrency + 1);
                for i in (w..total).step_by(concurrency) {
                    let t = Instant::now();
                    call(i).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Stats {
        per_second: total as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn row(name: &str, s: &Stats, baseline: Option<&Stats>) {
    let ratio = baseline
        .map(|b| format!("{:>6.2}x", b.per_second / s.per_second))
        .unwrap_or_else(|| "     -".into());
    println!(
        "{name:<28} {:>10.0} req/s   p50 {:>8.3} ms   p99 {:>8.3} ms   slower than direct: {ratio}",
        s.per_second,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3
    );
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn send_body(i: usize) -> SendRequest {
    SendRequest {
        to: format!("97150{:06}1", i % 5000),
        text: Some(format!("load {i}")),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::var("LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SessionConfig {
        engine: EngineKind::Simulator,
        send_min_interval: Duration::ZERO,
        new_chats_per_day: 0,
        ..SessionConfig::default()
    };
    let metrics = Arc::new(Metrics::new());
    let links = LinkSigner::new(b"load".to_vec());
    let limits = MediaLimits::default();
    let resolver_slot: Arc<std::sync::OnceLock<Arc<dyn SessionResolver>>> = Arc::default();
    let slot = resolver_slot.clone();
    let link_copy = links.clone();
    let backend = LocalBackend::open(dir.path(), config, metrics.clone(), move |sessions| {
        let _ = slot.set(sessions.clone());
        HttpState {
            sessions,
            links: link_copy,
            limits,
            public_url: String::new(),
        }
    })
    .await
    .expect("backend");
    backend
        .create(serde_json::from_value(json!({ "sessionId": ID })).expect("request"))
        .await
        .expect("create");
    let resolver = resolver_slot.get().expect("resolver").clone();
    let session = resolver.resolve(ID).expect("session");
    session.link_in_sandbox().await.expect("link");

    let admin = KeySpec {
        name: "admin".into(),
        secret: KEY.into(),
        sessions: vec!["*".into()],
        read_only: false,
        rate_limit: None,
    };
    let router = serve(build_app(AppParts {
        backend: backend.clone(),
        keys: ApiKeySet::from_specs(vec![admin]).expect("keys"),
        links: links.clone(),
        metrics: metrics.clone(),
        metrics_on_api_port: true,
        limits: wagate_api::MediaLimits::default(),
        max_inflight: 4096,
        cluster: true,
    }))
    .await;
    let pod_auth = Arc::new(AuthState {
        keys: ApiKeySet::full_access([KEY]),
        links: links.clone(),
        console: None,
    });
    let pod = serve(
        wagate_session::http::session_routes(HttpState {
            sessions: resolver,
            links,
            limits,
            public_url: String::new(),
        })
        .layer(axum::middleware::from_fn_with_state(pod_auth, authenticate)),
    )
    .await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");

    println!(
        "{total} requests per row, {concurrency} in flight, simulator engine, zero send interval\n"
    );
    for (workload, is_send) in [("status GET", false), ("send (sync)", true)] {
        let direct = {
            let session = session.clone();
            drive(total, concurrency, move |i| {
                let session = session.clone();
                async move {
                    if is_send {
                        let send = send_body(i)
                            .validate(&MediaLimits::default())
                            .expect("valid");
                        session.send(send, true).await.expect("sent");
                    } else {
                        std::hint::black_box(session.info().await);
                    }
                }
            })
            .await
        };
        let mut rows = vec![("runtime, called directly".to_string(), direct)];
        for (name, base) in [
            ("session HTTP API", pod.clone()),
            ("router HTTP API", router.clone()),
        ] {
            let http = http.clone();
            let stats = drive(total, concurrency, move |i| {
                let (http, base) = (http.clone(), base.clone());
                async move {
                    let url = format!("{base}/v1/sessions/{ID}");
                    let request = if is_send {
                        http.post(format!("{url}/messages")).json(&send_body(i))
                    } else {
                        http.get(url)
                    };
                    let resp = request.bearer_auth(KEY).send().await.expect("request");
                    assert!(resp.status().is_success(), "{}", resp.status());
                    let _ = resp.bytes().await;
                }
            })
            .await;
            rows.push((name.to_string(), stats));
        }
        println!("{workload}");
        for (name, stats) in &rows {
            row(
                &format!("  {name}"),
                stats,
                (name != &rows[0].0).then_some(&rows[0].1),
            );
        }
        let (pod_stats, router_stats) = (&rows[1].1, &rows[2].1);
        println!(
            "  router / session HTTP throughput: {:.2}\n",
            router_stats.per_second / pod_stats.per_second
        );
    }
    backend.shutdown().await;
}
