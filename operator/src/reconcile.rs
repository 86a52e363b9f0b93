//! One reconcile of a `WhatsAppSession`: apply its StatefulSet and the shared Service, read
//! its pod and session status, write `status`, emit Events on transitions. Deletion runs
//! through a finalizer that logs the session out (bounded) and purges the volume when asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use wagate_api::crd::{
    Phase, WhatsAppSession, WhatsAppSessionStatus, from_time, owner_of_session_id, to_time,
};

use crate::config::OperatorConfig;
use crate::metrics::Metrics;
use crate::resources;
use crate::status::{Observed, PodView, desired_status, transition_event};
use wagate_http::pod_client::PodClient;

/// Finalizer that holds deletion until the session is logged out.
pub const FINALIZER: &str = "wagate.dev/logout";
/// Field manager of every server-side apply.
pub const MANAGER: &str = "wagate-operator";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kube API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("resource has no namespace")]
    NoNamespace,
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
            // Name what failed inside apply/cleanup, not the finalizer wrapper around it.
            Self::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.metric_label(),
                _ => "finalizer",
            },
            Self::NoNamespace => "no_namespace",
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    pub client: kube::Client,
    pub config: OperatorConfig,
    pub pods: PodClient,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Consecutive failures per object, for per-object exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Every session the controller watches, to find resources claiming one session id.
    sessions: Option<Store<WhatsAppSession>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        config: OperatorConfig,
        pods: PodClient,
        metrics: Arc<Metrics>,
        recorder: Recorder,
    ) -> Self {
        Self {
            client,
            config,
            pods,
            metrics,
            recorder,
            failures: Mutex::default(),
            sessions: None,
        }
    }

    /// Reconciles know the other sessions of the namespace (the controller's cache).
    pub fn with_sessions(mut self, sessions: Store<WhatsAppSession>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The resource that owns `session`'s id when it is not `session` itself.
    fn owner_if_duplicate(&self, session: &WhatsAppSession, namespace: &str) -> Option<String> {
        let state = self.sessions.as_ref()?.state();
        let id = session.session_id();
        let claimants = state.iter().map(|r| r.as_ref()).filter(|r| {
            r.metadata.namespace.as_deref() == Some(namespace) && r.has_session_id(&id)
        });
        let owner = owner_of_session_id(claimants)?;
        (owner.uid() != session.uid()).then(|| owner.name_any())
    }
}

fn key(session: &WhatsAppSession) -> String {
    format!(
        "{}/{}",
        session.namespace().unwrap_or_default(),
        session.name_any()
    )
}

/// The controller's reconcile function.
#[tracing::instrument(skip_all, fields(session = %key(&session)))]
pub async fn reconcile(session: Arc<WhatsAppSession>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = session.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<WhatsAppSession> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, session.clone(), |event| async {
        match event {
            Finalizer::Apply(session) => apply(&session, &namespace, &ctx).await,
            Finalizer::Cleanup(session) => cleanup(&session, &namespace, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled(started.elapsed(), result.is_ok());
    if result.is_ok() {
        ctx.failures
            .lock()
            .expect("failures lock")
            .remove(&key(&session));
    }
    result
}

/// Requeue after an error with per-object exponential backoff (5 s doubling, ≤ 5 min).
pub fn error_policy(session: Arc<WhatsAppSession>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(error.metric_label());
    let mut failures = ctx.failures.lock().expect("failures lock");
    let count = failures.entry(key(&session)).or_default();
    *count = count.saturating_add(1);
    let delay = backoff(*count);
    tracing::warn!(session = %key(&session), attempt = *count, ?delay, "reconcile failed: {error}");
    Action::requeue(delay)
}

/// The delay before retry number `attempt` (1-based).
pub fn backoff(attempt: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    Duration::from_secs(secs.min(300))
}

async fn apply(session: &WhatsAppSession, namespace: &str, ctx: &Context) -> Result<Action, Error> {
    if let Some(owner) = ctx.owner_if_duplicate(session, namespace) {
        return refuse_duplicate(session, namespace, &owner, ctx).await;
    }
    let config = &ctx.config;
    let params = PatchParams::apply(MANAGER).force();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
    let service = resources::shared_service(namespace, config);
    services
        .patch(&config.service_name, &params, &Patch::Apply(&service))
        .await?;
    let statefulsets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let mut desired = resources::statefulset(session, config);
    // A StatefulSet's claim templates are immutable: keep the ones it was created with and
    // grow the existing claim instead (the storage class must allow expansion).
    if let Some(existing) = statefulsets.get_opt(&session.name_any()).await? {
        let templates = existing.spec.and_then(|s| s.volume_claim_templates);
        if let (Some(spec), Some(templates)) = (desired.spec.as_mut(), templates) {
            spec.volume_claim_templates = Some(templates);
        }
        expand_claim(session, namespace, ctx).await?;
    }
    statefulsets
        .patch(&session.name_any(), &params, &Patch::Apply(&desired))
        .await?;

    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pod = if session.spec.suspend {
        None
    } else {
        pods.get_opt(&resources::pod_name(session))
            .await?
            .map(|p| PodView::from_pod(&p))
    };
    let session_id = session.session_id();
    let (info, pod_error) = match pod.as_ref().filter(|p| p.ready).and_then(|p| p.ip.clone()) {
        Some(ip) => {
            let addr = format!("{ip}:{}", config.session_port);
            match ctx
                .pods
                .info(&addr, &session_id, config.status_timeout)
                .await
            {
                Ok(info) => (Some(info), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
        None => (None, None),
    };
    let previous = session.status.as_ref();
    let mut status = desired_status(
        &Observed {
            session_id: &session_id,
            generation: session.meta().generation,
            suspended: session.spec.suspend,
            pod: pod.as_ref(),
            info: info.as_ref(),
            pod_error: pod_error.as_deref(),
        },
        previous,
        config.session_port,
    );
    if let (Some(phone), Some(addr)) = (&session.spec.pairing.phone_number, status.pod_ip.clone())
        && status.status == Some(wagate_api::SessionState::Qr)
    {
        pairing_code(&mut status, previous, &addr, &session_id, phone, ctx).await;
    }
    let phase = status.phase.unwrap_or(Phase::Pending);
    write_status(session, namespace, &status, ctx).await?;
    if let Some((reason, note, warning)) = transition_event(previous.and_then(|s| s.phase), phase) {
        publish(session, ctx, warning, reason, note.into()).await;
    }
    ctx.metrics.set_phase(&key(session), Some(phase));
    Ok(Action::requeue(if phase == Phase::Connected {
        config.requeue_connected
    } else {
        config.requeue_pending
    }))
}

/// Writes `status` unless the resource already shows it.
async fn write_status(
    session: &WhatsAppSession,
    namespace: &str,
    status: &WhatsAppSessionStatus,
    ctx: &Context,
) -> Result<(), Error> {
    if session.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<WhatsAppSession> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &session.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Publishes an Event about `session`; best effort, never fails the reconcile.
async fn publish(
    session: &WhatsAppSession,
    ctx: &Context,
    warning: bool,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &session.object_ref(&())).await {
        tracing::warn!("cannot publish event {reason}: {e}");
    }
}

/// A second resource for a session id that another one owns: no StatefulSet (two pods
/// would fight over one WhatsApp link), `Ready=False` with reason `DuplicateSessionId`, and
/// a Warning Event once.
async fn refuse_duplicate(
    session: &WhatsAppSession,
    namespace: &str,
    owner: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    const REASON: &str = wagate_api::crd::DUPLICATE_SESSION_ID;
    let message = format!(
        "sessionId '{}' belongs to WhatsAppSession '{owner}'; this resource is not run",
        session.session_id()
    );
    let previous = session.status.as_ref();
    let already = previous.is_some_and(|s| s.conditions.iter().any(|c| c.reason == REASON));
    let status =
        crate::status::duplicate_status(previous, session.meta().generation, REASON, &message);
    // The pod first: a failed status write must not leave two pods on one link.
    stop_statefulset(session, namespace, ctx).await?;
    write_status(session, namespace, &status, ctx).await?;
    if !already {
        tracing::warn!(%owner, "duplicate sessionId; not run");
        publish(session, ctx, true, REASON, message).await;
    }
    ctx.metrics.set_phase(&key(session), Some(Phase::Failed));
    // The owner may go away; look again then (its deletion also triggers a reconcile of
    // nothing here, so poll).
    Ok(Action::requeue(ctx.config.requeue_pending))
}

/// Scales the resource's StatefulSet to zero if it has one (it ran before the owner was
/// known, e.g. from a watch that had not seen the owner yet): two pods must never share a
/// WhatsApp link. The volume stays; if the owner goes, this resource runs again from it.
async fn stop_statefulset(
    session: &WhatsAppSession,
    namespace: &str,
    ctx: &Context,
) -> Result<(), Error> {
    let statefulsets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let name = session.name_any();
    let uid = session.uid();
    // Only this resource's own StatefulSet (its controller owner), never a namesake.
    let running = statefulsets.get_opt(&name).await?.is_some_and(|s| {
        let owned = s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref());
        owned && s.spec.and_then(|spec| spec.replicas) != Some(0)
    });
    if running {
        tracing::warn!("stopping the pod of a duplicate");
        let scale_down = serde_json::json!({ "spec": { "replicas": 0 } });
        statefulsets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&scale_down))
            .await?;
    }
    Ok(())
}

/// Keeps a pairing code in `status` while the session waits to be linked: the previous one
/// while it has more than 15 s left, else a fresh one from the pod.
async fn pairing_code(
    status: &mut WhatsAppSessionStatus,
    previous: Option<&WhatsAppSessionStatus>,
    addr: &str,
    session_id: &str,
    phone: &str,
    ctx: &Context,
) {
    let still_valid = previous
        .and_then(|p| Some((p.pairing_code.clone()?, p.pairing_code_expires_at.clone()?)))
        .filter(|(_, expires)| {
            from_time(expires) > chrono::Utc::now() + chrono::Duration::seconds(15)
        });
    let (code, expires) = match still_valid {
        Some(kept) => kept,
        None => match ctx
            .pods
            .pair_code(addr, session_id, phone, ctx.config.status_timeout)
            .await
        {
            Ok(fresh) => (fresh.code, to_time(fresh.expires_at)),
            Err(e) => {
                status.last_error = Some(format!("cannot get a pairing code: {e}"));
                return;
            }
        },
    };
    status.pairing_code = Some(code);
    status.pairing_code_expires_at = Some(expires);
}

/// Raises the claim's storage request to `spec.storage.size` when it asks for more; a
/// smaller size is left alone (volumes do not shrink).
async fn expand_claim(
    session: &WhatsAppSession,
    namespace: &str,
    ctx: &Context,
) -> Result<(), Error> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let name = resources::claim_name(session);
    let Some(claim) = claims.get_opt(&name).await? else {
        return Ok(());
    };
    let current = claim
        .spec
        .and_then(|s| s.resources)
        .and_then(|r| r.requests)
        .and_then(|r| r.get("storage").cloned());
    let wanted = &session.spec.storage.size;
    let grows = match current.as_ref().map(|q| q.0.as_str()) {
        Some(current) => resources::quantity_bytes(wanted) > resources::quantity_bytes(current),
        None => false,
    };
    if grows {
        let patch =
            serde_json::json!({ "spec": { "resources": { "requests": { "storage": wanted } } } });
        claims
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        tracing::info!(size = %wanted, "expanding the session volume");
    }
    Ok(())
}

async fn cleanup(
    session: &WhatsAppSession,
    namespace: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    let config = &ctx.config;
    // A delete that keeps the auth keeps the link too: the same session id created again
    // resumes without a QR, as a delete without purge does in the local backend. Only a
    // delete that wipes the volume unlinks the phone first.
    if session.spec.retain_auth_on_delete {
        tracing::info!("deleted; auth and link kept (retainAuthOnDelete)");
        ctx.metrics.set_phase(&key(session), None);
        return Ok(Action::await_change());
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pod = pods.get_opt(&resources::pod_name(session)).await?;
    let ip = pod.as_ref().and_then(|p| p.status.as_ref()?.pod_ip.clone());
    match ip {
        Some(ip) => {
            let addr = format!("{ip}:{}", config.session_port);
            // Bounded: an unreachable pod must not hold the deletion forever.
            match ctx
                .pods
                .logout(&addr, &session.session_id(), config.logout_timeout)
                .await
            {
                Ok(()) => tracing::info!("logged out before deletion"),
                Err(e) => {
                    tracing::warn!("logout at deletion skipped: {e}")
                }
            }
        }
        None => tracing::info!("no running pod to log out"),
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    match claims
        .delete(&resources::claim_name(session), &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    ctx.metrics.set_phase(&key(session), None);
    Ok(Action::await_change())
}
