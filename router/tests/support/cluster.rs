//! The router in cluster mode, for tests: a fake Kubernetes API (`FakeKube`), a fake
//! operator that turns `WhatsAppSession` resources into real `wagate-session` processes,
//! one per loopback address (127.0.0.x stands in for a pod IP), and the real router binary
//! with `--backend cluster` pointed at the fake API through a kubeconfig.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wagate_e2e::fake_kube::{FakeKube, PODS, SESSIONS};

use super::{Api, BIN, KEY, Process};

pub const NAMESPACE: &str = "wagate";
/// The token the router presents to session pods (apps never see it).
pub const INTERNAL_TOKEN: &str = "internal-token-0123456789";
const FINALIZER: &str = "wagate.dev/logout";

/// Next loopback address for a "pod": 127.0.0.2 .. 127.0.0.254.
fn next_pod_ip() -> String {
    static NEXT: AtomicU8 = AtomicU8::new(2);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("127.0.0.{}", 2 + n % 252)
}

/// `wagate-session`, next to the router binary (built on demand for `cargo test -p`).
fn session_bin() -> PathBuf {
    let path = Path::new(BIN).with_file_name("wagate-session");
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "wagate-session", "--bin", "wagate-session"])
            .status()
            .expect("cargo build wagate-session");
        assert!(status.success(), "cannot build wagate-session");
    }
    path
}

/// A running session pod.
struct RunningPod {
    process: Process,
    ip: String,
}

/// Plays the operator and the kubelet: finalizer, one session process per resource, the
/// pod object with its IP and readiness, status from the pod, cleanup on delete.
pub struct FakeOperator {
    kube: Arc<FakeKube>,
    home: PathBuf,
    token_file: PathBuf,
    pods: Mutex<HashMap<String, RunningPod>>,
    /// Resources whose pod a test took away; not restarted until `restore_pod`.
    held: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl FakeOperator {
    pub fn start(kube: Arc<FakeKube>, home: &Path) -> Arc<Self> {
        let token_file = home.join("internal-token");
        std::fs::write(&token_file, format!("{INTERNAL_TOKEN}\n")).expect("token file");
        let operator = Arc::new(Self {
            kube,
            home: home.to_path_buf(),
            token_file,
            pods: Mutex::new(HashMap::new()),
            held: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        // A weak handle: when the test drops the router, the operator and its pods go too.
        let looping = Arc::downgrade(&operator);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            while let Some(operator) = looping.upgrade() {
                if operator.stop.load(Ordering::Relaxed) {
                    return;
                }
                operator.reconcile_all(&runtime);
                drop(operator);
                std::thread::sleep(Duration::from_millis(30));
            }
        });
        operator
    }

    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    fn reconcile_all(&self, runtime: &tokio::runtime::Runtime) {
        for resource in self.kube.list(SESSIONS, NAMESPACE) {
            let name = resource["metadata"]["name"].as_str().unwrap().to_string();
            if resource["metadata"].get("deletionTimestamp").is_some() {
                self.finalize(&name, &resource);
                continue;
            }
            if resource["metadata"]["finalizers"].as_array().is_none() {
                self.kube.merge(
                    SESSIONS,
                    NAMESPACE,
                    &name,
                    json!({ "metadata": { "finalizers": [FINALIZER] } }),
                );
            }
            let running = self.pods.lock().unwrap().contains_key(&name);
            if !running && !self.held.lock().unwrap().contains(&name) {
                self.start_pod(&name, &resource);
            }
            self.sync_status(runtime, &name, &resource);
        }
    }

    fn session_id(resource: &Value) -> String {
        resource["spec"]["sessionId"]
            .as_str()
            .or(resource["metadata"]["name"].as_str())
            .unwrap()
            .to_string()
    }

    fn start_pod(&self, name: &str, resource: &Value) {
        let id = Self::session_id(resource);
        let ip = next_pod_ip();
        let mut args: Vec<String> = vec![
            "--session-id".into(),
            id.clone(),
            "--data-dir".into(),
            self.home.join(&id).to_string_lossy().into(),
            "--listen".into(),
            format!("{ip}:0"),
            "--api-key-file".into(),
            self.token_file.to_string_lossy().into(),
            "--engine".into(),
            "simulator".into(),
            "--send-interval-ms".into(),
            "0".into(),
            // Room for the 50 MiB streaming test's inbound media.
            "--max-inline-media-mb".into(),
            "64".into(),
        ];
        if let Some(url) = resource["spec"]["webhook"]["url"].as_str() {
            args.extend(["--webhook-url".into(), url.to_string()]);
        }
        let process = Process::start(&session_bin().to_string_lossy(), args);
        let port: u16 = process.base.rsplit(':').next().unwrap().parse().unwrap();
        self.kube.put(PODS, NAMESPACE, pod_object(name, &ip, port));
        self.pods
            .lock()
            .unwrap()
            .insert(name.to_string(), RunningPod { process, ip });
    }

    /// Copies the pod's state into the resource status (as the operator's polling does).
    fn sync_status(&self, runtime: &tokio::runtime::Runtime, name: &str, resource: &Value) {
        let base = match self.pods.lock().unwrap().get(name) {
            Some(pod) => pod.process.base.clone(),
            None => return,
        };
        let id = Self::session_id(resource);
        // Not `Api::get`, which panics: a pod may die under the call.
        let url = format!("{base}/v1/sessions/{id}");
        let answer = runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(INTERNAL_TOKEN)
                .send()
                .await
                .ok()?
                .error_for_status()
                .ok()?;
            response.json::<Value>().await.ok()
        });
        let Some(info) = answer else {
            return;
        };
        let status = json!({
            "sessionId": id, "status": info["status"], "phone": info["phone"],
            "pushName": info["pushName"], "qrAvailable": info["qrAvailable"],
            "podName": format!("{name}-0"),
        });
        if resource["status"] != status {
            self.kube
                .merge(SESSIONS, NAMESPACE, name, json!({ "status": status }));
        }
    }

    fn finalize(&self, name: &str, resource: &Value) {
        self.pods.lock().unwrap().remove(name);
        self.kube.remove(PODS, NAMESPACE, &format!("{name}-0"));
        if resource["spec"]["retainAuthOnDelete"] == json!(false) {
            let _ = std::fs::remove_dir_all(self.home.join(Self::session_id(resource)));
        }
        self.kube.merge(
            SESSIONS,
            NAMESPACE,
            name,
            json!({ "metadata": { "finalizers": null } }),
        );
    }

    /// The pod of resource `name` is killed and not restarted (node gone, eviction).
    pub fn take_pod_away(&self, name: &str) {
        self.held.lock().unwrap().push(name.to_string());
        self.pods.lock().unwrap().remove(name);
        self.kube.remove(PODS, NAMESPACE, &format!("{name}-0"));
    }

    /// Lets the operator start the pod of `name` again.
    pub fn restore_pod(&self, name: &str) {
        self.held.lock().unwrap().retain(|n| n != name);
    }

    /// The pod is recreated on another node: same volume, new IP (and a new pod uid).
    pub fn move_pod(&self, name: &str) -> String {
        let old_ip = self.pod_ip(name);
        self.take_pod_away(name);
        self.restore_pod(name);
        crate::support::wait_until_blocking(Duration::from_secs(10), || {
            self.pod_ip(name)
                .is_some_and(|ip| Some(&ip) != old_ip.as_ref())
        });
        self.pod_ip(name).expect("pod restarted")
    }

    /// `http://ip:port` of the running pod of `name`.
    pub fn pod_base(&self, name: &str) -> Option<String> {
        self.pods
            .lock()
            .unwrap()
            .get(name)
            .map(|p| p.process.base.clone())
    }

    pub fn pod_ip(&self, name: &str) -> Option<String> {
        self.pods.lock().unwrap().get(name).map(|p| p.ip.clone())
    }
}

impl Drop for FakeOperator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pod_object(name: &str, ip: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": format!("{name}-0"), "labels": {
            "app.kubernetes.io/name": "wagate", "app.kubernetes.io/component": "session",
            "app.kubernetes.io/instance": name } },
        "spec": { "containers": [{ "name": "session", "ports": [
            { "name": "http", "containerPort": port }, { "name": "metrics", "containerPort": port } ] }] },
        "status": { "podIP": ip, "phase": "Running",
            "conditions": [{ "type": "Ready", "status": "True" }] }
    })
}

/// A cluster-mode router with its fake API and fake operator; same surface as
/// `support::Router`, so the contract cases run on both backends.
pub struct ClusterRouter {
    pub process: Process,
    pub api: Api,
    pub kube: Arc<FakeKube>,
    pub operator: Arc<FakeOperator>,
    kubeconfig: PathBuf,
}

impl ClusterRouter {
    /// Sessions' data lives under `home/<sessionId>` (the fake operator's "volumes").
    pub fn start(home: &Path, extra: &[&str]) -> Self {
        let kube = Arc::new(FakeKube::start_detached());
        let operator = FakeOperator::start(kube.clone(), home);
        let kubeconfig = kube.write_kubeconfig(home, NAMESPACE);
        Self::another(&kube, &operator, &kubeconfig, home, extra)
    }

    /// One more router replica over the same API (stateless: it must answer alike).
    pub fn replica(&self, home: &Path) -> Self {
        Self::another(&self.kube, &self.operator, &self.kubeconfig, home, &[])
    }

    fn another(
        kube: &Arc<FakeKube>,
        operator: &Arc<FakeOperator>,
        kubeconfig: &Path,
        home: &Path,
        extra: &[&str],
    ) -> Self {
        let router_dir = tempfile::tempdir().unwrap().keep();
        let mut args: Vec<String> = [
            "--backend",
            "cluster",
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
            operator.token_file().to_string_lossy().into(),
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
        let env = vec![(
            "KUBECONFIG".to_string(),
            kubeconfig.to_string_lossy().into_owned(),
        )];
        let process = Process::start_with_env(BIN, args, env);
        let api = Api::new(&process.base, KEY);
        Self {
            process,
            api,
            kube: kube.clone(),
            operator: operator.clone(),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    pub fn as_key(&self, key: &str) -> Api {
        Api::new(&self.process.base, key)
    }
}
