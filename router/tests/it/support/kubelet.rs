//! The kubelet of the test cluster (see `cluster.rs`): `FakeKube` holds the objects, the
//! real `wagate-operator` binary reconciles them, and [`Kubelet`] plays the StatefulSet
//! controller and the kubelet. A StatefulSet with a replica becomes a Pod object and a
//! `wagate-session` process that runs the pod template's command with its env, on a
//! loopback address of its own (127.0.1.x stands in for the pod IP; the ports are the
//! template's). Volumes are folders under the test's home, kept across pod restarts and
//! wiped when the operator deletes the claim. Nothing of the operator is played here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wagate_e2e::fake_kube::{FakeKube, PODS, SECRETS, SESSIONS};

use super::cluster::{INTERNAL_TOKEN, NAMESPACE};
use super::{BIN, Process};

const STATEFULSETS: &str = "apis/apps/v1/statefulsets";
const CLAIMS: &str = "api/v1/persistentvolumeclaims";

/// Next loopback address for a pod: 127.0.1.2 .. 127.0.1.254.
fn next_pod_ip() -> String {
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("127.0.1.{}", 2 + n % 252)
}

/// A binary of the workspace next to the router's. `cargo test --workspace` builds them all
/// first; a filtered run may find an old one: `cargo test --workspace --no-run` refreshes.
pub fn sibling_bin(name: &str) -> PathBuf {
    let path = Path::new(BIN).with_file_name(name);
    if !path.exists() {
        let package = if name == "wagate-operator" {
            "wagate-operator"
        } else {
            "wagate-session"
        };
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", package, "--bin", name])
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build {name}");
    }
    path
}

struct RunningPod {
    /// Held for its `Drop`, which kills the process.
    _process: Process,
    ip: String,
    /// The pod template it runs; a new one rolls the pod.
    template: Value,
}

/// Turns StatefulSets into running session processes and Pod objects.
pub struct Kubelet {
    kube: Arc<FakeKube>,
    home: PathBuf,
    pods: Mutex<HashMap<String, RunningPod>>,
    /// StatefulSets whose volume claim exists (to notice when the operator deletes it).
    claims: Mutex<Vec<String>>,
    /// Pods started, by StatefulSet, for tests that count restarts.
    starts: Mutex<HashMap<String, usize>>,
    /// StatefulSets whose pod a test took away (no node to run it) until `restore_pod`.
    held: Mutex<Vec<String>>,
    /// Held by a sync pass, so a test's `take_pod_away` does not race a pass that is
    /// about to start the pod.
    syncing: Mutex<()>,
    stop: AtomicBool,
}

impl Kubelet {
    pub fn start(kube: Arc<FakeKube>, home: &Path) -> Arc<Self> {
        let kubelet = Arc::new(Self {
            kube,
            home: home.to_path_buf(),
            pods: Mutex::default(),
            claims: Mutex::default(),
            starts: Mutex::default(),
            held: Mutex::default(),
            syncing: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let looping = Arc::downgrade(&kubelet);
        std::thread::spawn(move || {
            while let Some(kubelet) = looping.upgrade() {
                if kubelet.stop.load(Ordering::Relaxed) {
                    return;
                }
                kubelet.sync();
                drop(kubelet);
                std::thread::sleep(Duration::from_millis(30));
            }
        });
        kubelet
    }

    fn volume(&self, statefulset: &str) -> PathBuf {
        self.home.join(format!("volume-{statefulset}"))
    }

    fn sync(&self) {
        let _pass = self.syncing.lock().unwrap();
        let sessions: Vec<String> = self
            .kube
            .list(SESSIONS, NAMESPACE)
            .iter()
            .filter_map(|s| s["metadata"]["name"].as_str().map(String::from))
            .collect();
        let mut seen = Vec::new();
        for statefulset in self.kube.list(STATEFULSETS, NAMESPACE) {
            let name = statefulset["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string();
            let owner = statefulset["metadata"]["ownerReferences"][0]["name"].as_str();
            if owner.is_some_and(|owner| !sessions.iter().any(|s| s == owner)) {
                // Garbage collection of an owned object whose owner is gone.
                self.kube.remove(STATEFULSETS, NAMESPACE, &name);
                self.stop_pod(&name);
                continue;
            }
            seen.push(name.clone());
            let replicas = statefulset["spec"]["replicas"].as_i64().unwrap_or(1);
            let template = statefulset["spec"]["template"].clone();
            let current = self
                .pods
                .lock()
                .unwrap()
                .get(&name)
                .map(|p| p.template.clone());
            let held = self.held.lock().unwrap().contains(&name);
            match (replicas, current) {
                (0, Some(_)) => self.stop_pod(&name),
                (0, None) => {}
                (_, None) if held => {}
                (_, Some(running)) if running == template => {}
                (_, _) => {
                    self.stop_pod(&name);
                    self.start_pod(&name, &template);
                }
            }
        }
        // Pods of StatefulSets that are gone go too.
        let orphans: Vec<String> = self
            .pods
            .lock()
            .unwrap()
            .keys()
            .filter(|name| !seen.contains(name))
            .cloned()
            .collect();
        for name in orphans {
            self.stop_pod(&name);
        }
        // A claim the operator deleted takes its volume with it.
        let deleted: Vec<String> = self
            .claims
            .lock()
            .unwrap()
            .iter()
            .filter(|sts| {
                self.kube
                    .get(CLAIMS, NAMESPACE, &format!("data-{sts}-0"))
                    .is_none()
            })
            .cloned()
            .collect();
        for statefulset in deleted {
            if !self.pods.lock().unwrap().contains_key(&statefulset) {
                let _ = std::fs::remove_dir_all(self.volume(&statefulset));
                self.claims.lock().unwrap().retain(|s| s != &statefulset);
            }
        }
    }

    fn stop_pod(&self, statefulset: &str) {
        if self.pods.lock().unwrap().remove(statefulset).is_some() {
            self.kube
                .remove(PODS, NAMESPACE, &format!("{statefulset}-0"));
        }
    }

    /// The env of the template's container, with the pod's paths and addresses mapped
    /// onto this machine.
    fn container_env(
        &self,
        statefulset: &str,
        template: &Value,
        ip: &str,
    ) -> Vec<(String, String)> {
        let pod_dir = self.home.join(format!("pod-{statefulset}"));
        std::fs::create_dir_all(&pod_dir).unwrap();
        let token = pod_dir.join("token");
        std::fs::write(&token, format!("{INTERNAL_TOKEN}\n")).unwrap();
        let container = &template["spec"]["containers"][0];
        let mut env = vec![
            // The tests link through the sandbox.
            ("WAGATE_ENGINE".to_string(), "simulator".to_string()),
            ("RUST_LOG".to_string(), "warn".to_string()),
        ];
        // This test cluster's node-level settings, as the local harness passes them as
        // flags: no pacing between sends, room for the 50 MiB streaming test's media.
        let overrides = [
            ("WAGATE_SEND_INTERVAL_MS", "0"),
            ("WAGATE_MAX_INLINE_MEDIA_MB", "64"),
        ];
        for var in container["env"].as_array().into_iter().flatten() {
            let name = var["name"].as_str().unwrap().to_string();
            let Some(value) = var["value"].as_str() else {
                if name == "POD_NAME" {
                    env.push((name, format!("{statefulset}-0")));
                }
                continue;
            };
            let value = match name.as_str() {
                "WAGATE_DATA_DIR" => self.volume(statefulset).to_string_lossy().into(),
                "WAGATE_API_KEY_FILE" => token.to_string_lossy().into(),
                "WAGATE_LISTEN" | "WAGATE_METRICS_LISTEN" => {
                    let port = value.rsplit(':').next().unwrap();
                    format!("{ip}:{port}")
                }
                "WAGATE_WEBHOOK_SECRET_FILE" => {
                    let path = pod_dir.join("webhook-secret");
                    std::fs::write(&path, self.webhook_secret(template)).unwrap();
                    path.to_string_lossy().into()
                }
                _ => value.to_string(),
            };
            env.push((name, value));
        }
        env.retain(|(name, _)| !overrides.iter().any(|(o, _)| o == name));
        env.extend(overrides.map(|(n, v)| (n.to_string(), v.to_string())));
        env
    }

    /// The webhook secret the template mounts, read from its Secret.
    fn webhook_secret(&self, template: &Value) -> String {
        let volume = template["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == "webhook-secret")
            .expect("a webhook secret volume");
        let name = volume["secret"]["secretName"].as_str().unwrap();
        let key = volume["secret"]["items"][0]["key"]
            .as_str()
            .unwrap_or("secret");
        let secret = self
            .kube
            .get(SECRETS, NAMESPACE, name)
            .unwrap_or_else(|| panic!("Secret {name} is missing"));
        secret["stringData"][key]
            .as_str()
            .map(String::from)
            .expect("the router writes stringData")
    }

    fn start_pod(&self, statefulset: &str, template: &Value) {
        let ip = next_pod_ip();
        let env = self.container_env(statefulset, template, &ip);
        let command = template["spec"]["containers"][0]["command"][0]
            .as_str()
            .unwrap_or("wagate-session");
        let process = Process::start_with_env(&sibling_bin(command).to_string_lossy(), vec![], env);
        let claim = format!("data-{statefulset}-0");
        if self.kube.get(CLAIMS, NAMESPACE, &claim).is_none() {
            self.kube.put(
                CLAIMS,
                NAMESPACE,
                json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": { "name": claim },
                        "spec": { "resources": { "requests": { "storage": "256Mi" } } } }),
            );
            self.claims.lock().unwrap().push(statefulset.to_string());
        }
        self.kube.put(
            PODS,
            NAMESPACE,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": format!("{statefulset}-0"),
                              "labels": template["metadata"]["labels"] },
                "spec": template["spec"],
                "status": { "podIP": ip, "phase": "Running",
                            "conditions": [{ "type": "Ready", "status": "True" }] }
            }),
        );
        *self
            .starts
            .lock()
            .unwrap()
            .entry(statefulset.to_string())
            .or_default() += 1;
        self.pods.lock().unwrap().insert(
            statefulset.to_string(),
            RunningPod {
                _process: process,
                ip,
                template: template.clone(),
            },
        );
    }

    /// `http://ip:port` of the API of the running pod of `statefulset`.
    pub fn pod_base(&self, statefulset: &str) -> Option<String> {
        let pods = self.pods.lock().unwrap();
        let pod = pods.get(statefulset)?;
        let port = pod.template["spec"]["containers"][0]["ports"][0]["containerPort"].as_i64()?;
        Some(format!("http://{}:{port}", pod.ip))
    }

    /// The pod is evicted and comes back on another node: same volume, a new IP. Returns
    /// the new IP once the pod runs again.
    pub fn move_pod(&self, statefulset: &str) -> String {
        let before = self.pod_ip(statefulset);
        {
            let _pass = self.syncing.lock().unwrap();
            self.stop_pod(statefulset);
        }
        let moved = crate::support::wait_until_blocking(Duration::from_secs(10), || {
            self.pod_ip(statefulset)
                .is_some_and(|ip| Some(&ip) != before.as_ref())
        });
        assert!(moved, "the pod of {statefulset} came back");
        self.pod_ip(statefulset).unwrap()
    }

    /// The pod of `statefulset` is killed and not started again (its node is gone) until
    /// `restore_pod`.
    pub fn take_pod_away(&self, statefulset: &str) {
        let _pass = self.syncing.lock().unwrap();
        self.held.lock().unwrap().push(statefulset.to_string());
        self.stop_pod(statefulset);
    }

    /// The pod of `statefulset` may run again.
    pub fn restore_pod(&self, statefulset: &str) {
        self.held.lock().unwrap().retain(|s| s != statefulset);
    }

    /// The IP of the running pod of `statefulset`.
    pub fn pod_ip(&self, statefulset: &str) -> Option<String> {
        self.pods
            .lock()
            .unwrap()
            .get(statefulset)
            .map(|p| p.ip.clone())
    }

    /// How many times a pod of `statefulset` was started.
    pub fn starts(&self, statefulset: &str) -> usize {
        self.starts
            .lock()
            .unwrap()
            .get(statefulset)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
