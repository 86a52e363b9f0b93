//! `wagate-router`: with no flags, a working gateway on :8080 with sessions on local disk.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use wagate_router::app::{AppParts, build_app};
use wagate_router::backend::SessionBackend;
use wagate_router::cli::{BackendKind, RouterArgs};
use wagate_router::cluster::{ClusterBackend, ClusterConfig};
use wagate_router::keys::{ApiKeySet, KeySpec};
use wagate_router::local::LocalBackend;
use wagate_session::http::HttpState;
use wagate_session::metrics::Metrics;
use wagate_session::{secrets, telemetry};

/// Keys from the file and/or env; with neither, an admin key generated into the data dir.
fn load_keys(args: &RouterArgs) -> anyhow::Result<ApiKeySet> {
    let mut specs = match &args.api_keys_file {
        Some(path) => ApiKeySet::load(path)?,
        None => Vec::new(),
    };
    let admin = |secret: String| KeySpec {
        name: "admin".into(),
        secret,
        sessions: vec!["*".into()],
        read_only: false,
        rate_limit: None,
    };
    if let Some(key) = args.serve.direct_key() {
        specs.push(admin(key.to_string()));
    }
    if specs.is_empty() {
        let key = secrets::generated_key(&args.data_dir.join("admin-api-key"), "an admin API key")?;
        specs.push(admin(key));
    }
    Ok(ApiKeySet::from_specs(specs)?)
}

/// The cluster settings from flags; the namespace stays open until the kubeconfig is read.
struct PartialClusterConfig {
    namespace: Option<String>,
    rest: ClusterConfig,
}

async fn cluster_config(
    args: &RouterArgs,
    links: wagate_session::link::LinkSigner,
    public_url: String,
) -> anyhow::Result<PartialClusterConfig> {
    let flags = &args.cluster;
    let token_file = flags
        .internal_token_file
        .as_ref()
        .context("--backend cluster needs --internal-token-file (the token session pods accept)")?;
    let internal_token = secrets::read(token_file)
        .with_context(|| format!("cannot read --internal-token-file {}", token_file.display()))?;
    Ok(PartialClusterConfig {
        namespace: flags
            .namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok()),
        rest: ClusterConfig {
            namespace: String::new(),
            internal_token,
            create_wait: std::time::Duration::from_secs(flags.create_wait_secs),
            metrics_interval: std::time::Duration::from_secs(
                flags.pod_metrics_interval_secs.max(1),
            ),
            links,
            public_url,
            egress: wagate_session::egress::EgressPolicy::new(
                args.runtime.egress_allow_cidrs.clone(),
                args.runtime.egress_deny_cidrs.clone(),
            ),
        },
    })
}

fn main() -> anyhow::Result<()> {
    telemetry::errors_without_backtraces();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    wagate_session::private_files::restrict_new_files();
    telemetry::init_tracing();
    let args = RouterArgs::parse();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let keys = load_keys(&args)?;
    let links = args.serve.link_signer(&args.data_dir)?;
    let config = args.runtime.session_config()?;
    let metrics = Arc::new(Metrics::new());
    let (limits, public_url) = (config.media_limits, config.public_url.clone());

    let backend: Arc<dyn SessionBackend> = match args.backend {
        BackendKind::Local => {
            let links = links.clone();
            LocalBackend::open(&args.data_dir, config, metrics.clone(), move |sessions| {
                HttpState {
                    sessions,
                    links,
                    limits,
                    public_url,
                }
            })
            .await
            .with_context(|| format!("cannot open sessions in {}", args.data_dir.display()))?
        }
        BackendKind::Cluster => {
            let config = cluster_config(&args, links.clone(), public_url).await?;
            let kube_config = kube::Config::infer()
                .await
                .context("cannot find Kubernetes credentials (in-cluster or KUBECONFIG)")?;
            let namespace = config
                .namespace
                .clone()
                .unwrap_or_else(|| kube_config.default_namespace.clone());
            let client =
                kube::Client::try_from(kube_config).context("cannot build a Kubernetes client")?;
            tracing::info!(%namespace, "cluster backend: sessions are WhatsAppSession resources");
            ClusterBackend::start(
                client,
                ClusterConfig {
                    namespace,
                    ..config.rest
                },
                &metrics,
            )
        }
    };
    let metrics_apart = args.serve.spawn_metrics_listener(metrics.clone()).await?;
    let app = build_app(AppParts {
        backend: backend.clone(),
        keys,
        links,
        metrics,
        metrics_on_api_port: !metrics_apart,
        limits: wagate_api::MediaLimits {
            inline_max_bytes: args.runtime.max_inline_media_mb * 1024 * 1024,
            url_max_bytes: args.runtime.max_url_media_mb * 1024 * 1024,
        },
        max_inflight: args.serve.max_inflight,
    });

    let listener = tokio::net::TcpListener::bind(args.serve.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.serve.listen))?;
    println!(
        "wagate-router listening on http://{} (data in {})",
        listener.local_addr()?,
        args.data_dir.display()
    );

    telemetry::serve_until_signal(listener, app)
        .await
        .context("HTTP server failed")?;
    backend.shutdown().await;
    Ok(())
}
