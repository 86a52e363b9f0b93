//! The in-memory index of the cluster backend: external session id → `WhatsAppSession` → the
//! ready pod's address, kept by two reflectors (CRs and session pods), plus the live state the
//! pods themselves reported (their event streams and `GET` answers), which is fresher than the
//! CR status the operator polls. Every router replica builds the same index from the API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};
use wagate_api::crd::{INSTANCE_LABEL, WebhookSpec, WhatsAppSession, owner_of_session_id};
use wagate_api::{SessionInfo, SessionState};

use super::convert::pod_address;

/// Where a ready session pod answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodAddress {
    /// `ip:port` of the API (container port `http`).
    pub http: String,
    /// `ip:port` of `/metrics` (container port `metrics`).
    pub metrics: String,
    /// Distinguishes a restarted pod with the same name.
    pub uid: String,
}

/// A session the index knows, with its pod when that is ready.
#[derive(Clone)]
pub struct Entry {
    pub resource: Arc<WhatsAppSession>,
    pub pod: Option<PodAddress>,
}

impl Entry {
    pub fn session_id(&self) -> String {
        self.resource.session_id()
    }

    pub fn name(&self) -> String {
        self.resource.metadata.name.clone().unwrap_or_default()
    }

    /// Why requests cannot reach the pod, in the words of the resource's phase.
    pub fn phase(&self) -> String {
        self.resource
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "Pending".into())
    }
}

/// State a pod reported, valid while that same pod (uid) is the session's ready pod.
#[derive(Clone)]
struct Live {
    pod_uid: String,
    info: SessionInfo,
}

pub struct SessionIndex {
    namespace: String,
    resources: Store<WhatsAppSession>,
    pods: Store<Pod>,
    live: RwLock<HashMap<String, Live>>,
    /// What sessions without `spec.webhook` deliver to.
    default_webhook: Option<WebhookSpec>,
    /// Set once both reflectors listed. The stores' own `wait_until_ready` keeps a single
    /// waker, so concurrent waiters (requests, relay, readiness probe) would lose wake-ups;
    /// one task awaits it and publishes here.
    ready: tokio::sync::watch::Sender<bool>,
    /// Bumped on every reflector event, after the store applied it.
    changes: AtomicU64,
    /// [`Self::all`] as of a count of `changes`: every list, relay sync and metrics scrape
    /// reads it, and working it out again takes milliseconds at 10,000 resources.
    sorted: RwLock<(u64, Arc<[Entry]>)>,
}

impl SessionIndex {
    /// A new index; it turns ready (in a task of its own) once both stores listed.
    pub fn new(
        namespace: String,
        resources: Store<WhatsAppSession>,
        pods: Store<Pod>,
        default_webhook: Option<WebhookSpec>,
    ) -> Self {
        let ready = tokio::sync::watch::Sender::new(false);
        let (announce, stores) = (ready.clone(), (resources.clone(), pods.clone()));
        tokio::spawn(async move {
            let listed = stores.0.wait_until_ready().await.is_ok()
                && stores.1.wait_until_ready().await.is_ok();
            announce.send_replace(listed);
        });
        Self {
            namespace,
            resources,
            pods,
            live: RwLock::new(HashMap::new()),
            default_webhook,
            ready,
            // Nothing cached yet: the first `all` works it out.
            changes: AtomicU64::new(1),
            sorted: RwLock::new((0, Arc::new([]))),
        }
    }

    /// Tells the index a reflector applied an event to its store. The reflector applies it
    /// before passing it on, so a change counted here is already in the store. A request
    /// that waited to see its own write calls it too: the count trails the store by an
    /// instant, and a list right after the write must show it.
    pub fn note_change(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits for both reflectors' first list, so a fresh replica never answers `404` for a
    /// session that exists.
    pub async fn wait_until_ready(&self) {
        let _ = self.ready.subscribe().wait_for(|ready| *ready).await;
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// The session `id` unless it is unknown or being deleted. A resource created by hand
    /// may carry any name with this `spec.sessionId`, and more than one may claim it: the
    /// owner (the oldest) is the session, the others are ignored as the operator does.
    pub fn find(&self, id: &str) -> Option<Entry> {
        let state = self.resources.state();
        let owner = owner_of_session_id(
            state
                .iter()
                .map(|r| r.as_ref())
                .filter(|r| r.has_session_id(id)),
        )?;
        let owner = state
            .iter()
            .find(|r| std::ptr::eq(r.as_ref(), owner))
            .cloned()?;
        self.entry(owner)
    }

    /// Every session not being deleted, one per session id, sorted by id. Called for every
    /// list and by the relay and metrics loops, over 10,000 resources in a large cluster:
    /// worked out again only after the stores changed.
    pub fn all(&self) -> Arc<[Entry]> {
        // Read before the stores: a change landing while this works the list out leaves it
        // tagged with the older count, so the next caller works it out again.
        let changes = self.changes.load(Ordering::Acquire);
        {
            let sorted = self.sorted.read().unwrap_or_else(|p| p.into_inner());
            if sorted.0 == changes {
                return sorted.1.clone();
            }
        }
        let entries: Arc<[Entry]> = self.work_out_all().into();
        let mut sorted = self.sorted.write().unwrap_or_else(|p| p.into_inner());
        if sorted.0 < changes {
            *sorted = (changes, entries.clone());
        }
        entries
    }

    /// [`Self::all`] from the stores: ids are borrowed, not copied, and the owner is only
    /// worked out where ids collide.
    fn work_out_all(&self) -> Vec<Entry> {
        let state = self.resources.state();
        let mut claimants: HashMap<&str, Vec<&Arc<WhatsAppSession>>> =
            HashMap::with_capacity(state.len());
        for resource in &state {
            claimants
                .entry(resource.session_id_str())
                .or_default()
                .push(resource);
        }
        let mut entries: Vec<Entry> = claimants
            .into_values()
            .filter_map(|claimants| {
                let owner = match claimants.as_slice() {
                    [only] => *only,
                    many => {
                        let owner = owner_of_session_id(many.iter().map(|r| r.as_ref()))?;
                        *many.iter().find(|r| std::ptr::eq(r.as_ref(), owner))?
                    }
                };
                self.entry(owner.clone())
            })
            .collect();
        entries
            .sort_unstable_by(|a, b| a.resource.session_id_str().cmp(b.resource.session_id_str()));
        entries
    }

    fn entry(&self, resource: Arc<WhatsAppSession>) -> Option<Entry> {
        if resource.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let name = resource.metadata.name.clone().unwrap_or_default();
        let pod = self
            .pods
            .get(&ObjectRef::new(&format!("{name}-0")).within(&self.namespace))
            .filter(|pod| {
                pod.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(INSTANCE_LABEL))
                    == Some(&name)
            })
            .and_then(|pod| pod_address(&pod));
        Some(Entry { resource, pod })
    }

    /// The session as the API shows it: configuration from the resource, state from the pod
    /// when it is ready (else from the resource's status).
    pub fn info(&self, entry: &Entry) -> SessionInfo {
        let mut info = entry.resource.session_info(self.default_webhook.as_ref());
        // Copies the live fields under the lock rather than the whole live record: a list
        // of 10,000 sessions does this 10,000 times.
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        let live = live.get(&info.session_id).filter(|live| {
            entry
                .pod
                .as_ref()
                .is_some_and(|pod| live.pod_uid == pod.uid)
        });
        match (&entry.pod, live) {
            (Some(_), Some(live)) => {
                let l = &live.info;
                info.status = l.status;
                info.qr_available = l.qr_available;
                info.phone = l.phone.clone().or(info.phone);
                info.push_name = l.push_name.clone().or(info.push_name);
                info.last_connected = l.last_connected.or(info.last_connected);
                info.last_error = l.last_error.clone();
                info.banned_until = l.banned_until;
            }
            // The operator's last word may predate the pod going away.
            (None, _) if is_pod_state(info.status) => info.status = SessionState::Starting,
            _ => {}
        }
        info.ready = entry.pod.is_some() && info.status.is_ready();
        info
    }

    /// Records what the session's pod answered to `GET /v1/sessions/{id}`.
    pub fn record_info(&self, pod: &PodAddress, info: SessionInfo) {
        self.live.write().unwrap_or_else(|p| p.into_inner()).insert(
            info.session_id.clone(),
            Live {
                pod_uid: pod.uid.clone(),
                info,
            },
        );
    }

    /// Applies a pod's `session.status`/`qr` event to the live state.
    pub fn record_event(&self, pod: &PodAddress, event: &wagate_api::GatewayEvent) {
        use serde::Deserialize;
        use wagate_api::{EventKind, SessionStatusData};
        // The first event of a stream is the full SessionInfo.
        if event.event == EventKind::SessionStatus
            && let Ok(info) = serde_json::from_value::<SessionInfo>(event.data.clone())
        {
            return self.record_info(pod, info);
        }
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = live
            .get_mut(&event.session_id)
            .filter(|l| l.pod_uid == pod.uid)
        else {
            return;
        };
        match event.event {
            EventKind::SessionStatus => {
                let Ok(change) = SessionStatusData::deserialize(&event.data) else {
                    return;
                };
                entry.info.status = change.status;
                entry.info.qr_available &= change.status == SessionState::Qr;
                if change.phone.is_some() {
                    entry.info.phone = change.phone;
                }
                entry.info.last_error = change.last_error;
            }
            EventKind::Qr => entry.info.qr_available = true,
            _ => {}
        }
    }

    /// Forgets live state of sessions whose pod is gone (called by the relay supervisor).
    pub fn retain_live(&self, keep: impl Fn(&str, &str) -> bool) {
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, live| keep(id, &live.pod_uid));
    }
}

/// States only a running pod can be in; without one the session is (re)starting.
fn is_pod_state(status: SessionState) -> bool {
    matches!(
        status,
        SessionState::Connected | SessionState::Qr | SessionState::Connecting
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    use super::*;
    use crate::cluster::convert::session_resource;

    fn ids(index: &SessionIndex) -> Vec<String> {
        index.all().iter().map(Entry::session_id).collect()
    }

    #[tokio::test]
    async fn the_sorted_table_follows_every_change_of_the_stores() {
        let (resources, mut writer) = store::<WhatsAppSession>();
        let (pods, _pod_writer) = store::<Pod>();
        let index = SessionIndex::new("wagate".into(), resources, pods, None);
        let session = |id: &str| session_resource(id, None, &BTreeMap::new());

        writer.apply_watcher_event(&Event::Apply(session("bob")));
        index.note_change();
        assert_eq!(ids(&index), ["bob"]);
        assert!(
            Arc::ptr_eq(&index.all(), &index.all()),
            "unchanged stores: the table is not worked out again"
        );
        writer.apply_watcher_event(&Event::Apply(session("alice")));
        index.note_change();
        assert_eq!(ids(&index), ["alice", "bob"]);
        writer.apply_watcher_event(&Event::Delete(session("bob")));
        index.note_change();
        assert_eq!(ids(&index), ["alice"]);
    }
}
