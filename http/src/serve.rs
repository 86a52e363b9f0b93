//! Flags every binary that serves the contract shares: where it listens, its direct key,
//! the QR-link secret and the in-flight cap.

use std::net::SocketAddr;
use std::path::PathBuf;

use wagate_api::EventKind;

/// Where a binary listens and how it authenticates; shared by the session binary and the
/// router.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "WAGATE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Separate address for /metrics; without it /metrics is served on --listen.
    #[arg(long, env = "WAGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// An API key given directly (for env-only platforms; prefer a key file).
    #[arg(long = "api-key", env = "WAGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Key that signs QR links; generated into <data-dir>/link-secret when absent.
    #[arg(long, env = "WAGATE_LINK_SECRET_FILE")]
    pub link_secret_file: Option<PathBuf>,
    /// Requests handled at once; past it the API answers 503 overloaded (health and
    /// metrics excepted).
    #[arg(long, env = "WAGATE_MAX_INFLIGHT", default_value_t = 1024)]
    pub max_inflight: usize,
}

impl ServeArgs {
    /// The `--api-key` value, unless it is blank.
    pub fn direct_key(&self) -> Option<&str> {
        self.api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
    }

    /// The QR-link signer: from `--link-secret-file`, or generated into `data_dir` once.
    pub fn link_signer(
        &self,
        data_dir: &std::path::Path,
    ) -> std::io::Result<crate::auth::LinkSigner> {
        let secret = match &self.link_secret_file {
            Some(path) => crate::secrets::read(path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("--link-secret-file {}: {e}", path.display()),
                )
            })?,
            None => crate::secrets::load_or_create(&data_dir.join("link-secret"), 32)?.0,
        };
        Ok(crate::auth::LinkSigner::new(secret.into_bytes()))
    }

    /// Serves `/metrics` on `--metrics-listen` when given; `Ok(false)` means the caller
    /// serves it on the API port.
    pub async fn spawn_metrics_listener(
        &self,
        render: impl Fn() -> String + Clone + Send + Sync + 'static,
    ) -> std::io::Result<bool> {
        let Some(addr) = self.metrics_listen else {
            return Ok(false);
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        println!("metrics on http://{}/metrics", listener.local_addr()?);
        let app = crate::layers::metrics_router(render);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(true)
    }
}

/// The webhook of sessions whose resource names none, in cluster mode: the operator gives
/// it to their pods, the router shows it in their info (what `--webhook-url` of the local
/// router is to its sessions).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DefaultWebhookArgs {
    /// URL of the default webhook; none when absent.
    #[arg(long = "default-webhook-url", env = "WAGATE_DEFAULT_WEBHOOK_URL")]
    pub url: Option<String>,
    /// Its events (comma-separated); all when omitted.
    #[arg(long = "default-webhook-events", env = "WAGATE_DEFAULT_WEBHOOK_EVENTS", value_delimiter = ',', value_parser = EventKind::parse_webhook)]
    pub events: Vec<EventKind>,
    /// Secret in each session's namespace whose key `secret` signs its deliveries.
    #[arg(
        long = "default-webhook-secret-name",
        env = "WAGATE_DEFAULT_WEBHOOK_SECRET_NAME"
    )]
    pub secret_name: Option<String>,
}
