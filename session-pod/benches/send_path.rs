//! The send path with the simulator engine at zero send interval:
//! `cargo bench -p wagate-session --bench send_path`.
//!
//! * `runtime/sync`: `Session::send` waiting for WhatsApp's ack (store, outbox, engine, status).
//! * `runtime/async_batch_100`: 100 queued sends until the outbox drained them.
//! * `http/sync`: the same sync send as an HTTP request to the session API on loopback.
//! * `kinds/*`: a sync send of each other kind (location, contact card, poll) and a reaction
//!   by id (which reads the message index first).

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wagate_api::{MediaLimits, SendRequest};
use wagate_http::auth::LinkSigner;
use wagate_http::auth::{ApiKeySet, AuthState, authenticate};
use wagate_session::Session;
use wagate_session::config::SessionConfig;
use wagate_session::engine::EngineKind;
use wagate_session::http::{HttpState, SessionResolver, session_routes};
use wagate_session::metrics::Metrics;

struct Single(Arc<Session>);

impl SessionResolver for Single {
    fn resolve(&self, id: &str) -> Option<Arc<Session>> {
        (self.0.id() == id).then(|| self.0.clone())
    }
    fn removed(&self, _: &str) {}
}

async fn linked_session(dir: &std::path::Path) -> Arc<Session> {
    let config = SessionConfig {
        engine: EngineKind::Simulator,
        send_min_interval: Duration::ZERO,
        new_chats_per_day: 0,
        ..SessionConfig::default()
    };
    let session = Session::open("bench", dir, config, Arc::new(Metrics::new()))
        .await
        .expect("session opens");
    session.link_in_sandbox().await.expect("links");
    session
}

fn request(i: usize) -> SendRequest {
    SendRequest {
        to: format!("97150{:06}1", i % 1000),
        text: Some(format!("bench message {i}")),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let session = rt.block_on(linked_session(dir.path()));
    let limits = MediaLimits::default();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let next = || counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    let mut group = c.benchmark_group("runtime");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sync", |b| {
        b.to_async(&rt).iter(|| async {
            let send = request(next()).validate(&limits).expect("valid");
            session.send(send, true).await.expect("sent")
        })
    });
    group.throughput(Throughput::Elements(100));
    group.sample_size(20);
    group.bench_function("async_batch_100", |b| {
        b.to_async(&rt).iter(|| async {
            let mut last = None;
            for _ in 0..100 {
                let send = request(next()).validate(&limits).expect("valid");
                last = Some(session.send(send, false).await.expect("queued").result.id);
            }
            let last = last.expect("one id");
            while session.message_status(&last).await != Some(wagate_api::MessageStatus::Sent) {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("kinds");
    group.throughput(Throughput::Elements(1));
    let kinds: [(&str, serde_json::Value); 3] = [
        (
            "location",
            serde_json::json!({ "location": { "latitude": 25.1972, "longitude": 55.2744,
                "name": "Burj Khalifa" } }),
        ),
        (
            "contact",
            serde_json::json!({ "contacts": [{ "fullName": "Front Desk",
                "phones": [{ "number": "+61 2 9250 7111", "label": "WORK" }] }] }),
        ),
        (
            "poll",
            serde_json::json!({ "poll": { "question": "Lunch?",
                "options": ["Pizza", "Sushi", "Salad"] } }),
        ),
    ];
    for (name, content) in kinds {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let mut body = content.clone();
                body["to"] = format!("97150{:06}1", next() % 1000).into();
                let send: SendRequest = serde_json::from_value(body).expect("a send");
                let send = send.validate(&limits).expect("valid");
                session.send(send, true).await.expect("sent")
            })
        });
    }
    let target = rt.block_on(async {
        let send = request(next()).validate(&limits).expect("valid");
        session.send(send, true).await.expect("sent").result.id
    });
    group.bench_function("reaction", |b| {
        b.to_async(&rt).iter(|| async {
            session
                .react(&target, "👍".into(), true)
                .await
                .expect("reacted")
        })
    });
    group.finish();

    let base = rt.block_on(async {
        let state = HttpState {
            sessions: Arc::new(Single(session.clone())),
            links: LinkSigner::new(b"bench".to_vec()),
            limits,
            public_url: String::new(),
        };
        let auth = Arc::new(AuthState {
            keys: ApiKeySet::full_access(["k"]),
            links: LinkSigner::new(b"bench".to_vec()),
            console: None,
        });
        let app =
            session_routes(state).layer(axum::middleware::from_fn_with_state(auth, authenticate));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/v1/sessions/bench/messages")
    });
    let http = reqwest::Client::new();
    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sync", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = http
                .post(&base)
                .bearer_auth("k")
                .json(&request(next()))
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 200);
        })
    });
    group.finish();
    rt.block_on(session.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
