//! One session at runtime: the engine, the state machine, the outbox and webhook workers,
//! the event stream. The session binary serves one; the router runs many in-process.

mod api;
mod engine_events;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, RwLock, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wagate_api::{EventKind, GatewayEvent};

pub(crate) use api::Finished;
pub use api::{SendOutcome, new_message_id};
pub use state::{PairCodeState, QrState, Snapshot};

use crate::config::SessionConfig;
use crate::engine::{self, Engine, EngineEvent};
use crate::media::MediaDir;
use crate::metrics::Metrics;
use crate::store::{GatewayStore, MetaKey, StoreError, now_ms};
use crate::webhook::WebhookTarget;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot create session folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("engine did not start: {0}")]
    Engine(#[from] engine::EngineError),
}

/// Events kept for SSE subscribers that fall behind before they miss some (the buffer is
/// allocated up front, per session: keep it small for processes with thousands of them).
const EVENT_BUFFER: usize = 128;

pub struct Session {
    id: String,
    dir: PathBuf,
    config: SessionConfig,
    engine: Arc<dyn Engine>,
    store: GatewayStore,
    media: MediaDir,
    /// Bytes of inbound media kept at most; the oldest go first.
    media_quota: u64,
    metrics: Arc<Metrics>,
    events: broadcast::Sender<GatewayEvent>,
    state: watch::Sender<Snapshot>,
    created_at: DateTime<Utc>,
    webhook: RwLock<Option<WebhookTarget>>,
    labels: RwLock<BTreeMap<String, String>>,
    outbox_wake: Notify,
    webhook_wake: Notify,
    /// Synchronous sends waiting for their message to be sent or to fail.
    send_waiters: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Session {
    /// Opens (or creates) the session stored in `dir` and starts it.
    pub async fn open(
        id: &str,
        dir: &Path,
        config: SessionConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, SessionError> {
        let folder_error = |source| SessionError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        crate::private_files::private_dir(dir).map_err(folder_error)?;
        let store = GatewayStore::open(dir)?;
        crate::private_files::restrict_session_folder(dir).map_err(folder_error)?;
        let created_at = match store.meta_get::<DateTime<Utc>>(MetaKey::CreatedAt).await? {
            Some(at) => at,
            None => {
                let now = Utc::now();
                store.meta_set(MetaKey::CreatedAt, Some(&now)).await?;
                now
            }
        };
        let snapshot = Snapshot {
            phone: store.meta_get(MetaKey::Phone).await?,
            push_name: store.meta_get(MetaKey::PushName).await?,
            last_connected: store.meta_get(MetaKey::LastConnected).await?,
            ..Snapshot::default()
        };
        let webhook = store.meta_get::<WebhookTarget>(MetaKey::Webhook).await?;
        let labels = store.meta_get(MetaKey::Labels).await?.unwrap_or_default();
        let (sink, engine_events) = mpsc::unbounded_channel();
        let engine = engine::build_engine(config.engine, id, dir, &config.engine_options, sink);
        let session = Arc::new(Self {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            media: MediaDir::new(dir),
            media_quota: config
                .media_quota
                .unwrap_or_else(|| crate::inbound_media::default_quota(dir)),
            metrics,
            events: broadcast::channel(EVENT_BUFFER).0,
            state: watch::Sender::new(snapshot),
            created_at,
            webhook: RwLock::new(webhook),
            labels: RwLock::new(labels),
            outbox_wake: Notify::new(),
            webhook_wake: Notify::new(),
            send_waiters: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            config,
            engine,
            store,
        });
        session.metrics.set_state(id, session.snapshot().status);
        session.media.clear_incoming().await;
        session.spawn_workers(engine_events);
        session.engine.start().await?;
        tracing::info!(
            session = id,
            engine = session.engine.kind().as_str(),
            "session started"
        );
        Ok(session)
    }

    fn spawn_workers(self: &Arc<Self>, engine_events: mpsc::UnboundedReceiver<EngineEvent>) {
        let token = self.shutdown.clone();
        let handles = vec![
            tokio::spawn(engine_events::run(
                self.clone(),
                engine_events,
                token.clone(),
            )),
            tokio::spawn(crate::outbox::run(self.clone(), token.clone())),
            tokio::spawn(crate::webhook::run(self.clone(), token.clone())),
            tokio::spawn(prune_media(self.clone(), token)),
        ];
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(handles);
    }

    /// Graceful stop: no new work, the in-flight send finishes, stores are flushed.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        self.engine.stop().await;
        if let Err(e) = self.store.flush().await {
            tracing::warn!(session = %self.id, error = %e, "gateway store flush failed");
        }
        tracing::info!(session = %self.id, "session stopped");
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    pub(crate) fn store(&self) -> &GatewayStore {
        &self.store
    }

    pub(crate) fn outbox_wake(&self) -> &Notify {
        &self.outbox_wake
    }

    pub(crate) fn webhook_wake(&self) -> &Notify {
        &self.webhook_wake
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    pub fn watch_state(&self) -> watch::Receiver<Snapshot> {
        self.state.subscribe()
    }

    /// Sandbox only: scans the QR with the simulator's phone and waits for `connected`
    /// (benchmarks and demos). Fails on the real engine.
    pub async fn link_in_sandbox(&self) -> Result<(), engine::EngineError> {
        let sandbox = self
            .engine
            .sandbox()
            .ok_or(engine::EngineError::Unsupported("sandbox linking"))?;
        sandbox.scan(None).await?;
        let mut state = self.watch_state();
        state
            .wait_for(|s| s.status == wagate_api::SessionState::Connected)
            .await
            .map_err(|_| engine::EngineError::Permanent("session stopped while linking".into()))?;
        Ok(())
    }

    /// Live events (status, qr, messages, receipts) for SSE.
    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.events.subscribe()
    }

    /// The webhook this session delivers to: its own, else the process default.
    pub async fn webhook_target(&self) -> Option<WebhookTarget> {
        if let Some(own) = self.webhook.read().await.clone() {
            return Some(own);
        }
        let default = &self.config.default_webhook;
        default.url.as_ref().map(|url| WebhookTarget {
            url: url.clone(),
            events: default
                .events
                .clone()
                .unwrap_or_else(|| EventKind::WEBHOOK.to_vec()),
            secret: default.secret.clone(),
        })
    }

    /// Fans an event out to SSE subscribers and, durably, to the webhook queue; `false`
    /// when the webhook wants it but the delivery could not be queued.
    pub(crate) async fn publish(&self, kind: EventKind, data: serde_json::Value) -> bool {
        let event = GatewayEvent {
            event: kind,
            session_id: self.id.clone(),
            timestamp: Utc::now(),
            data,
        };
        let _ = self.events.send(event.clone());
        let subscribed = self.webhook_target().await.is_some_and(|t| t.wants(kind));
        if !subscribed {
            return true;
        }
        let body = serde_json::to_string(&event).expect("events serialize");
        let delivery_id = uuid::Uuid::new_v4().to_string();
        match self
            .store
            .webhook_enqueue(delivery_id, kind.as_str().to_string(), body, now_ms())
            .await
        {
            Ok(()) => {
                self.webhook_wake.notify_one();
                true
            }
            Err(e) => {
                tracing::error!(session = %self.id, error = %e, "cannot queue webhook delivery");
                false
            }
        }
    }

    pub(crate) async fn refresh_outbox_depth(&self) {
        if let Ok(depth) = self.store.queued_count().await {
            self.metrics
                .outbox_depth
                .with_label_values(&[&self.id])
                .set(depth);
        }
    }

    fn wake_waiters(&self, message_id: &str) {
        let waiters = self
            .send_waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(message_id);
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(());
        }
    }
}

/// Deletes inbound media older than the retention period, hourly.
async fn prune_media(session: Arc<Session>, shutdown: CancellationToken) {
    loop {
        let cutoff = now_ms() - session.config.media_retention.as_millis() as i64;
        match session.store.media_expire(cutoff).await {
            Ok(ids) => {
                for id in &ids {
                    session.media.remove(id).await;
                }
                if !ids.is_empty() {
                    tracing::info!(session = %session.id, pruned = ids.len(), "expired inbound media removed");
                }
            }
            Err(e) => tracing::warn!(session = %session.id, error = %e, "media pruning failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}
