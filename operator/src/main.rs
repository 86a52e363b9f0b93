//! `wagate-operator`: watches `WhatsAppSession` resources and runs one session pod for each.
//! Only the holder of the `wagate-operator` Lease reconciles, so two replicas are safe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use wagate_api::crd::{WebhookSpec, WhatsAppSession};
use wagate_http::pod_client::PodClient;
use wagate_http::telemetry;
use wagate_operator::config::OperatorConfig;
use wagate_operator::metrics::Metrics;
use wagate_operator::reconcile::{Context, MANAGER, error_policy, reconcile};
use wagate_operator::resources::{MANAGED_BY_LABEL, MANAGER as MANAGED_BY};

#[derive(Debug, Parser)]
#[command(
    name = "wagate-operator",
    version,
    about = "Runs a session pod for each WhatsAppSession"
)]
struct Args {
    /// Namespace to watch; all namespaces when absent.
    #[arg(long, env = "WAGATE_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Image of the session pods.
    #[arg(
        long,
        env = "WAGATE_SESSION_IMAGE",
        default_value = "ghcr.io/wagate/wagate:latest"
    )]
    session_image: String,
    #[arg(
        long,
        env = "WAGATE_SESSION_IMAGE_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    session_image_pull_policy: String,
    /// The headless Service the session pods share.
    #[arg(
        long,
        env = "WAGATE_SESSION_SERVICE",
        default_value = "wagate-sessions"
    )]
    session_service: String,
    /// Secret (in each session's namespace) with the internal token mounted into pods.
    #[arg(
        long,
        env = "WAGATE_INTERNAL_TOKEN_SECRET",
        default_value = "wagate-internal-token"
    )]
    internal_token_secret: String,
    /// Resources of session containers whose resource gives none, as JSON
    /// (`{"requests":{"memory":"64Mi"},"limits":{"memory":"256Mi"}}`).
    #[arg(long, env = "WAGATE_SESSION_DEFAULT_RESOURCES", value_parser = parse_resources)]
    session_default_resources: Option<ResourceRequirements>,
    /// Public URL of the router, given to session pods for the links they hand out.
    #[arg(long, env = "WAGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Address ranges session pods' server-side fetches (media URLs, webhooks) may reach
    /// although internal, comma-separated (given to pods as WAGATE_EGRESS_ALLOW_CIDRS).
    #[arg(long, env = "WAGATE_SESSION_EGRESS_ALLOW_CIDRS")]
    session_egress_allow_cidrs: Option<String>,
    /// More ranges session pods may not reach (WAGATE_EGRESS_DENY_CIDRS of the pods).
    #[arg(long, env = "WAGATE_SESSION_EGRESS_DENY_CIDRS")]
    session_egress_deny_cidrs: Option<String>,
    #[command(flatten)]
    default_webhook: wagate_http::serve::DefaultWebhookArgs,
    /// The same token, as a file, for the operator's own calls to pods.
    #[arg(long, env = "WAGATE_INTERNAL_TOKEN_FILE")]
    internal_token_file: std::path::PathBuf,
    /// Health (`/healthz`, `/readyz`) and `/metrics`.
    #[arg(long, env = "WAGATE_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Contend for the Lease before reconciling (off only for local development).
    #[arg(long, env = "WAGATE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME", default_value = "wagate-operator")]
    identity: String,
}

fn parse_resources(raw: &str) -> Result<ResourceRequirements, String> {
    serde_json::from_str(raw).map_err(|e| format!("not a ResourceRequirements object: {e}"))
}

fn main() -> anyhow::Result<()> {
    // SAFETY: first thing in `main`; the runtime and its threads start below.
    unsafe { telemetry::errors_without_backtraces() };
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    telemetry::init_tracing("info,kube=warn");
    let args = Args::parse();
    let token = std::fs::read_to_string(&args.internal_token_file)
        .with_context(|| format!("cannot read {}", args.internal_token_file.display()))?
        .trim()
        .to_string();
    let client = Client::try_default()
        .await
        .context("cannot reach the Kubernetes API")?;
    let metrics = Arc::new(Metrics::default());

    // Ready while standing by (a healthy standby lets a rollout go on) and, once leading,
    // only when the watch of the resources has listed them all: before that a reconcile
    // would act on a partial picture (e.g. miss the owner of a duplicate session id).
    let ready = Arc::new(AtomicBool::new(args.leader_election));
    let readiness = ready.clone();
    let health_metrics = metrics.clone();
    let health = wagate_http::health::routes(move || {
        if readiness.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("syncing")
        }
    })
    .route(
        "/metrics",
        get(move || {
            let metrics = health_metrics.clone();
            async move { metrics.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // On stdout like the other binaries, for scripts and the test harness.
    println!(
        "wagate-operator listening on http://{} (health and metrics)",
        listener.local_addr()?
    );
    tokio::spawn(async move { axum::serve(listener, health).await });

    // Standby replicas wait here; losing the Lease later ends the process so that
    // Kubernetes restarts it as a standby (never two reconcilers at once).
    let lease = if args.leader_election {
        let manager = LeaseManagerBuilder::new(client.clone(), "wagate-operator")
            .with_namespace(&args.lease_namespace)
            .with_identity(&args.identity)
            .build()
            .await
            .context("cannot set up leader election")?;
        let (mut leader, task) = manager.watch().await;
        tracing::info!(identity = %args.identity, "waiting for the wagate-operator Lease");
        while !*leader.borrow_and_update() {
            leader.changed().await.context("leader election stopped")?;
        }
        tracing::info!("leading");
        ready.store(false, Ordering::SeqCst);
        Some((leader, task))
    } else {
        None
    };

    let config = OperatorConfig {
        image: args.session_image,
        image_pull_policy: args.session_image_pull_policy,
        service_name: args.session_service,
        token_secret: args.internal_token_secret,
        public_url: args.public_url.filter(|url| !url.trim().is_empty()),
        default_resources: args.session_default_resources,
        default_webhook: WebhookSpec::at(
            args.default_webhook.url.as_deref(),
            args.default_webhook.events.clone(),
            args.default_webhook.secret_name.as_deref(),
        ),
        egress_allow_cidrs: args
            .session_egress_allow_cidrs
            .filter(|c| !c.trim().is_empty()),
        egress_deny_cidrs: args
            .session_egress_deny_cidrs
            .filter(|c| !c.trim().is_empty()),
        ..OperatorConfig::default()
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: MANAGER.into(),
            instance: Some(args.identity.clone()),
        },
    );
    let (sessions, statefulsets): (Api<WhatsAppSession>, Api<StatefulSet>) = match &args.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let owned = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    // The controller's main watch, built here so its first complete list marks the operator
    // ready (what `Controller::new` would build, plus that one observation).
    let (reader, writer) = reflector::store();
    let listed = ready.clone();
    let resources = watcher(sessions, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) && !listed.swap(true, Ordering::SeqCst)
            {
                tracing::info!("resources listed; ready");
            }
        })
        .applied_objects();
    let controller = Controller::for_stream(resources, reader).owns(statefulsets, owned);
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            config,
            PodClient::new(token),
            metrics,
            recorder,
        )
        .with_sessions(controller.store()),
    );
    let controller = controller
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("reconcile error: {e}");
            }
        });
    match lease {
        Some((mut leader, task)) => {
            tokio::select! {
                () = controller => {}
                _ = async {
                    while *leader.borrow_and_update() {
                        if leader.changed().await.is_err() { break; }
                    }
                } => {
                    anyhow::bail!("lost the wagate-operator Lease; exiting to rejoin as standby");
                }
            }
            // Graceful shutdown: hand the Lease over at once instead of letting it expire.
            drop(leader);
            if let Ok(Ok(Ok(manager))) = tokio::time::timeout(Duration::from_secs(5), task).await {
                let _ = manager.release().await;
            }
        }
        None => controller.await,
    }
    tracing::info!("stopped");
    Ok(())
}
