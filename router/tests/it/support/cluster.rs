//! The router in cluster mode, for tests, as it runs in a cluster: a fake Kubernetes API
//! (`FakeKube`), the real `wagate-operator` binary reconciling `WhatsAppSession`
//! resources, a kubelet stand-in that runs each StatefulSet's pod as a real
//! `wagate-session` process on a loopback address of its own (see `kubelet.rs`), and the
//! real router binary in `cluster` mode. Nothing of the operator or the router is played.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wagate_e2e::fake_kube::FakeKube;

use super::kubelet::{Kubelet, sibling_bin};
use super::{Api, BIN, KEY, Process};

pub const NAMESPACE: &str = "wagate";
/// The token the router presents to session pods (apps never see it).
pub const INTERNAL_TOKEN: &str = "internal-token-0123456789";
/// The Kubernetes users (kubeconfig tokens) of the two components, so a test can check
/// each one's calls against its own RBAC rules.
pub const ROUTER_USER: &str = "wagate-router";
pub const OPERATOR_USER: &str = "wagate-operator";

/// A cluster-mode router with its API, kubelet and operator; same surface as
/// `support::Router`, so the contract cases run on both backends.
pub struct ClusterRouter {
    pub process: Process,
    pub api: Api,
    pub kube: Arc<FakeKube>,
    pub kubelet: Arc<Kubelet>,
    /// Shared by replicas; killed when the last one goes.
    _operator: Arc<Process>,
    kubeconfig: PathBuf,
    token_file: PathBuf,
}

impl ClusterRouter {
    /// Pods' volumes live under `home` (see `Kubelet`).
    pub fn start(home: &Path, extra: &[&str]) -> Self {
        Self::start_with(home, extra, &[])
    }

    /// A cluster whose sessions without their own webhook deliver to `url`, signed with
    /// `secret`: what the chart's `defaultWebhook` sets up (a Secret in the namespace, the
    /// same `--default-webhook-*` for the operator and the router).
    pub fn start_with_default_webhook(home: &Path, url: &str, secret: &str) -> Self {
        let flags = [
            "--default-webhook-url",
            url,
            "--default-webhook-secret-name",
            "default-webhook",
        ];
        let cluster = Self::start_with(home, &flags, &flags);
        cluster.kube.put(
            wagate_e2e::fake_kube::SECRETS,
            NAMESPACE,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "default-webhook", "namespace": NAMESPACE },
                "stringData": { "secret": secret },
            }),
        );
        cluster
    }

    /// `extra` goes to the router, `operator_extra` to the operator.
    pub fn start_with(home: &Path, extra: &[&str], operator_extra: &[&str]) -> Self {
        let kube = Arc::new(FakeKube::start_detached());
        let kubelet = Kubelet::start(kube.clone(), home);
        let token_file = home.join("internal-token");
        std::fs::write(&token_file, format!("{INTERNAL_TOKEN}\n")).unwrap();
        let operator = Process::start_with_env(
            &sibling_bin("wagate-operator").to_string_lossy(),
            [
                "--namespace",
                NAMESPACE,
                "--leader-election=false",
                "--listen",
                "127.0.0.1:0",
                "--internal-token-file",
                &token_file.to_string_lossy(),
            ]
            .map(String::from)
            .into_iter()
            .chain(operator_extra.iter().map(|s| s.to_string()))
            .collect(),
            kubeconfig_env(&kube.write_kubeconfig(home, NAMESPACE, OPERATOR_USER)),
        );
        let kubeconfig = kube.write_kubeconfig(home, NAMESPACE, ROUTER_USER);
        Self::another(
            &kube,
            &kubelet,
            &Arc::new(operator),
            &kubeconfig,
            &token_file,
            home,
            extra,
        )
    }

    /// One more router replica over the same API (stateless: it must answer alike).
    pub fn replica(&self, home: &Path) -> Self {
        Self::another(
            &self.kube,
            &self.kubelet,
            &self._operator,
            &self.kubeconfig,
            &self.token_file,
            home,
            &[],
        )
    }

    fn another(
        kube: &Arc<FakeKube>,
        kubelet: &Arc<Kubelet>,
        operator: &Arc<Process>,
        kubeconfig: &Path,
        token_file: &Path,
        home: &Path,
        extra: &[&str],
    ) -> Self {
        let router_dir = tempfile::tempdir().unwrap().keep();
        let mut args: Vec<String> = [
            "cluster",
            "--namespace",
            NAMESPACE,
            "--listen",
            "127.0.0.1:0",
            "--create-wait-secs",
            "10",
            "--pod-metrics-interval-secs",
            "1",
        ]
        .map(String::from)
        .to_vec();
        args.extend(["--data-dir".into(), router_dir.to_string_lossy().into()]);
        args.extend([
            "--internal-token-file".into(),
            token_file.to_string_lossy().into(),
        ]);
        // Replicas share the link secret, as the chart's Secret does.
        let link_secret = home.join("link-secret");
        if !link_secret.exists() {
            std::fs::write(&link_secret, "shared-link-secret-0123456789abcdef").unwrap();
        }
        args.extend([
            "--link-secret-file".into(),
            link_secret.to_string_lossy().into(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        if !extra.contains(&"--api-keys-file") {
            args.extend(["--api-key".to_string(), KEY.to_string()]);
        }
        let process = Process::start_with_env(BIN, args, kubeconfig_env(kubeconfig));
        let api = Api::new(&process.base, KEY);
        Self {
            process,
            api,
            kube: kube.clone(),
            kubelet: kubelet.clone(),
            _operator: operator.clone(),
            kubeconfig: kubeconfig.to_path_buf(),
            token_file: token_file.to_path_buf(),
        }
    }

    pub fn as_key(&self, key: &str) -> Api {
        Api::new(&self.process.base, key)
    }
}

fn kubeconfig_env(kubeconfig: &Path) -> Vec<(String, String)> {
    vec![(
        "KUBECONFIG".to_string(),
        kubeconfig.to_string_lossy().into_owned(),
    )]
}
