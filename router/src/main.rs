//! `wagate-router`: with no flags, a working gateway on :8080 with sessions on local disk.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use wagate_router::app::{AppParts, build_app};
use wagate_router::backend::SessionBackend;
use wagate_router::cli::{BackendKind, RouterArgs};
use wagate_router::keys::{ApiKeySet, KeySpec};
use wagate_router::local::LocalBackend;
use wagate_session::http::{HttpState, metrics_router};
use wagate_session::link::LinkSigner;
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
    if let Some(key) = args.api_key.as_ref().filter(|k| !k.trim().is_empty()) {
        specs.push(admin(key.trim().to_string()));
    }
    if specs.is_empty() {
        let key = secrets::generated_key(&args.data_dir.join("admin-api-key"), "an admin API key")?;
        specs.push(admin(key));
    }
    Ok(ApiKeySet::from_specs(specs)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_tracing();
    let args = RouterArgs::parse();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let keys = load_keys(&args)?;
    let link_secret = match &args.link_secret_file {
        Some(path) => secrets::read(path)
            .with_context(|| format!("cannot read --link-secret-file {}", path.display()))?,
        None => secrets::load_or_create(&args.data_dir.join("link-secret"), 32)?.0,
    };
    let links = LinkSigner::new(link_secret.into_bytes());
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
    };
    if let Some(addr) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        println!("metrics on http://{}/metrics", listener.local_addr()?);
        let metrics_app = metrics_router(metrics.clone());
        tokio::spawn(async move { axum::serve(listener, metrics_app).await });
    }
    let app = build_app(AppParts {
        backend: backend.clone(),
        keys,
        links,
        metrics,
        metrics_on_api_port: args.metrics_listen.is_none(),
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
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
