//! The shared harness, bound to the router binary.
#![allow(dead_code)]

pub mod cluster;
pub mod kubelet;

use std::path::Path;

pub use wagate_e2e::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_wagate-router");

/// A router over `home` (sessions live there), simulator engine, no send interval.
pub struct Router {
    pub process: Process,
    pub api: Api,
}

impl Router {
    pub fn start(home: &Path, extra: &[&str]) -> Self {
        let mut args: Vec<String> = vec!["--data-dir".into(), home.to_string_lossy().into()];
        args.extend(["--listen", "127.0.0.1:0", "--engine", "simulator"].map(String::from));
        if !extra.contains(&"--send-interval-ms") {
            args.extend(["--send-interval-ms", "0"].map(String::from));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        if !extra.contains(&"--api-keys-file") {
            args.extend(["--api-key".to_string(), KEY.to_string()]);
        }
        let process = Process::start(BIN, args);
        let api = Api::new(&process.base, KEY);
        Self { process, api }
    }

    /// A router whose sessions without their own webhook deliver to `url`, signed with
    /// `secret` (`--webhook-url`, `--webhook-secret-file`).
    pub fn start_with_default_webhook(home: &Path, url: &str, secret: &str) -> Self {
        let secret_file = home.join("default-webhook-secret");
        std::fs::write(&secret_file, secret).unwrap();
        let secret_file = secret_file.to_string_lossy().to_string();
        Self::start(
            home,
            &["--webhook-url", url, "--webhook-secret-file", &secret_file],
        )
    }

    /// The same router seen with another key.
    pub fn as_key(&self, key: &str) -> Api {
        Api::new(&self.process.base, key)
    }
}

/// Polls `check` every 25 ms from a plain thread until it holds or `timeout` passes.
pub fn wait_until_blocking(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    false
}

/// Polls the router until session `id` is `status`; the states seen on the way.
pub async fn states_until(
    api: &Api,
    id: &str,
    status: &str,
    timeout: std::time::Duration,
) -> (bool, Vec<String>) {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (_, info) = api.get(&format!("/v1/sessions/{id}")).await;
        let now = info["status"].as_str().unwrap_or("<none>").to_string();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == status {
            return (true, seen);
        }
        if std::time::Instant::now() > deadline {
            return (false, seen);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
