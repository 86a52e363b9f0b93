//! Test support: runs the real `wagate-session` binary on a loopback port and talks to it
//! over HTTP, plus a webhook receiver whose failures the test controls.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

pub const KEY: &str = "test-key-1";

/// A running `wagate-session` process.
pub struct SessionProcess {
    pub id: String,
    pub dir: PathBuf,
    pub base: String,
    pub child: Child,
    args: Vec<String>,
    http: reqwest::Client,
    _home: Option<tempfile::TempDir>,
}

impl SessionProcess {
    /// Starts a simulator session with a fresh data dir; `extra` are more flags.
    pub fn simulator(id: &str, extra: &[&str]) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["--engine", "simulator", "--send-interval-ms", "0"];
        args.extend_from_slice(extra);
        let mut process = Self::spawn(id, home.path(), &args);
        process._home = Some(home);
        process
    }

    /// Starts a session in `home` (kept by the caller, so it can outlive the process).
    pub fn spawn(id: &str, home: &Path, extra: &[&str]) -> Self {
        let dir = home.join(id);
        let key_file = home.join("api-key");
        std::fs::write(&key_file, format!("{KEY}\n")).expect("key file");
        let mut args: Vec<String> = vec![
            "--session-id".into(),
            id.into(),
            "--data-dir".into(),
            dir.to_string_lossy().into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--api-key-file".into(),
            key_file.to_string_lossy().into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let (child, base) = launch(&args);
        Self {
            id: id.into(),
            dir,
            base,
            child,
            args,
            http: reqwest::Client::new(),
            _home: None,
        }
    }

    /// `kill -9`, then start again with the same flags and data dir.
    pub fn crash_and_restart(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
        let (child, base) = launch(&self.args);
        self.child = child;
        self.base = base;
    }

    /// SIGTERM; returns how long the process took to exit and whether it exited cleanly.
    pub fn terminate(&mut self) -> (Duration, bool) {
        let started = Instant::now();
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = started + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (started.elapsed(), status.success());
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/sessions/{}{}", self.base, self.id, path)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("GET");
        decode(resp).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .expect("POST");
        decode(resp).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .put(self.url(path))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .expect("PUT");
        decode(resp).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .delete(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("DELETE");
        decode(resp).await
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn status(&self) -> String {
        self.get("").await.1["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the session reports `status` (panics after `timeout`).
    pub async fn wait_status(&self, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.get("").await.1;
            if last["status"] == status {
                return last;
            }
            assert!(
                Instant::now() < deadline,
                "session never reached '{status}'; last: {last}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Links the simulator session and waits for `connected`.
    pub async fn link(&self) {
        let (code, body) = self.post("/sandbox/scan", serde_json::json!({})).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        self.wait_status("connected", Duration::from_secs(5)).await;
    }
}

impl Drop for SessionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(args: &[String]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wagate-session"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn wagate-session");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("wagate-session exited before listening")
            .expect("stdout line");
        if let Some(addr) = line.split("listening on ").nth(1) {
            break addr.trim().to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

pub async fn decode(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
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

/// One request a webhook receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: String,
    pub accepted: bool,
}

impl Delivery {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("webhook body is JSON")
    }
}

#[derive(Default)]
struct ReceiverState {
    deliveries: Vec<Delivery>,
    /// Answer 500 to this many more requests.
    fail_next: usize,
    /// Answer 503 to everything while true.
    down: bool,
}

/// A local webhook endpoint that records what arrives and fails on demand.
#[derive(Clone)]
pub struct WebhookReceiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// Accepted deliveries of one event type.
    pub fn accepted(&self, event: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.accepted && d.header("x-wagate-event") == event)
            .collect()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let mut state = state.lock().unwrap();
    let status = if state.down {
        StatusCode::SERVICE_UNAVAILABLE
    } else if state.fail_next > 0 {
        state.fail_next -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    state.deliveries.push(Delivery {
        headers,
        body,
        accepted: status == StatusCode::OK,
    });
    status
}
