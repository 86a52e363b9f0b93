//! A real headless Chromium for the console's tests, driven over WebDriver (Debian's
//! `chromium` + `chromium-driver`, through fantoccini), and axe-core (from npm) for
//! accessibility. Both are fetched on first use when missing, like schemathesis: Debian's
//! packages with `apt-get` (as root), axe-core into `target/npm`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Pinned: a newer axe may add rules and fail a page that did not change.
const AXE_PACKAGE: &str = "axe-core@4.10.3";

/// One browser window, its driver process killed on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where the suites keep what they download and write (`target/` of the workspace).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Installs Debian's Chromium and its driver when they are missing (once per process).
fn ensure_chromium() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
            return;
        }
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-q", "chromium", "chromium-driver"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get")
                .args(["update", "-q"])
                .stdout(Stdio::null())
                .status();
            assert!(
                install(),
                "the console tests need Debian's chromium and chromium-driver: \
                 `apt-get install chromium chromium-driver` (as root) failed"
            );
        }
    });
}

/// The source of axe-core, installed from npm into `target/npm` once.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let prefix = target_dir().join("npm");
        let file = prefix.join("node_modules/axe-core/axe.min.js");
        let marker = prefix.join(".wagate-axe");
        if !(file.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == AXE_PACKAGE)) {
            std::fs::create_dir_all(&prefix).expect("target/npm");
            let status = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&prefix)
                .arg(AXE_PACKAGE)
                .status()
                .expect("npm is needed for axe-core");
            assert!(status.success(), "npm install {AXE_PACKAGE} failed");
            std::fs::write(&marker, AXE_PACKAGE).expect("axe marker");
        }
        std::fs::read_to_string(&file).expect("axe.min.js")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// A fresh headless Chromium (its own profile: no cookies shared between tests).
    pub async fn start() -> Self {
        ensure_chromium();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1100"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Self { client, driver },
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot start a Chromium session: {last_error:?}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|all| all.len())
            .unwrap_or(0)
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The text of the first element matching `css` (empty when none).
    pub async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent.trim() : '';",
            json!(css)
        );
        self.eval(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (up to `within`) until `script` returns `true`.
    pub async fn wait_for(&self, what: &str, within: Duration, script: &str) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.eval(script).await == Value::Bool(true) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let shot = self.screenshot("timed-out").await;
                let said = self
                    .eval("const s = document.getElementById('live-state'); return (s ? s.textContent : '') + ' @ ' + location.href;")
                    .await;
                panic!(
                    "timed out waiting for {what} (the page says {said}; {})",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes a PNG of the window to `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = target_dir().join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// axe-core's serious and critical violations on the current page, as
    /// `rule: target…` lines (empty when the page passes).
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let inject = format!("{}\nreturn true;", axe_source());
        self.eval(&inject).await;
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                Vec::new(),
            )
            .await
            .expect("axe runs");
        serde_json::from_value(result).unwrap_or_else(|_| vec!["axe gave no list".into()])
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
