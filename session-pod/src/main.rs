//! `wagate-session`: serves one WhatsApp session over HTTP.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use wagate_api::{SessionId, SessionState};
use wagate_http::auth::{ApiKeySet, AuthState, authenticate};
use wagate_http::{common_layers, limit_inflight, metrics_router, secrets, telemetry};
use wagate_session::Session;
use wagate_session::cli::SessionArgs;
use wagate_session::http::{HttpState, SessionResolver, session_routes};
use wagate_session::metrics::Metrics;

/// A pod's linked session waits up to this long (its share fixed by its id) before its
/// first login, unless `--connect-spread-secs` says otherwise.
const POD_CONNECT_SPREAD: Duration = Duration::from_secs(20);

/// The one session this process serves; gone after a `DELETE`.
struct OneSession {
    session: RwLock<Option<Arc<Session>>>,
}

impl SessionResolver for OneSession {
    fn resolve(&self, id: &str) -> Option<Arc<Session>> {
        self.session
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|s| s.id() == id)
    }

    fn removed(&self, _id: &str) {
        self.session
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

fn main() -> anyhow::Result<()> {
    // SAFETY: first thing in `main`; the runtime and its threads start below.
    unsafe { telemetry::errors_without_backtraces() };
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    wagate_session::private_files::restrict_new_files();
    telemetry::init_tracing(wagate_session::DEFAULT_LOG_FILTER);
    let args = SessionArgs::parse();
    SessionId::parse(&args.session_id)
        .map_err(|e| anyhow::anyhow!("--session-id {}", e.message))?;
    let dir = args.data_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;

    let keys = match (&args.api_key_file, args.serve.direct_key()) {
        (Some(path), _) => ApiKeySet::load_plain(path)
            .with_context(|| format!("cannot read --api-key-file {}", path.display()))?,
        (None, Some(key)) => ApiKeySet::full_access([key]),
        _ => {
            let key = secrets::generated_key(&dir.join("api-key"), "an API key")?;
            ApiKeySet::full_access([key])
        }
    };
    let links = args.serve.link_signer(&dir)?;
    let metrics = Arc::new(Metrics::new());
    let mut config = args.runtime.session_config(&args.edge)?;
    config.fixed_settings = args.session_settings.clone();
    // One session per pod: its pacer spaces this pod from the fleet's other pods.
    config.engine_options.connect_pacer = args.runtime.connect_pacer(POD_CONNECT_SPREAD);
    let limits = config.media_limits;
    let config_public_url = config.public_url.clone();
    let session = Session::open(&args.session_id, &dir, config, metrics.clone())
        .await
        .with_context(|| format!("cannot open session in {}", dir.display()))?;
    let resolver = Arc::new(OneSession {
        session: RwLock::new(Some(session.clone())),
    });

    let state = HttpState {
        sessions: resolver.clone(),
        links: links.clone(),
        limits,
        public_url: config_public_url,
    };
    let auth = Arc::new(AuthState {
        keys,
        links,
        console: None,
    });
    let api = session_routes(state).layer(axum::middleware::from_fn_with_state(auth, authenticate));
    let health_resolver = resolver.clone();
    let health = wagate_http::health::routes(move || {
        let running = health_resolver
            .resolve(&args.session_id)
            .is_some_and(|s| s.snapshot().status != SessionState::Stopped);
        if running { Ok(()) } else { Err("stopped") }
    });
    let mut app = health.merge(api);
    let render = {
        let metrics = metrics.clone();
        move || metrics.render()
    };
    if !args.serve.spawn_metrics_listener(render.clone()).await? {
        app = app.merge(metrics_router(render));
    }
    let app = limit_inflight(
        common_layers(app, metrics.http_duration.clone()),
        args.serve.max_inflight,
    );

    let listener = tokio::net::TcpListener::bind(args.serve.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.serve.listen))?;
    println!(
        "wagate-session '{}' listening on http://{}",
        session.id(),
        listener.local_addr()?
    );

    telemetry::serve_until_signal(listener, app)
        .await
        .context("HTTP server failed")?;
    let session = resolver
        .session
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(session) = session {
        session.shutdown().await;
    }
    Ok(())
}
