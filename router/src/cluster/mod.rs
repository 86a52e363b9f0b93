//! The `cluster` backend: sessions are `WhatsAppSession` resources run by the operator as
//! pods; the router keeps an index of them from the API and proxies per-session calls to
//! the ready pod with the internal token. It holds no state of its own, so any number of
//! replicas answer alike.

mod convert;
mod host;
mod index;
mod pod_metrics;
mod relay;
mod routes;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use wagate_api::crd::{SESSION_POD_SELECTOR, WhatsAppSession};
use wagate_api::{ApiError, CreateSessionRequest, ErrorCode, GatewayEvent, SessionInfo};
use wagate_http::auth::LinkSigner;
use wagate_http::pod_client::PodClient;
use wagate_session::metrics::Metrics;

pub use convert::LABELS_ANNOTATION;
use index::SessionIndex;
use pod_metrics::PodMetricsCache;
use relay::EventRelay;

use crate::backend::{Created, SessionBackend};

const ALL_EVENTS_BUFFER: usize = 4096;
/// How long a request waits for a fresh replica's first list before answering `503`.
const INDEX_READY_WAIT: Duration = Duration::from_secs(10);

/// What the cluster backend needs besides a kube client.
#[derive(Clone)]
pub struct ClusterConfig {
    pub namespace: String,
    /// The token session pods accept (the operator mounts the same Secret into them).
    pub internal_token: String,
    /// How long `POST /v1/sessions` waits for the new session's pod before answering `202`.
    pub create_wait: Duration,
    /// How often the pods' metrics are gathered for the router's `/metrics`.
    pub metrics_interval: Duration,
    /// Signs QR links here, so any replica verifies them.
    pub links: LinkSigner,
    pub public_url: String,
    /// Webhook URLs are checked against the same policy the session pods enforce.
    pub egress: wagate_session::egress::EgressPolicy,
    /// The webhook of sessions whose resource names none (the operator's
    /// `--default-webhook-*`), for their info.
    pub default_webhook: Option<wagate_api::crd::WebhookSpec>,
}

/// State shared by the backend, its routes and its background tasks.
pub(crate) struct Shared {
    index: Arc<SessionIndex>,
    resources: Api<WhatsAppSession>,
    secrets: Api<Secret>,
    /// Kubernetes events about the resources (the console shows them).
    kube_events: Api<k8s_openapi::api::events::v1::Event>,
    pods: PodClient,
    events: broadcast::Sender<GatewayEvent>,
    config: ClusterConfig,
}

pub struct ClusterBackend {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl ClusterBackend {
    /// Starts the reflectors, the event relay and the metrics gathering. Returns at once;
    /// requests wait (bounded) for the first list.
    pub fn start(client: kube::Client, config: ClusterConfig, metrics: &Metrics) -> Arc<Self> {
        let namespace = config.namespace.as_str();
        let resources: Api<WhatsAppSession> = Api::namespaced(client.clone(), namespace);
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let changed = Arc::new(Notify::new());
        let (resource_store, resource_writer) = reflector::store();
        let (pod_store, pod_writer) = reflector::store();
        let index = Arc::new(SessionIndex::new(
            config.namespace.clone(),
            resource_store,
            pod_store,
            config.default_webhook.clone(),
        ));
        let watch_resources = reflector(
            resource_writer,
            watcher(resources.clone(), watcher::Config::default()),
        )
        .default_backoff()
        .for_each(on_change(&index, &changed, "WhatsAppSession resources"));
        let pod_watch = watcher(
            pods,
            watcher::Config::default().labels(SESSION_POD_SELECTOR),
        )
        // The index needs labels, ports, IP and conditions; not who wrote which field.
        .modify(|pod| pod.managed_fields_mut().clear());
        let watch_pods = reflector(pod_writer, pod_watch)
            .default_backoff()
            .for_each(on_change(&index, &changed, "session pods"));

        let pod_client = PodClient::new(config.internal_token.clone());
        let events = broadcast::channel(ALL_EVENTS_BUFFER).0;
        let cache = Arc::new(PodMetricsCache::default());
        let rendered = cache.clone();
        metrics.append_with(move || rendered.render());
        let tasks = vec![
            tokio::spawn(watch_resources),
            tokio::spawn(watch_pods),
            Arc::new(EventRelay {
                index: index.clone(),
                pods: pod_client.clone(),
                events: events.clone(),
            })
            .spawn(changed),
            cache.spawn(index.clone(), pod_client.clone(), config.metrics_interval),
        ];
        let shared = Arc::new(Shared {
            index,
            resources,
            secrets: Api::namespaced(client.clone(), namespace),
            kube_events: Api::namespaced(client, namespace),
            pods: pod_client,
            events,
            config,
        });
        Arc::new(Self { shared, tasks })
    }
}

/// Tells the index and wakes the event relay on every reflector event; logs watch failures
/// (the watcher retries with backoff).
fn on_change<T>(
    index: &Arc<SessionIndex>,
    changed: &Arc<Notify>,
    what: &'static str,
) -> impl FnMut(Result<T, watcher::Error>) -> futures::future::Ready<()> + use<T> {
    let (index, changed) = (index.clone(), changed.clone());
    move |event| {
        if let Err(e) = event {
            tracing::warn!(error = %e, "watching {what} failed; retrying");
        }
        index.note_change();
        changed.notify_one();
        futures::future::ready(())
    }
}

impl Shared {
    /// Waits (bounded) until the index has seen the first list of sessions and pods.
    /// The session `id` once the index listed: `404` when unknown or being deleted.
    async fn find(&self, id: &str) -> Result<index::Entry, ApiError> {
        self.index_ready().await?;
        self.index
            .find(id)
            .ok_or_else(|| ApiError::session_not_found(id))
    }

    async fn index_ready(&self) -> Result<(), ApiError> {
        tokio::time::timeout(INDEX_READY_WAIT, self.index.wait_until_ready())
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::UpstreamUnavailable,
                    "The router has not yet listed sessions from Kubernetes",
                )
                .with_retry_after(2)
            })
    }
}

#[async_trait]
impl SessionBackend for ClusterBackend {
    async fn list(&self) -> Vec<SessionInfo> {
        if self.shared.index_ready().await.is_err() {
            return Vec::new();
        }
        let index = &self.shared.index;
        index.all().iter().map(|e| index.info(e)).collect()
    }

    async fn create(&self, request: CreateSessionRequest) -> Result<Created, ApiError> {
        self.shared.create(request).await
    }

    async fn session_info(&self, id: &str) -> Option<SessionInfo> {
        let entry = self.shared.find(id).await.ok()?;
        Some(self.shared.index.info(&entry))
    }

    async fn host(&self, id: &str) -> Result<wagate_api::SessionHost, ApiError> {
        self.shared.host(id).await
    }

    async fn find_by_phone(&self, phone: &str) -> Option<String> {
        let index = &self.shared.index;
        index
            .all()
            .iter()
            .find(|e| index.info(e).phone.as_deref() == Some(phone))
            .map(|e| e.session_id())
    }

    fn session_routes(&self) -> axum::Router {
        routes::session_routes(self.shared.clone())
    }

    fn events(&self) -> broadcast::Receiver<GatewayEvent> {
        self.shared.events.subscribe()
    }

    async fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    fn is_ready(&self) -> bool {
        self.shared.index.is_ready()
    }
}

/// A failed Kubernetes API call as a contract error (logged with its cause).
fn kube_error(action: &str, e: kube::Error) -> ApiError {
    if let kube::Error::Api(status) = &e {
        if status.is_conflict() || status.is_already_exists() {
            return ApiError::new(ErrorCode::Conflict, status.message.clone());
        }
        if status.is_invalid() {
            return ApiError::field("body", status.message.clone());
        }
    }
    tracing::error!(error = %e, "Kubernetes API call failed: {action}");
    ApiError::new(
        ErrorCode::UpstreamUnavailable,
        format!("The Kubernetes API did not accept '{action}'"),
    )
    .with_retry_after(5)
}
