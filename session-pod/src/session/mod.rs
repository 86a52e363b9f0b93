//! One session at runtime, as a thin facade over its parts, each handed only what it
//! needs: the engine, the state machine (`crate::state`), the event bus (`crate::events`),
//! the outbox (`crate::outbox`) and the webhook queue (`crate::webhook`). The session
//! binary serves one; the router runs many in-process.

mod api;
mod behaviour;
mod contacts;
mod engine_events;
mod error;
mod groups;
mod polls;
mod profile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{RwLock, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wagate_api::GatewayEvent;

pub use crate::state::{PairCodeState, QrState, Snapshot};
pub use api::{SendOutcome, new_message_id};
pub use error::{OpenError, SessionError};

use crate::config::SessionConfig;
use crate::engine::{self, Engine, EngineEvent};
use crate::events::EventBus;
use crate::media::MediaDir;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::state::StateMachine;
use crate::store::{GatewayStore, MetaKey, now_ms};
use crate::webhook::{WebhookQueue, WebhookTarget};

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
    state: StateMachine,
    events: Arc<EventBus>,
    outbox: Arc<Outbox>,
    webhooks: Arc<WebhookQueue>,
    created_at: DateTime<Utc>,
    labels: RwLock<BTreeMap<String, String>>,
    /// How the session behaves on calls, reads, presence and what it reports.
    settings: std::sync::RwLock<wagate_api::SessionSettings>,
    /// The last typing state each contact showed in each chat: `chat.presence` is only
    /// published when it changes (a contact can send typing stanzas for free).
    typing: std::sync::Mutex<std::collections::HashMap<(String, String), wagate_api::ChatState>>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Session {
    /// Opens (or creates) the session stored in `dir` and starts it.
    #[tracing::instrument(skip_all, fields(session = id))]
    pub async fn open(
        id: &str,
        dir: &Path,
        config: SessionConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, OpenError> {
        let folder_error = |source| OpenError::Folder {
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
        let settings = match &config.fixed_settings {
            Some(fixed) => fixed.clone(),
            None => store.meta_get(MetaKey::Settings).await?.unwrap_or_default(),
        };
        let (sink, engine_events) = mpsc::unbounded_channel();
        let engine = engine::build_engine(config.engine, id, dir, &config.engine_options, sink);
        let (delivered, delivered_messages) = mpsc::unbounded_channel();
        let webhooks = Arc::new(WebhookQueue::new(
            store.clone(),
            webhook,
            &config,
            metrics.clone(),
            delivered,
        ));
        let events = Arc::new(EventBus::new(id, webhooks.clone()));
        let state = StateMachine::new(id, snapshot, metrics.clone(), events.clone());
        let outbox = Arc::new(Outbox::new(
            id,
            store.clone(),
            config.clone(),
            metrics.clone(),
            events.clone(),
        ));
        let session = Arc::new(Self {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            media: MediaDir::new(dir),
            media_quota: config
                .media_quota
                .unwrap_or_else(|| crate::inbound_media::default_quota(dir)),
            metrics,
            state,
            events,
            outbox,
            webhooks,
            created_at,
            labels: RwLock::new(labels),
            settings: std::sync::RwLock::new(settings),
            typing: Default::default(),
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            config,
            engine,
            store,
        });
        session.media.clear_incoming().await;
        session.spawn_workers(engine_events, delivered_messages);
        session.engine.start().await?;
        tracing::info!(engine = session.engine.kind().as_str(), "session started");
        Ok(session)
    }

    /// The session's background tasks, each in a span naming the session and the task.
    fn spawn_workers(
        self: &Arc<Self>,
        engine_events: mpsc::UnboundedReceiver<EngineEvent>,
        delivered_messages: mpsc::UnboundedReceiver<String>,
    ) {
        let token = self.shutdown.clone();
        let span = |task: &'static str| tracing::info_span!("session", id = %self.id, task);
        let handles = vec![
            tokio::spawn(
                engine_events::run(self.clone(), engine_events, token.clone())
                    .instrument(span("engine-events")),
            ),
            tokio::spawn(
                self.outbox
                    .clone()
                    .run(self.engine.clone(), self.state.watch(), token.clone())
                    .instrument(span("outbox")),
            ),
            tokio::spawn(
                self.webhooks
                    .clone()
                    .run(token.clone())
                    .instrument(span("webhooks")),
            ),
            tokio::spawn(
                behaviour::read_after_delivery(self.clone(), delivered_messages, token.clone())
                    .instrument(span("auto-read")),
            ),
            tokio::spawn(prune_media(self.clone(), token).instrument(span("media-pruning"))),
        ];
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(handles);
    }

    /// Graceful stop: no new work, the in-flight send finishes, stores are flushed.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        self.engine.stop().await;
        if let Err(e) = self.store.flush().await {
            tracing::warn!(error = %e, "gateway store flush failed");
        }
        tracing::info!("session stopped");
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

    pub fn snapshot(&self) -> Snapshot {
        self.state.snapshot()
    }

    pub fn watch_state(&self) -> watch::Receiver<Snapshot> {
        self.state.watch()
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
        self.webhooks.target().await
    }
}

/// Deletes inbound media and index entries older than their retention periods, hourly.
async fn prune_media(session: Arc<Session>, shutdown: CancellationToken) {
    loop {
        let cutoff = now_ms() - session.config.media_retention.as_millis() as i64;
        match session.store.media_expire(cutoff).await {
            Ok(ids) => {
                for id in &ids {
                    session.media.remove(id).await;
                }
                if !ids.is_empty() {
                    tracing::info!(pruned = ids.len(), "expired inbound media removed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "media pruning failed"),
        }
        let cutoff = now_ms() - session.config.message_index_retention.as_millis() as i64;
        if let Err(e) = session.store.index_expire(cutoff).await {
            tracing::warn!(error = %e, "message index pruning failed");
        }
        if let Err(e) = session.store.polls_expire(cutoff).await {
            tracing::warn!(error = %e, "poll pruning failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}
