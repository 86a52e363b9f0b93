//! The operator binary's probes: `/healthz` answers at once; `/readyz` is `503 syncing` until
//! its watches have listed the resources (a reconcile before that acts on a partial picture),
//! then `200`.

use std::time::Duration;

use reqwest::StatusCode;
use wagate_e2e::fake_kube::FakeKube;
use wagate_e2e::{Process, wait_until};

fn operator(home: &std::path::Path, kubeconfig: &std::path::Path) -> Process {
    operator_electing(home, kubeconfig, false)
}

fn operator_electing(
    home: &std::path::Path,
    kubeconfig: &std::path::Path,
    leader_election: bool,
) -> Process {
    let token = home.join("token");
    std::fs::write(&token, "internal-token-0123456789\n").unwrap();
    let election = format!("--leader-election={leader_election}");
    let args = [
        "--namespace",
        "wagate",
        &election,
        "--listen",
        "127.0.0.1:0",
        "--internal-token-file",
        &token.to_string_lossy(),
    ]
    .map(String::from)
    .to_vec();
    let env = vec![(
        "KUBECONFIG".to_string(),
        kubeconfig.to_string_lossy().into_owned(),
    )];
    Process::start_with_env(env!("CARGO_BIN_EXE_wagate-operator"), args, env)
}

async fn probe(process: &Process, path: &str) -> (StatusCode, String) {
    let response = reqwest::get(format!("{}{path}", process.base))
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// A kubeconfig naming an API server that takes connections and never answers (kept
/// listening by the returned socket): a first list or a Lease never comes.
fn silent_api_server(home: &std::path::Path) -> (std::net::TcpListener, std::path::PathBuf) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let kubeconfig = home.join("silent-kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: http://{}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
            silent.local_addr().unwrap()
        ),
    )
    .unwrap();
    (silent, kubeconfig)
}

/// A standby (waiting for the Lease) reconciles nothing and is ready, so a rollout of a
/// second replica goes on while the first leads.
#[tokio::test]
async fn a_standby_waiting_for_the_lease_is_ready() {
    let home = tempfile::tempdir().unwrap();
    let (_silent, kubeconfig) = silent_api_server(home.path());
    let standby = operator_electing(home.path(), &kubeconfig, true);
    for _ in 0..5 {
        assert_eq!(probe(&standby, "/readyz").await.0, StatusCode::OK);
        assert_eq!(probe(&standby, "/healthz").await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readyz_waits_for_the_watches_and_healthz_does_not() {
    let home = tempfile::tempdir().unwrap();
    let (_silent, kubeconfig) = silent_api_server(home.path());
    let waiting = operator(home.path(), &kubeconfig);
    assert_eq!(
        probe(&waiting, "/healthz").await,
        (StatusCode::OK, "ok".into())
    );
    for _ in 0..5 {
        assert_eq!(
            probe(&waiting, "/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "syncing".into())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let kube = FakeKube::start().await;
    let synced = operator(
        home.path(),
        &kube.write_kubeconfig(home.path(), "wagate", "operator"),
    );
    let ready = wait_until(Duration::from_secs(10), || async {
        probe(&synced, "/readyz").await.0 == StatusCode::OK
    })
    .await;
    assert!(ready, "{:?}", probe(&synced, "/readyz").await);
}
