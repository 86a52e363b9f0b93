//! The reconciler against an in-memory Kubernetes API and real HTTP session pods.

use std::time::{Duration, Instant};

use crate::support::*;
use http::Method;
use kube::runtime::controller::Action;
use serde_json::json;
use wagate_operator::reconcile::{FINALIZER, error_policy, reconcile};

const STS: &str = "/apis/apps/v1/namespaces/team-a/statefulsets/demo";
const SVC: &str = "/api/v1/namespaces/team-a/services/wagate-sessions";
const CR: &str = "/apis/wagate.dev/v1alpha1/namespaces/team-a/whatsappsessions/demo";

#[tokio::test]
async fn a_new_session_gets_its_finalizer_first() {
    let (client, api) = FakeApiServer::start();
    let ctx = context(client, 8080);
    let action = reconcile(session(json!({}), &[]), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    let patches = api.find(Method::PATCH, CR);
    assert_eq!(patches.len(), 1, "{:?}", api.calls());
    assert!(
        patches[0].body.to_string().contains(FINALIZER),
        "{}",
        patches[0].body
    );
    assert!(
        api.find(Method::PATCH, STS).is_empty(),
        "nothing applied before the finalizer"
    );
}

#[tokio::test]
async fn create_applies_statefulset_and_shared_service() {
    let (client, api) = FakeApiServer::start();
    let ctx = context(client, 8080);
    let spec = json!({ "sessionId": "Demo_1", "storage": { "size": "1Gi", "storageClassName": "fast" },
                       "retainAuthOnDelete": false, "sending": { "minIntervalMs": 2500 } });
    let action = reconcile(session(spec, &[FINALIZER]), ctx).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(5)),
        "not connected: fast requeue"
    );

    let service = &api.find(Method::PATCH, SVC)[0];
    assert_eq!(service.body["spec"]["clusterIP"], "None");
    let sts = &api.find(Method::PATCH, STS)[0];
    let spec = &sts.body["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["serviceName"], "wagate-sessions");
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Delete"
    );
    let claim = &spec["volumeClaimTemplates"][0]["spec"];
    assert_eq!(claim["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(claim["storageClassName"], "fast");
    let owner = &sts.body["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["controller"].as_bool()),
        (Some("WhatsAppSession"), Some(true))
    );
    let container = &spec["template"]["spec"]["containers"][0];
    let env = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env("WAGATE_SESSION_ID"), Some(json!("Demo_1")));
    assert_eq!(
        env("WAGATE_SEND_INTERVAL_MS"),
        Some(json!("2500")),
        "minIntervalMs reaches the pod"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    // Server-side apply, with our field manager and force.
    for applied in [service, sts] {
        assert!(
            applied.query.contains("fieldManager=wagate-operator")
                && applied.query.contains("force=true"),
            "{}",
            applied.query
        );
    }
    let status_patch = &api.find(Method::PATCH, &format!("{CR}/status"))[0];
    assert_eq!(status_patch.body["status"]["phase"], "Pending");
    assert_eq!(status_patch.body["status"]["sessionId"], "Demo_1");
}

#[tokio::test]
async fn suspend_scales_to_zero_and_spec_changes_are_reapplied() {
    let (client, api) = FakeApiServer::start();
    let ctx = context(client, 8080);
    reconcile(
        session(json!({ "suspend": true }), &[FINALIZER]),
        ctx.clone(),
    )
    .await
    .unwrap();
    let sts = &api.find(Method::PATCH, STS)[0];
    assert_eq!(sts.body["spec"]["replicas"], 0);
    let status = &api.find(Method::PATCH, &format!("{CR}/status"))[0];
    assert_eq!(status.body["status"]["phase"], "Suspended");

    // The StatefulSet now exists with a 256Mi claim; the spec asks for more and a new pace.
    let created = sts.body.clone();
    api.cluster.lock().unwrap().statefulset = Some(created.clone());
    api.cluster.lock().unwrap().claim = Some(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": { "name": "data-demo-0", "namespace": "team-a" },
        "spec": { "resources": { "requests": { "storage": "256Mi" } } }
    }));
    api.clear();
    let changed = json!({ "storage": { "size": "2Gi" }, "sending": { "minIntervalMs": 4000 } });
    reconcile(session(changed, &[FINALIZER]), ctx)
        .await
        .unwrap();
    let sts = &api.find(Method::PATCH, STS)[0];
    assert_eq!(sts.body["spec"]["replicas"], 1);
    assert!(
        sts.body["spec"]["template"].to_string().contains("4000"),
        "the pod template rolls"
    );
    assert_eq!(
        sts.body["spec"]["volumeClaimTemplates"], created["spec"]["volumeClaimTemplates"],
        "claim templates are immutable: the original ones are kept"
    );
    let grown = api.find(Method::PATCH, "/persistentvolumeclaims/data-demo-0");
    assert_eq!(grown.len(), 1, "{:?}", api.calls());
    assert_eq!(
        grown[0].body["spec"]["resources"]["requests"]["storage"],
        "2Gi"
    );
}

#[tokio::test]
async fn status_is_filled_from_the_session_pod() {
    let pod = FakeSessionPod::start("connected").await;
    let (client, api) = FakeApiServer::start();
    api.set_pod(Some(ready_pod("127.0.0.1")));
    let ctx = context(client, pod.addr.port());
    let action = reconcile(
        session(json!({ "sessionId": "Demo_1" }), &[FINALIZER]),
        ctx.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(60)),
        "connected: slow requeue"
    );
    let status = &api.find(Method::PATCH, &format!("{CR}/status"))[0].body["status"];
    assert_eq!(status["phase"], "Connected");
    assert_eq!(status["status"], "connected");
    assert_eq!(status["phone"], "971501234567");
    assert_eq!(status["pushName"], "Coach Ann");
    assert_eq!(status["podName"], "demo-0");
    assert_eq!(status["observedGeneration"], 2);
    let conditions = status["conditions"].as_array().unwrap();
    for type_ in ["Ready", "PodReady", "Connected"] {
        let c = conditions.iter().find(|c| c["type"] == type_).unwrap();
        assert_eq!(c["status"], "True", "{type_}");
    }
    // The transition to Connected is announced as an Event.
    let events = api.find(Method::POST, "/events");
    assert!(
        events.iter().any(|e| e.body["reason"] == "Linked"),
        "{events:?}"
    );
    assert_eq!(
        pod.state.lock().unwrap().unauthorized,
        0,
        "the internal token was presented"
    );

    // A pod waiting for a scan: WaitingForScan, Connected=False.
    pod.state.lock().unwrap().status = "qr".into();
    api.clear();
    reconcile(session(json!({}), &[FINALIZER]), ctx)
        .await
        .unwrap();
    let status = &api.find(Method::PATCH, &format!("{CR}/status"))[0].body["status"];
    assert_eq!(
        (status["phase"].as_str(), status["qrAvailable"].as_bool()),
        (Some("WaitingForScan"), Some(true))
    );
}

#[tokio::test]
async fn delete_logs_out_purges_and_releases_the_finalizer() {
    let pod = FakeSessionPod::start("connected").await;
    let (client, api) = FakeApiServer::start();
    api.set_pod(Some(ready_pod("127.0.0.1")));
    let ctx = context(client, pod.addr.port());
    let purge = session(
        json!({ "sessionId": "Demo_1", "retainAuthOnDelete": false }),
        &[FINALIZER],
    );
    let action = reconcile(deleting((*purge).clone()), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(
        pod.state.lock().unwrap().logouts,
        vec!["Demo_1".to_string()]
    );
    let deleted = api.find(Method::DELETE, "/persistentvolumeclaims/data-demo-0");
    assert_eq!(deleted.len(), 1, "{:?}", api.calls());
    let released = api.find(Method::PATCH, CR);
    assert!(
        released
            .iter()
            .any(|c| c.body.to_string().contains("remove")),
        "{released:?}"
    );
}

#[tokio::test]
async fn delete_with_retained_auth_keeps_the_volume_and_the_link() {
    let pod = FakeSessionPod::start("connected").await;
    let (client, api) = FakeApiServer::start();
    api.set_pod(Some(ready_pod("127.0.0.1")));
    let ctx = context(client, pod.addr.port());
    let keep = session(json!({}), &[FINALIZER]);
    reconcile(deleting((*keep).clone()), ctx).await.unwrap();
    assert!(
        pod.state.lock().unwrap().logouts.is_empty(),
        "a delete without purge must not unlink the phone"
    );
    assert!(
        api.find(Method::DELETE, "/persistentvolumeclaims/")
            .is_empty()
    );
    assert!(
        api.find(Method::PATCH, CR)
            .iter()
            .any(|c| c.body.to_string().contains("remove")),
        "finalizer removed"
    );
}

#[tokio::test]
async fn an_unreachable_pod_does_not_hold_deletion() {
    let hung = FakeSessionPod::hung().await;
    let (client, api) = FakeApiServer::start();
    api.set_pod(Some(ready_pod("127.0.0.1")));
    let ctx = context(client, hung.port());
    let started = Instant::now();
    let purge = session(json!({ "retainAuthOnDelete": false }), &[FINALIZER]);
    reconcile(deleting((*purge).clone()), ctx).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let released = api.find(Method::PATCH, CR);
    assert!(
        released
            .iter()
            .any(|c| c.body.to_string().contains("remove")),
        "finalizer removed"
    );
    assert_eq!(
        api.find(Method::DELETE, "/persistentvolumeclaims/data-demo-0")
            .len(),
        1
    );
}

#[tokio::test]
async fn api_errors_back_off_per_object_without_panicking() {
    let (client, api) = FakeApiServer::start();
    api.fail("/statefulsets/");
    let ctx = context(client, 8080);
    let obj = session(json!({}), &[FINALIZER]);
    let mut delays = Vec::new();
    for _ in 0..4 {
        let error = reconcile(obj.clone(), ctx.clone()).await.unwrap_err();
        assert!(
            error.to_string().contains("kube API") || error.to_string().contains("InternalError"),
            "{error}"
        );
        delays.push(error_policy(obj.clone(), &error, ctx.clone()));
    }
    let expected: Vec<Action> = [5, 10, 20, 40]
        .map(|s| Action::requeue(Duration::from_secs(s)))
        .into();
    assert_eq!(delays, expected);
    assert!(
        ctx.metrics
            .render()
            .contains("wagate_reconcile_errors_total{error=\"kube\"} 4")
    );
    // Success resets the backoff.
    api.cluster.lock().unwrap().failing.clear();
    reconcile(obj.clone(), ctx.clone()).await.unwrap();
    let error = {
        api.fail("/statefulsets/");
        reconcile(obj.clone(), ctx.clone()).await.unwrap_err()
    };
    assert_eq!(
        error_policy(obj, &error, ctx),
        Action::requeue(Duration::from_secs(5))
    );
}

#[tokio::test]
async fn a_pairing_number_puts_a_code_in_status_and_keeps_it_while_valid() {
    let pod = FakeSessionPod::start("qr").await;
    let (client, api) = FakeApiServer::start();
    api.set_pod(Some(ready_pod("127.0.0.1")));
    let ctx = context(client, pod.addr.port());
    let spec = json!({ "pairing": { "phoneNumber": "971501234567" } });
    reconcile(session(spec.clone(), &[FINALIZER]), ctx.clone())
        .await
        .unwrap();
    let status = api.find(Method::PATCH, &format!("{CR}/status"))[0].body["status"].clone();
    assert_eq!(status["pairingCode"], "ABCD-0001");
    assert_eq!(
        pod.state.lock().unwrap().pair_codes,
        vec!["971501234567".to_string()]
    );

    // The next pass sees that status: the code is still valid, so no new one is requested.
    let mut again = (*session(spec, &[FINALIZER])).clone();
    again.status = Some(serde_json::from_value(status).unwrap());
    reconcile(std::sync::Arc::new(again), ctx).await.unwrap();
    assert_eq!(pod.state.lock().unwrap().pair_codes.len(), 1);
}

/// A session resource with another name, uid and creation time.
fn claimant(name: &str, uid: &str, created: &str) -> wagate_api::crd::WhatsAppSession {
    let mut value = session_json(&[FINALIZER]);
    value["metadata"]["name"] = json!(name);
    value["metadata"]["uid"] = json!(uid);
    value["metadata"]["creationTimestamp"] = json!(created);
    serde_json::from_value(value).unwrap()
}

/// A context whose watch has seen `sessions`.
fn context_seeing(
    client: kube::Client,
    sessions: &[&wagate_api::crd::WhatsAppSession],
) -> std::sync::Arc<wagate_operator::reconcile::Context> {
    let (store, mut writer) = kube::runtime::reflector::store();
    for session in sessions {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply((*session).clone()));
    }
    std::sync::Arc::new(
        std::sync::Arc::try_unwrap(context(client, 8080))
            .ok()
            .expect("one owner")
            .with_sessions(store),
    )
}

#[tokio::test]
async fn a_second_resource_for_one_session_id_is_not_run() {
    let (client, api) = FakeApiServer::start();
    let owner = claimant("demo-a", "uid-a", "2026-01-01T00:00:00Z");
    let duplicate = claimant("demo", "1b7c-uid", "2026-02-01T00:00:00Z");
    let ctx = context_seeing(client, &[&owner, &duplicate]);

    reconcile(std::sync::Arc::new(duplicate), ctx.clone())
        .await
        .unwrap();
    assert!(
        api.find(Method::PATCH, STS).is_empty(),
        "a duplicate got a StatefulSet: {:?}",
        api.calls()
    );
    let status = api.find(Method::PATCH, &format!("{CR}/status"));
    assert_eq!(status.len(), 1, "{:?}", api.calls());
    let condition = &status[0].body["status"]["conditions"][0];
    assert_eq!(
        (
            condition["type"].as_str(),
            condition["status"].as_str(),
            condition["reason"].as_str()
        ),
        (Some("Ready"), Some("False"), Some("DuplicateSessionId"))
    );
    assert!(
        api.calls().iter().any(
            |c| c.path.contains("/events") && c.body.to_string().contains("DuplicateSessionId")
        ),
        "no Event: {:?}",
        api.calls()
    );

    // The owner runs as usual.
    reconcile(std::sync::Arc::new(owner), ctx).await.unwrap();
    assert_eq!(
        api.find(Method::PATCH, "/statefulsets/demo-a").len(),
        1,
        "{:?}",
        api.calls()
    );
}

/// A duplicate that already has a pod (it ran before the watch saw the owner) is scaled to
/// zero: two pods must never share one WhatsApp link.
#[tokio::test]
async fn a_duplicate_that_already_runs_is_scaled_to_zero() {
    let (client, api) = FakeApiServer::start();
    let owner = claimant("demo-a", "uid-a", "2026-01-01T00:00:00Z");
    let duplicate = claimant("demo", "1b7c-uid", "2026-02-01T00:00:00Z");
    api.cluster.lock().unwrap().statefulset = Some(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": { "name": "demo", "namespace": "team-a", "ownerReferences": [{
            "apiVersion": "wagate.dev/v1alpha1", "kind": "WhatsAppSession", "name": "demo",
            "uid": "1b7c-uid", "controller": true }] },
        "spec": { "replicas": 1, "serviceName": "wagate-sessions",
                  "selector": {}, "template": {} }
    }));
    let ctx = context_seeing(client, &[&owner, &duplicate]);

    reconcile(std::sync::Arc::new(duplicate.clone()), ctx.clone())
        .await
        .unwrap();
    let patches = api.find(Method::PATCH, STS);
    assert_eq!(patches.len(), 1, "{:?}", api.calls());
    assert_eq!(patches[0].body, json!({ "spec": { "replicas": 0 } }));

    // A namesake StatefulSet that this resource does not own is left alone.
    api.cluster.lock().unwrap().statefulset.as_mut().unwrap()["metadata"]["ownerReferences"][0]["uid"] =
        json!("someone-else");
    api.clear();
    reconcile(std::sync::Arc::new(duplicate), ctx)
        .await
        .unwrap();
    assert!(api.find(Method::PATCH, STS).is_empty(), "{:?}", api.calls());
}
