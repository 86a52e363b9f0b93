//! The `local` backend: sessions run in this process, one folder each under `--data-dir`.
//! On start it reopens every session found on disk, so linked ones reconnect without a QR.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::broadcast;
use wagate_api::{
    ApiError, CreateSessionRequest, GatewayEvent, SessionInfo, SessionState, validate_session_id,
};
use wagate_session::http::{HttpState, SessionResolver, session_routes};
use wagate_session::metrics::Metrics;
use wagate_session::store::GATEWAY_DB;
use wagate_session::{Session, SessionConfig};

use crate::backend::{Created, SessionBackend};

/// Sessions reopened at once during a restore (each opens two SQLite stores).
const RESTORE_CONCURRENCY: usize = 16;
const ALL_EVENTS_BUFFER: usize = 4096;
/// How long a create waits for the new session to leave `starting`.
const FIRST_STATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub struct LocalBackend {
    data_dir: PathBuf,
    config: SessionConfig,
    metrics: Arc<Metrics>,
    sessions: RwLock<BTreeMap<String, Arc<Session>>>,
    /// Serialises creates so two requests for one id open it once.
    creating: tokio::sync::Mutex<()>,
    events: broadcast::Sender<GatewayEvent>,
    http: HttpState,
}

/// Lets the per-session routes find sessions without owning the backend.
struct Resolver(Weak<LocalBackend>);

impl SessionResolver for Resolver {
    fn resolve(&self, id: &str) -> Option<Arc<Session>> {
        self.0.upgrade()?.get(id)
    }

    fn removed(&self, id: &str) {
        if let Some(backend) = self.0.upgrade() {
            backend
                .sessions
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            backend.metrics.forget_session(id);
        }
    }
}

impl LocalBackend {
    /// Opens the backend and restores every session stored under `data_dir`.
    pub async fn open(
        data_dir: &Path,
        config: SessionConfig,
        metrics: Arc<Metrics>,
        http: impl FnOnce(Arc<dyn SessionResolver>) -> HttpState,
    ) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(data_dir)?;
        let backend = Arc::new_cyclic(|me: &Weak<Self>| Self {
            data_dir: data_dir.to_path_buf(),
            config,
            metrics,
            sessions: RwLock::new(BTreeMap::new()),
            creating: tokio::sync::Mutex::new(()),
            events: broadcast::channel(ALL_EVENTS_BUFFER).0,
            http: http(Arc::new(Resolver(me.clone()))),
        });
        backend.restore().await?;
        Ok(backend)
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn restore(&self) -> std::io::Result<()> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.data_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if entry.path().join(GATEWAY_DB).exists() && validate_session_id(&name).is_ok() {
                ids.push(name);
            }
        }
        let opened: Vec<_> = futures::stream::iter(ids)
            .map(|id| async move {
                let result = Session::open(
                    &id,
                    &self.data_dir.join(&id),
                    self.config.clone(),
                    self.metrics.clone(),
                )
                .await;
                (id, result)
            })
            .buffer_unordered(RESTORE_CONCURRENCY)
            .collect()
            .await;
        for (id, result) in opened {
            match result {
                Ok(session) => {
                    self.relay_events(session.subscribe());
                    self.adopt(session)
                }
                Err(e) => {
                    tracing::error!(session = %id, error = %e, "cannot restore session; leaving its folder alone")
                }
            }
        }
        tracing::info!(sessions = self.len(), data_dir = %self.data_dir.display(), "sessions restored");
        Ok(())
    }

    /// Registers a running session and forwards its events to the all-sessions stream.
    fn adopt(&self, session: Arc<Session>) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.id().to_string(), session);
    }

    /// Forwards a session's events (subscribed by the caller) to `GET /v1/events`.
    fn relay_events(&self, mut events: broadcast::Receiver<GatewayEvent>) {
        let all = self.events.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let _ = all.send(event);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    async fn apply_settings(
        session: &Session,
        request: &CreateSessionRequest,
    ) -> Result<(), ApiError> {
        if let Some(webhook) = &request.webhook {
            session.set_webhook(Some(webhook.clone())).await?;
        }
        if !request.labels.is_empty() {
            session.set_labels(request.labels.clone()).await?;
        }
        Ok(())
    }
}

impl LocalBackend {
    /// A snapshot of the open sessions, taken without holding the lock across awaits.
    fn all_sessions(&self) -> Vec<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl SessionBackend for LocalBackend {
    async fn list(&self) -> Vec<SessionInfo> {
        let sessions = self.all_sessions();
        let mut out = Vec::with_capacity(sessions.len());
        for session in sessions {
            out.push(session.info().await);
        }
        out
    }

    async fn session_info(&self, id: &str) -> Option<SessionInfo> {
        match self.get(id) {
            Some(session) => Some(session.info().await),
            None => None,
        }
    }

    async fn host(&self, id: &str) -> Result<wagate_api::SessionHost, ApiError> {
        self.get(id)
            .ok_or_else(|| ApiError::session_not_found(id))?;
        Ok(wagate_api::SessionHost {
            backend: wagate_api::HostBackend::Local,
            resource: None,
            phase: None,
            pod: None,
            conditions: Vec::new(),
            events: Vec::new(),
        })
    }

    async fn create(&self, request: CreateSessionRequest) -> Result<Created, ApiError> {
        // Before anything starts: a refused webhook must not leave a running session.
        if let Some(webhook) = &request.webhook {
            self.config.egress.policy().check_webhook(webhook)?;
        }
        let _guard = self.creating.lock().await;
        let id = request.session_id.as_str().to_string();
        if let Some(existing) = self.get(&id) {
            Self::apply_settings(&existing, &request).await?;
            return Ok(Created {
                info: existing.info().await,
                new: false,
                pending: false,
            });
        }
        let session = Session::open(
            &id,
            &self.data_dir.join(&id),
            self.config.clone(),
            self.metrics.clone(),
        )
        .await
        .map_err(|e| {
            tracing::error!(session = %id, error = %e, "cannot create session");
            ApiError::internal(format!("Session '{id}' could not be started"))
        })?;
        Self::apply_settings(&session, &request).await?;
        // A new session shows its QR within moments; answer with that rather than `starting`
        // (bounded: an engine that cannot reach WhatsApp stays `connecting`).
        let mut state = session.watch_state();
        let _ = tokio::time::timeout(
            FIRST_STATE_WAIT,
            state.wait_for(|s| {
                !matches!(s.status, SessionState::Starting | SessionState::Connecting)
            }),
        )
        .await;
        // Watchers of all sessions learn of the new one by a `status` event with its whole
        // info, as a stream of one session starts: subscribed before the info is read, so
        // whatever changes after it follows it, and the last event is the current state.
        let events = session.subscribe();
        let info = session.info().await;
        self.adopt(session);
        let _ = self.events.send(GatewayEvent {
            event: wagate_api::EventKind::SessionStatus,
            session_id: id,
            timestamp: chrono::Utc::now(),
            data: serde_json::to_value(&info).unwrap_or_default(),
        });
        self.relay_events(events);
        Ok(Created {
            info,
            new: true,
            pending: false,
        })
    }

    async fn find_by_phone(&self, phone: &str) -> Option<String> {
        let sessions = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        sessions
            .values()
            .find(|s| s.snapshot().phone.as_deref() == Some(phone))
            .map(|s| s.id().to_string())
    }

    fn session_routes(&self) -> axum::Router {
        session_routes(self.http.clone())
    }

    fn events(&self) -> broadcast::Receiver<GatewayEvent> {
        self.events.subscribe()
    }

    async fn shutdown(&self) {
        let sessions = self.all_sessions();
        futures::future::join_all(sessions.iter().map(|s| s.shutdown())).await;
    }
}
