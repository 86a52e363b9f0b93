//! The router's cluster backend over HTTP: a fake Kubernetes API, the real operator, a
//! kubelet stand-in running real `wagate-session` processes on 127.0.1.x as pods, and the
//! real router binary (`support/cluster.rs`). The shared contract cases run here too
//! (`contract/cases.rs`), so both backends stay alike.

// The same cases as `contract`, bound to this backend's `Router`: loaded twice on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "../contract/cases.rs"]
mod cases;

use std::time::{Duration, Instant};

use crate::support::cluster::{INTERNAL_TOKEN, NAMESPACE, OPERATOR_USER, ROUTER_USER};
use crate::support::{Api, KEY, states_until, wait_until};
use base64::Engine as _;
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_e2e::fake_kube::{SECRETS, SESSIONS};

pub use crate::support::cluster::ClusterRouter as Router;
use cases::code;

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_session_lives_as_a_resource_and_its_pod_serves_through_the_router() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, created) = api
        .post(
            "/v1/sessions",
            json!({ "sessionId": "Trainer_1", "labels": { "team": "sales" },
                    "webhook": { "url": "http://127.0.0.1:9/hook", "events": ["message.received"], "secret": "s3cret-s3cret-s3cret" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "qr");

    // The resource: derived name, id in spec and label, webhook with its Secret.
    let name = wagate_api::crd::resource_name("Trainer_1");
    let resource = router
        .kube
        .get(SESSIONS, NAMESPACE, &name)
        .expect("CR posted");
    assert_eq!(resource["spec"]["sessionId"], "Trainer_1");
    assert_eq!(
        resource["metadata"]["labels"]["wagate.dev/session-id"],
        "Trainer_1"
    );
    assert_eq!(
        resource["spec"]["webhook"]["events"],
        json!(["message.received"])
    );
    let secret_name = resource["spec"]["webhook"]["secretRef"]["name"]
        .as_str()
        .unwrap();
    let secret = router
        .kube
        .get(SECRETS, NAMESPACE, secret_name)
        .expect("webhook secret stored in a Secret");
    assert_eq!(secret["stringData"]["secret"], "s3cret-s3cret-s3cret");
    assert_eq!(secret["metadata"]["ownerReferences"][0]["name"], name);
    assert!(
        !resource.to_string().contains("s3cret"),
        "the secret is not in the resource"
    );

    // QR (bytes streamed through), scan, send, status, SSE.
    let png = api
        .http
        .get(api.url("/v1/sessions/Trainer_1/qr?format=png"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let events = api
        .http
        .get(api.url("/v1/sessions/Trainer_1/events"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut events = events.bytes_stream();
    api.link("Trainer_1", Some("971500000042")).await;
    let (status, sent) = api
        .post(
            "/v1/sessions/Trainer_1/messages",
            json!({ "to": "971501234567", "text": "through the router" }),
        )
        .await;
    assert_eq!(
        (status, sent["status"].as_str()),
        (StatusCode::OK, Some("sent"))
    );
    let (_, info) = api.get("/v1/sessions/Trainer_1").await;
    assert_eq!(
        (
            info["status"].as_str(),
            info["phone"].as_str(),
            info["labels"]["team"].as_str()
        ),
        (Some("connected"), Some("971500000042"), Some("sales"))
    );
    assert_eq!(info["webhook"]["hasSecret"], true);
    let mut seen = String::new();
    while !seen.contains("\"connected\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("SSE through the proxy")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Apps cannot reach the pod with their key; the router uses the internal token.
    let pod = Api::new(&router.kubelet.pod_base(&name).unwrap(), KEY);
    assert_eq!(
        pod.get("/v1/sessions/Trainer_1").await.0,
        StatusCode::FORBIDDEN
    );
    let pod = Api::new(&pod.base, INTERNAL_TOKEN);
    assert_eq!(pod.get("/v1/sessions/Trainer_1").await.0, StatusCode::OK);

    // A new webhook secret is a new Secret; the old one goes.
    let (status, updated) = api
        .put(
            "/v1/sessions/Trainer_1/webhook",
            json!({ "url": "http://127.0.0.1:9/other", "secret": "n3w-n3w-n3w-n3w-n3w" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["webhook"]["url"], "http://127.0.0.1:9/other");
    let resource = router.kube.get(SESSIONS, NAMESPACE, &name).unwrap();
    assert_eq!(resource["spec"]["webhook"]["events"], Value::Null);
    assert_ne!(
        resource["spec"]["webhook"]["secretRef"]["name"].as_str(),
        Some(secret_name)
    );
    assert!(router.kube.get(SECRETS, NAMESPACE, secret_name).is_none());

    // Delete with purge: marked, deleted, finalized by the operator, gone from the index.
    let (status, deleted) = api.delete("/v1/sessions/Trainer_1?purge=true").await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({ "deleted": true, "purged": true }))
    );
    let calls = router.kube.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.verb == "delete" && c.resource == SESSIONS)
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let gone = router.kube.get(SESSIONS, NAMESPACE, &name).is_none();
            async move { gone }
        })
        .await,
        "CR deleted"
    );
    assert_eq!(
        api.get("/v1/sessions/Trainer_1").await.0,
        StatusCode::NOT_FOUND
    );

    // Every call each component made is one the chart's RBAC grants it (wagate_api::rbac).
    let calls = router.kube.calls();
    for (user, granted) in [
        (ROUTER_USER, wagate_api::rbac::ROUTER_CALLS),
        (OPERATOR_USER, wagate_api::rbac::OPERATOR_CALLS),
    ] {
        let made: Vec<_> = calls.iter().filter(|c| c.user == user).collect();
        assert!(!made.is_empty(), "{user} made no API call");
        for call in made {
            let (group, resource, verb) = call.rule();
            assert!(
                granted.contains(&(group.as_str(), resource.as_str(), verb.as_str())),
                "{call:?} is not granted to {user}"
            );
        }
    }
    assert!(
        calls
            .iter()
            .all(|c| c.user == ROUTER_USER || c.user == OPERATOR_USER),
        "a call with neither component's credentials"
    );
}

#[tokio::test]
async fn a_moved_pod_is_reached_at_its_new_address_and_a_missing_one_gets_503_at_once() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    assert_eq!(
        api.post("/v1/sessions", json!({ "sessionId": "mover" }))
            .await
            .0,
        StatusCode::CREATED
    );
    api.link("mover", None).await;
    let name = wagate_api::crd::resource_name("mover");
    let first_ip = router.kubelet.pod_ip(&name).unwrap();

    let new_ip = router.kubelet.move_pod(&name);
    assert_ne!(first_ip, new_ip);
    // Same volume, new address: the next calls reach it and it is still linked.
    api.wait_status("mover", "connected", Duration::from_secs(10))
        .await;
    let (status, sent) = api
        .post(
            "/v1/sessions/mover/messages",
            json!({ "to": "971501234567", "text": "after the move" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");

    router.kubelet.take_pod_away(&name);
    for _ in 0..5 {
        let started = Instant::now();
        let (status, err) = api.get("/v1/sessions/mover/groups").await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered in {:?}",
            started.elapsed()
        );
        assert_eq!(
            (status, code(&err)),
            (StatusCode::SERVICE_UNAVAILABLE, "session_not_ready"),
            "{err}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, info) = api.get("/v1/sessions/mover").await;
    assert_eq!(status, StatusCode::OK, "the session itself is still shown");
    assert_eq!(
        (info["status"].as_str(), info["ready"].as_bool()),
        (Some("starting"), Some(false))
    );

    router.kubelet.restore_pod(&name);
    api.wait_status("mover", "connected", Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn two_replicas_over_one_api_answer_identically() {
    let home = tempfile::tempdir().unwrap();
    let a = Router::start(home.path(), &[]);
    let b = a.replica(home.path());
    a.api
        .post(
            "/v1/sessions",
            json!({ "sessionId": "shared", "labels": { "k": "v" } }),
        )
        .await;
    a.api.link("shared", Some("971500000077")).await;
    b.api
        .wait_status("shared", "connected", Duration::from_secs(10))
        .await;
    let settled = wait_until(Duration::from_secs(10), || async {
        a.api.get("/v1/sessions").await == b.api.get("/v1/sessions").await
    })
    .await;
    assert!(settled, "both replicas list the same sessions");
    let (_, list) = b.api.get("/v1/sessions").await;
    assert_eq!(list["sessions"][0]["phone"], "971500000077");
    assert_eq!(
        a.api.get("/v1/sessions/shared").await,
        b.api.get("/v1/sessions/shared").await
    );
    // A QR link signed by one replica opens on the other; a message sent by one is seen by both.
    a.api.post("/v1/sessions/shared/logout", json!({})).await;
    b.api
        .wait_status("shared", "qr", Duration::from_secs(10))
        .await;
    let (_, link) = a.api.post("/v1/sessions/shared/qr-link", json!({})).await;
    let page = reqwest::get(b.api.url(link["url"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // Creating through the other replica is idempotent.
    assert_eq!(
        b.api
            .post("/v1/sessions", json!({ "sessionId": "shared" }))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_routers_metrics_carry_every_pods_session_series() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    for id in ["m-1", "m-2"] {
        api.post("/v1/sessions", json!({ "sessionId": id })).await;
    }
    api.link("m-1", None).await;
    api.post(
        "/v1/sessions/m-1/messages",
        json!({ "to": "971501234567", "text": "counted" }),
    )
    .await;
    let metrics = || async {
        api.http
            .get(api.url("/metrics"))
            .bearer_auth(&api.key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let gathered = wait_until(Duration::from_secs(10), || async {
        let text = metrics().await;
        text.contains("wagate_session_state{session=\"m-1\",state=\"connected\"} 1")
            && text.contains("wagate_session_state{session=\"m-2\",state=\"qr\"} 1")
            && text.contains("wagate_messages_sent_total{session=\"m-1\"} 1")
    })
    .await;
    assert!(gathered, "{}", metrics().await);
    let text = metrics().await;
    assert_eq!(
        text.matches("# TYPE wagate_session_state gauge").count(),
        1,
        "one family header for all pods"
    );
    api.delete("/v1/sessions/m-2").await;
    let dropped = wait_until(Duration::from_secs(10), || async {
        !metrics().await.contains("session=\"m-2\"")
    })
    .await;
    assert!(dropped, "series of a deleted session go");
}

#[tokio::test]
async fn a_50_mib_download_streams_through_the_router() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    api.post("/v1/sessions", json!({ "sessionId": "big" }))
        .await;
    api.link("big", None).await;
    // The media arrives at the pod directly (a simulated contact sends it).
    let bytes: Vec<u8> = (0..50 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let pod = Api::new(
        &router
            .kubelet
            .pod_base(&wagate_api::crd::resource_name("big"))
            .unwrap(),
        INTERNAL_TOKEN,
    );
    let (status, inbound) = pod
        .post(
            "/v1/sessions/big/sandbox/inbound",
            json!({ "from": "971501234567", "id": "BIGMEDIA1",
                    "media": { "type": "document", "data": base64::engine::general_purpose::STANDARD.encode(&bytes), "mimeType": "application/octet-stream" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{inbound}");
    drop(bytes);
    // The pod stores the media as it processes the inbound message.
    let stored = wait_until(Duration::from_secs(20), || async {
        pod.http
            .get(pod.url("/v1/sessions/big/media/BIGMEDIA1"))
            .bearer_auth(INTERNAL_TOKEN)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(stored, "the pod stored the media");

    let download = || async {
        let resp = api
            .http
            .get(api.url("/v1/sessions/big/media/BIGMEDIA1"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
        let mut stream = resp.bytes_stream();
        let mut total = 0usize;
        while let Some(chunk) = stream.next().await {
            total += chunk.unwrap().len();
        }
        total
    };
    let before = rss_kib(router.process.pid());
    for _ in 0..2 {
        assert_eq!(download().await, 50 * 1024 * 1024);
    }
    let growth = rss_kib(router.process.pid()).saturating_sub(before);
    println!("router RSS {before} KiB before, growth {growth} KiB over two 50 MiB downloads");
    assert!(growth < 10 * 1024, "router RSS grew {growth} KiB");
}

/// The **real operator's** deletion path (issue: a test double that never logged out hid
/// that the operator unlinked the phone on every delete): a delete without purge keeps the
/// link, so the same id created again is connected without a QR; a purge unlinks and wipes
/// the volume, so the next create needs a new QR.
#[tokio::test]
async fn real_operator_delete_keeps_the_link_and_purge_unlinks() {
    let home = tempfile::tempdir().unwrap();
    let cluster = Router::start(home.path(), &[]);
    let api = &cluster.api;
    let (status, created) = api
        .post("/v1/sessions", json!({ "sessionId": "Keep_1" }))
        .await;
    assert!(status.is_success(), "{status}: {created}");
    let (ready, seen) = states_until(api, "Keep_1", "qr", Duration::from_secs(20)).await;
    assert!(
        ready,
        "no QR; states: {seen:?}; API calls: {:?}",
        cluster.kube.calls()
    );
    api.link("Keep_1", Some("971500000077")).await;

    let (status, deleted) = api.delete("/v1/sessions/Keep_1").await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({ "deleted": true, "purged": false }))
    );
    let gone = wait_until(Duration::from_secs(20), || async {
        api.get("/v1/sessions/Keep_1").await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "the resource was not finalized");
    let name = wagate_api::crd::resource_name("Keep_1");
    let stopped = wait_until(Duration::from_secs(10), || async {
        cluster.kubelet.pod_base(&name).is_none()
    })
    .await;
    assert!(stopped, "the pod outlived its resource");

    let created = wait_until(Duration::from_secs(20), || async {
        api.post("/v1/sessions", json!({ "sessionId": "Keep_1" }))
            .await
            .0
            .is_success()
    })
    .await;
    assert!(created, "could not create the session again");
    let (connected, seen) = states_until(api, "Keep_1", "connected", Duration::from_secs(20)).await;
    assert!(connected, "not connected again; states: {seen:?}");
    assert!(
        !seen.iter().any(|s| s == "qr"),
        "a QR after a plain delete: {seen:?}"
    );
    let (_, info) = api.get("/v1/sessions/Keep_1").await;
    assert_eq!(info["phone"], "971500000077");

    let (status, _) = api.delete("/v1/sessions/Keep_1?purge=true").await;
    assert_eq!(status, StatusCode::OK);
    let gone = wait_until(Duration::from_secs(20), || async {
        api.get("/v1/sessions/Keep_1").await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "the purged resource was not finalized");
    let wiped = wait_until(Duration::from_secs(10), || async {
        !home.path().join(format!("volume-{name}")).exists()
    })
    .await;
    assert!(
        wiped,
        "the operator did not delete the volume claim on purge"
    );
    let created = wait_until(Duration::from_secs(20), || async {
        api.post("/v1/sessions", json!({ "sessionId": "Keep_1" }))
            .await
            .0
            .is_success()
    })
    .await;
    assert!(created);
    let (qr, seen) = states_until(api, "Keep_1", "qr", Duration::from_secs(20)).await;
    assert!(qr, "a purged session must be linked anew; states: {seen:?}");
}

/// A read-only key gets no QR in cluster mode however the route is spelled: the router
/// decodes the route before deciding, and the pod refuses a request marked read-only.
#[tokio::test]
async fn read_only_keys_get_no_qr_through_an_encoded_route() {
    let home = tempfile::tempdir().unwrap();
    let keys = home.path().join("keys.yaml");
    std::fs::write(
        &keys,
        format!(
            "keys:\n\
             - {{ name: admin, secret: {KEY}, sessions: [\"*\"] }}\n\
             - {{ name: auditor, secret: auditor-secret-0123456789, sessions: [\"*\"], readOnly: true }}\n"
        ),
    )
    .unwrap();
    let router = Router::start(home.path(), &["--api-keys-file", &keys.to_string_lossy()]);
    let (status, _) = router
        .api
        .post("/v1/sessions", json!({ "sessionId": "enc" }))
        .await;
    assert!(status.is_success());
    router
        .api
        .wait_status("enc", "qr", Duration::from_secs(10))
        .await;
    let auditor = router.as_key("auditor-secret-0123456789");
    for path in [
        "/v1/sessions/enc/qr",
        "/v1/sessions/enc/%71r",
        "/v1/sessions/enc/%71%72?format=json",
    ] {
        let (status, body) = auditor.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    assert_eq!(
        router.api.get("/v1/sessions/enc/%71r?format=json").await.0,
        StatusCode::OK,
        "the admin reads it"
    );
    // The pod's own line of defence: a request marked read-only gets no QR.
    let pod = router
        .kubelet
        .pod_base(&wagate_api::crd::resource_name("enc"))
        .unwrap();
    let status = reqwest::Client::new()
        .get(format!("{pod}/v1/sessions/enc/qr?format=json"))
        .bearer_auth(INTERNAL_TOKEN)
        .header("x-wagate-hide-credentials", "1")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The real operator through a session's life: a webhook change rolls the pod (which
/// resumes without a QR and delivers to the new receiver), suspend stops it and resume
/// brings it back linked.
#[tokio::test]
async fn real_operator_rolls_the_pod_for_a_webhook_and_suspends_it() {
    let home = tempfile::tempdir().unwrap();
    let cluster = Router::start(home.path(), &[]);
    let api = &cluster.api;
    let name = wagate_api::crd::resource_name("life");
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "life" }))
        .await;
    assert!(status.is_success());
    let (ready, seen) = states_until(api, "life", "qr", Duration::from_secs(20)).await;
    assert!(ready, "no QR; states: {seen:?}");
    api.link("life", Some("971500000088")).await;

    // A webhook change: new pod template, new pod, same link, events to the new receiver.
    let receiver = crate::support::WebhookReceiver::start().await;
    let (status, body) = api
        .put(
            "/v1/sessions/life/webhook",
            json!({ "url": receiver.url, "secret": "life-secret-0123456789" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rolled = wait_until(Duration::from_secs(20), || async {
        cluster.kubelet.starts(&name) >= 2
    })
    .await;
    assert!(
        rolled,
        "the operator did not roll the pod for the new webhook"
    );
    let (connected, seen) = states_until(api, "life", "connected", Duration::from_secs(20)).await;
    assert!(connected, "not connected after the roll; states: {seen:?}");
    assert!(!seen.iter().any(|s| s == "qr"), "{seen:?}");
    api.post(
        "/v1/sessions/life/sandbox/inbound",
        json!({ "from": "971500000001", "text": "after the roll" }),
    )
    .await;
    let delivered = wait_until(Duration::from_secs(10), || async {
        receiver.deliveries().iter().any(|d| {
            d.body.contains("after the roll") && !d.header("x-wagate-signature").is_empty()
        })
    })
    .await;
    assert!(
        delivered,
        "the rolled pod did not deliver to the new, signed webhook"
    );

    // Suspend: no pod, `stopped`; resume: linked again without a QR.
    cluster.kube.merge(
        SESSIONS,
        NAMESPACE,
        &name,
        json!({ "spec": { "suspend": true } }),
    );
    let gone = wait_until(Duration::from_secs(20), || async {
        cluster.kubelet.pod_ip(&name).is_none()
    })
    .await;
    assert!(gone, "a suspended session kept its pod");
    let (status, _) = api
        .post(
            "/v1/sessions/life/messages",
            json!({ "to": "971501234567", "text": "while suspended" }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    cluster.kube.merge(
        SESSIONS,
        NAMESPACE,
        &name,
        json!({ "spec": { "suspend": false } }),
    );
    let (connected, seen) = states_until(api, "life", "connected", Duration::from_secs(20)).await;
    assert!(connected, "not connected after resume; states: {seen:?}");
    assert!(!seen.iter().any(|s| s == "qr"), "{seen:?}");
}

/// The real operator asks the pod for a pairing code when the resource names a phone and
/// keeps it in `status.pairingCode` while the session waits to be linked.
#[tokio::test]
async fn real_operator_keeps_a_pairing_code_in_status() {
    let home = tempfile::tempdir().unwrap();
    let cluster = Router::start(home.path(), &[]);
    cluster.kube.put(
        SESSIONS,
        NAMESPACE,
        json!({ "apiVersion": "wagate.dev/v1alpha1", "kind": "WhatsAppSession",
                "metadata": { "name": "paired" },
                "spec": { "sessionId": "paired", "pairing": { "phoneNumber": "971500000099" } } }),
    );
    let code = wait_until(Duration::from_secs(30), || async {
        cluster
            .kube
            .get(SESSIONS, NAMESPACE, "paired")
            .and_then(|r| r["status"]["pairingCode"].as_str().map(String::from))
            .is_some_and(|c| c.len() == 8)
    })
    .await;
    let resource = cluster.kube.get(SESSIONS, NAMESPACE, "paired");
    assert!(code, "no pairing code in status: {resource:?}");
    let status = &resource.unwrap()["status"];
    assert!(status["pairingCodeExpiresAt"].is_string(), "{status}");
    assert_eq!(status["status"], "qr", "{status}");
}
