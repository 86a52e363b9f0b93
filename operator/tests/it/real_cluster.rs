//! Against a real cluster (ignored by default; see README "Operator on a real cluster").
//! Needs a kubeconfig, the CRD applied and `wagate-operator` running (e.g. via the chart or
//! `cargo run -p wagate-operator`). Creates a session, waits for its StatefulSet and its
//! status, then deletes it and waits for the finalizer to let go.
//!
//!   cargo test -p wagate-operator --test it real_cluster:: -- --ignored

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use wagate_api::crd::WhatsAppSession;

async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..120 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster with the CRD and a running operator"]
async fn session_gets_a_pod_and_a_status_then_goes_away() {
    let client = Client::try_default().await.expect("kubeconfig");
    let namespace = std::env::var("WAGATE_TEST_NAMESPACE").unwrap_or_else(|_| "default".into());
    let sessions: Api<WhatsAppSession> = Api::namespaced(client.clone(), &namespace);
    let statefulsets: Api<StatefulSet> = Api::namespaced(client, &namespace);
    let session: WhatsAppSession = serde_json::from_value(serde_json::json!({
        "apiVersion": "wagate.dev/v1alpha1", "kind": "WhatsAppSession",
        "metadata": { "name": "wagate-it" },
        "spec": { "sessionId": "wagate_it", "retainAuthOnDelete": false }
    }))
    .unwrap();
    sessions
        .create(&PostParams::default(), &session)
        .await
        .expect("create");
    let sts = eventually("the StatefulSet", || async {
        statefulsets.get_opt("wagate-it").await.ok().flatten()
    })
    .await;
    assert_eq!(sts.spec.unwrap().replicas, Some(1));
    let status = eventually("a status", || async {
        sessions
            .get("wagate-it")
            .await
            .ok()
            .and_then(|s| s.status)
            .filter(|s| s.phase.is_some())
    })
    .await;
    assert_eq!(status.session_id.as_deref(), Some("wagate_it"));
    sessions
        .delete("wagate-it", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the deletion", || async {
        match sessions.get_opt("wagate-it").await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await;
}
