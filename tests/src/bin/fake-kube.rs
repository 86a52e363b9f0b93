//! A [`FakeKube`] holding N `WhatsAppSession` resources and their ready pods, for measuring
//! the router's cluster backend at scale (`scripts/cluster-scale.sh`). Every pod, at its own
//! loopback address, is served by one local "pod fleet" server that answers what the router
//! asks a session pod: the event stream (held open, as a connected session's is) and
//! `/metrics` (what a real linked pod answered after a few sends: about 10 KB, most of it
//! HTTP histograms the router does not relay). It prints the kubeconfig path, then the
//! number of event streams open whenever it changes. With `unready`, the pods are not ready:
//! the router indexes them but relays nothing.
//!   fake-kube <sessions> <namespace> <dir> [ready|unready]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use serde_json::json;
use wagate_e2e::fake_kube::{FakeKube, PODS, SESSIONS};

/// A real `wagate-session`'s `/metrics`, linked to the protocol simulator, after three sends
/// and one received message.
const SESSION_POD_METRICS: &str = include_str!("session-pod-metrics.prom");

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: fake-kube <sessions> <namespace> <dir> [ready|unready]";
    let sessions: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let namespace = args.next().expect(usage);
    let dir = std::path::PathBuf::from(args.next().expect(usage));
    let ready = match args.next().as_deref() {
        None | Some("ready") => "True",
        Some("unready") => "False",
        Some(_) => panic!("{usage}"),
    };

    let streams = Arc::new(AtomicUsize::new(0));
    // Every pod gets its own loopback address (127.1.x.y), as pods have their own IPs: the
    // router keeps connections per address, so one shared address would understate its
    // sockets. Any 127/8 address reaches a socket bound to all interfaces; this is a
    // benchmark's stand-in, up for a minute.
    let fleet = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind pod fleet");
    let fleet_port = fleet.local_addr().expect("addr").port();
    let app = Router::new()
        .route("/v1/sessions/{id}/events", get(events))
        .route("/metrics", get(|| async { SESSION_POD_METRICS }))
        .with_state(streams.clone());
    tokio::spawn(async move { axum::serve(fleet, app).await });

    let kube = FakeKube::start().await;
    for n in 0..sessions {
        let name = format!("desk-{n:05}");
        kube.put(
            SESSIONS,
            &namespace,
            json!({ "apiVersion": "wagate.dev/v1alpha1", "kind": "WhatsAppSession",
                    "metadata": { "name": name }, "spec": { "sessionId": name } }),
        );
        kube.put(
            PODS,
            &namespace,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": format!("{name}-0"), "labels": {
                    "app.kubernetes.io/name": "wagate",
                    "app.kubernetes.io/component": "session",
                    "app.kubernetes.io/instance": name } },
                "spec": { "containers": [{ "name": "session", "ports": [
                    { "name": "http", "containerPort": fleet_port },
                    { "name": "metrics", "containerPort": fleet_port } ] }] },
                "status": { "podIP": format!("127.1.{}.{}", n / 250, n % 250 + 1),
                            "phase": "Running",
                            "conditions": [{ "type": "Ready", "status": ready }] }
            }),
        );
    }
    println!(
        "{}",
        kube.write_kubeconfig(&dir, &namespace, "router").display()
    );
    let mut shown = usize::MAX;
    loop {
        let open = streams.load(Ordering::Relaxed);
        if open != shown {
            println!("event streams open: {open}");
            shown = open;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A connected session's event stream: nothing happens, so it only keeps alive.
async fn events(
    State(streams): State<Arc<AtomicUsize>>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    struct Open(Arc<AtomicUsize>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    streams.fetch_add(1, Ordering::Relaxed);
    let open = Open(streams);
    let idle = futures::stream::pending::<Result<Event, std::convert::Infallible>>();
    Sse::new(futures::StreamExt::map(idle, move |e| {
        let _ = &open;
        e
    }))
    .keep_alive(KeepAlive::default())
}
