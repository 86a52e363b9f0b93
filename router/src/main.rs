//! `wagate-router`: with no flags, a working gateway on :8080 with sessions on local disk.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use wagate_http::auth::{ApiKeySet, KeySpec, LinkSigner};
use wagate_http::{secrets, telemetry};
use wagate_router::app::{AppParts, build_app};
use wagate_router::backend::SessionBackend;
use wagate_router::cli::{Backend, ClusterArgs, CommonArgs, LocalArgs, RouterCli};
use wagate_router::cluster::{ClusterBackend, ClusterConfig};
use wagate_router::local::LocalBackend;
use wagate_session::http::HttpState;
use wagate_session::metrics::Metrics;

/// Keys from the file and/or env; with neither, an admin key generated into the data dir.
fn load_keys(args: &CommonArgs) -> anyhow::Result<ApiKeySet> {
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

/// The sessions of this process, one folder each under `--data-dir`.
async fn local_backend(
    args: &LocalArgs,
    links: LinkSigner,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn SessionBackend>> {
    let data_dir = &args.common.data_dir;
    let config = args.runtime.session_config(&args.common.edge)?;
    let (limits, public_url) = (config.media_limits, config.public_url.clone());
    let backend = LocalBackend::open(data_dir, config, metrics.clone(), move |sessions| {
        HttpState {
            sessions,
            links,
            limits,
            public_url,
        }
    })
    .await
    .with_context(|| format!("cannot open sessions in {}", data_dir.display()))?;
    Ok(backend)
}

/// The sessions that run as pods, found through the Kubernetes API.
async fn cluster_backend(
    args: &ClusterArgs,
    links: LinkSigner,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn SessionBackend>> {
    let token_file = &args.internal_token_file;
    let internal_token = secrets::read(token_file)
        .with_context(|| format!("cannot read --internal-token-file {}", token_file.display()))?;
    let kube_config = kube::Config::infer()
        .await
        .context("cannot find Kubernetes credentials (in-cluster or KUBECONFIG)")?;
    let namespace = args
        .namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| kube_config.default_namespace.clone());
    let client = kube::Client::try_from(kube_config).context("cannot build a Kubernetes client")?;
    tracing::info!(%namespace, "cluster backend: sessions are WhatsAppSession resources");
    let edge = &args.common.edge;
    Ok(ClusterBackend::start(
        client,
        ClusterConfig {
            namespace,
            internal_token,
            create_wait: std::time::Duration::from_secs(args.create_wait_secs),
            metrics_interval: std::time::Duration::from_secs(args.pod_metrics_interval_secs.max(1)),
            links,
            public_url: edge.public_url(),
            egress: edge.egress_policy(),
            default_webhook: wagate_api::crd::WebhookSpec::at(
                args.default_webhook.url.as_deref(),
                args.default_webhook.events.clone(),
                args.default_webhook.secret_name.as_deref(),
            ),
        },
        metrics,
    ))
}

fn main() -> anyhow::Result<()> {
    // SAFETY: first thing in `main`; the runtime and its threads start below.
    unsafe { telemetry::errors_without_backtraces() };
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    wagate_session::private_files::restrict_new_files();
    telemetry::init_tracing(wagate_session::DEFAULT_LOG_FILTER);
    let backend_args = RouterCli::parse()
        .backend(std::env::var("WAGATE_BACKEND").ok().as_deref())
        .map_err(anyhow::Error::msg)?;
    let args = backend_args.common().clone();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let keys = load_keys(&args)?;
    let links = args.serve.link_signer(&args.data_dir)?;
    let metrics = Arc::new(Metrics::new());
    let backend = match &backend_args {
        Backend::Local(local) => local_backend(local, links.clone(), &metrics).await?,
        Backend::Cluster(cluster) => cluster_backend(cluster, links.clone(), &metrics).await?,
    };
    let render = {
        let metrics = metrics.clone();
        move || metrics.render()
    };
    let metrics_apart = args.serve.spawn_metrics_listener(render).await?;
    let app = build_app(AppParts {
        backend: backend.clone(),
        keys,
        links,
        metrics,
        metrics_on_api_port: !metrics_apart,
        limits: args.edge.media_limits(),
        max_inflight: args.serve.max_inflight,
        cluster: matches!(backend_args, Backend::Cluster(_)),
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
