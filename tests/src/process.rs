use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::KEY;

/// A running gateway binary; killed when dropped.
pub struct Process {
    pub base: String,
    child: Child,
    bin: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Process {
    /// Starts `bin` and waits for its "listening on http://..." line.
    pub fn start(bin: &str, args: Vec<String>) -> Self {
        Self::start_with_env(bin, args, Vec::new())
    }

    /// Like [`Process::start`], with extra environment variables (e.g. `KUBECONFIG`).
    pub fn start_with_env(bin: &str, args: Vec<String>, env: Vec<(String, String)>) -> Self {
        let (child, base) = launch(bin, &args, &env);
        Self {
            base,
            child,
            bin: bin.into(),
            args,
            env,
        }
    }

    /// `kill -9`, then start again with the same flags (and so the same data).
    pub fn crash_and_restart(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
        let (child, base) = launch(&self.bin, &self.args, &self.env);
        self.child = child;
        self.base = base;
    }

    /// SIGTERM; returns how long the process took to exit and whether it exited 0.
    pub fn terminate(&mut self) -> (Duration, bool) {
        let started = Instant::now();
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if !status.success() {
                    // Tells a crash (signal, panic code) from an error exit when a test fails.
                    eprintln!("{} exited with {status} after SIGTERM", self.bin);
                }
                return (started.elapsed(), status.success());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "process did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Test receivers and media hosts listen on loopback, which the egress guard refuses by
/// default: every process may reach 127.0.0.0/8 unless its `env` says otherwise. An empty
/// value in `env` removes a variable (`WAGATE_EGRESS_ALLOW_CIDRS=""`: the shipped default).
pub const TEST_EGRESS_ALLOW: (&str, &str) = ("WAGATE_EGRESS_ALLOW_CIDRS", "127.0.0.0/8");

fn launch(bin: &str, args: &[String], env: &[(String, String)]) -> (Child, String) {
    let mut command = Command::new(bin);
    command
        .args(args)
        // WAGATE_CHILD_LOG=debug (any RUST_LOG filter) shows what the spawned binaries log.
        .env(
            "RUST_LOG",
            std::env::var("WAGATE_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env(TEST_EGRESS_ALLOW.0, TEST_EGRESS_ALLOW.1);
    for (key, value) in env {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {bin}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the process exited before listening")
            .expect("stdout line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// HTTP calls to a gateway with a key.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.into(),
            key: key.into(),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        decode(
            self.http
                .get(self.url(path))
                .bearer_auth(&self.key)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        decode(
            self.http
                .post(self.url(path))
                .bearer_auth(&self.key)
                .json(&body)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        decode(
            self.http
                .put(self.url(path))
                .bearer_auth(&self.key)
                .json(&body)
                .send()
                .await
                .expect("PUT"),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        decode(
            self.http
                .patch(self.url(path))
                .bearer_auth(&self.key)
                .json(&body)
                .send()
                .await
                .expect("PATCH"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        decode(
            self.http
                .delete(self.url(path))
                .bearer_auth(&self.key)
                .send()
                .await
                .expect("DELETE"),
        )
        .await
    }

    /// Waits until session `id` reports `status` (panics after `timeout`).
    pub async fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.get(&format!("/v1/sessions/{id}")).await.1;
            if last["status"] == status {
                return last;
            }
            assert!(
                Instant::now() < deadline,
                "session '{id}' never reached '{status}'; last: {last}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Links a simulator session (optionally as `phone`) and waits for `connected`.
    pub async fn link(&self, id: &str, phone: Option<&str>) {
        let body = phone
            .map(|p| serde_json::json!({ "phone": p }))
            .unwrap_or(serde_json::json!({}));
        let (code, answer) = self
            .post(&format!("/v1/sessions/{id}/sandbox/scan"), body)
            .await;
        assert_eq!(code, StatusCode::OK, "{answer}");
        self.wait_status(id, "connected", Duration::from_secs(5))
            .await;
    }
}

/// A `wagate-session` process and calls relative to its session.
pub struct SessionProcess {
    pub id: String,
    pub dir: PathBuf,
    pub base: String,
    process: Process,
    api: Api,
    _home: Option<tempfile::TempDir>,
}

impl SessionProcess {
    /// A simulator session with a fresh data dir and no send interval; `extra` are more flags.
    pub fn simulator(bin: &str, id: &str, extra: &[&str]) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["--engine", "simulator", "--send-interval-ms", "0"];
        args.extend_from_slice(extra);
        let mut process = Self::spawn(bin, id, home.path(), &args);
        process._home = Some(home);
        process
    }

    /// The operating system's id of the session process (to read its `/proc` entries).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// A session in `home` (kept by the caller, so its data can outlive the process).
    pub fn spawn(bin: &str, id: &str, home: &Path, extra: &[&str]) -> Self {
        let dir = home.join(id);
        let key_file = home.join("api-key");
        std::fs::write(&key_file, format!("{KEY}\n")).expect("key file");
        let mut args: Vec<String> = ["--session-id", id, "--data-dir"]
            .map(String::from)
            .to_vec();
        args.push(dir.to_string_lossy().into());
        args.extend(["--listen", "127.0.0.1:0", "--api-key-file"].map(String::from));
        args.push(key_file.to_string_lossy().into());
        args.extend(extra.iter().map(|s| s.to_string()));
        let process = Process::start(bin, args);
        let api = Api::new(&process.base, KEY);
        Self {
            id: id.into(),
            dir,
            base: process.base.clone(),
            process,
            api,
            _home: None,
        }
    }

    pub fn crash_and_restart(&mut self) {
        self.process.crash_and_restart();
        self.base = self.process.base.clone();
        self.api = Api::new(&self.base, KEY);
    }

    pub fn terminate(&mut self) -> (Duration, bool) {
        self.process.terminate()
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(&format!("/v1/sessions/{}{path}", self.id))
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.api.http
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.api
            .get(&format!("/v1/sessions/{}{path}", self.id))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.api
            .post(&format!("/v1/sessions/{}{path}", self.id), body)
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.api
            .put(&format!("/v1/sessions/{}{path}", self.id), body)
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.api
            .patch(&format!("/v1/sessions/{}{path}", self.id), body)
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.api
            .delete(&format!("/v1/sessions/{}{path}", self.id))
            .await
    }

    pub async fn status(&self) -> String {
        self.get("").await.1["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn wait_status(&self, status: &str, timeout: Duration) -> Value {
        self.api.wait_status(&self.id, status, timeout).await
    }

    pub async fn link(&self) {
        self.api.link(&self.id, None).await
    }
}

pub async fn decode(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `check` every 25 ms until it is true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}
