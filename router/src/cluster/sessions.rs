//! Writes of the cluster backend: create, delete and re-configure `WhatsAppSession`
//! resources (and the webhook Secrets the router makes for them). The operator does the
//! rest: pods, volumes, logout on delete, rollouts on spec changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use wagate_api::crd::{SecretKeyRef, WebhookSpec, WhatsAppSession, resource_name};
use wagate_api::{
    ApiError, CreateSessionRequest, ErrorCode, SessionInfo, SessionState, WebhookConfig,
};
use wagate_http::pod_client::SHORT_CALL_TIMEOUT;

use super::convert::{
    LABELS_ANNOTATION, ROUTER_SECRET_ANNOTATION, WEBHOOK_SECRET_KEY, is_webhook_secret_name,
    session_resource, webhook_secret, webhook_secret_name, webhook_spec,
};
use super::index::Entry;
use super::{Shared, kube_error};
use crate::backend::Created;

/// After the pod is ready, how long a create waits for the session to leave
/// `starting`/`connecting` (so the answer usually says `qr`), as the local backend does.
const FIRST_STATE_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(50);
/// How long a write of the resource waits for this replica's index to see it, so that a
/// read right after it answers what was written (the watch is usually there in ms).
const WRITE_VISIBLE_WAIT: Duration = Duration::from_secs(2);

impl Shared {
    #[tracing::instrument(skip_all, fields(session = %request.session_id.as_str()))]
    pub(super) async fn create(&self, request: CreateSessionRequest) -> Result<Created, ApiError> {
        if let Some(webhook) = &request.webhook {
            self.config.egress.check_webhook(webhook)?;
        }
        self.index_ready().await?;
        let id = request.session_id.as_str();
        if let Some(existing) = self.index.find(id) {
            return self.update_existing(existing, &request).await;
        }
        let name = resource_name(id);
        let secret = request.webhook.as_ref().and_then(|w| w.secret.clone());
        let secret_name = secret.as_ref().map(|_| webhook_secret_name(&name));
        let webhook = request.webhook.as_ref().map(|w| {
            webhook_spec(
                w,
                secret_name.clone().map(|name| SecretKeyRef {
                    name,
                    key: WEBHOOK_SECRET_KEY.into(),
                }),
            )
        });
        let mut resource = session_resource(id, webhook, &request.labels);
        if let Some(secret_name) = &secret_name {
            resource
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(ROUTER_SECRET_ANNOTATION.into(), secret_name.clone());
        }
        let created = match self
            .resources
            .create(&PostParams::default(), &resource)
            .await
        {
            Ok(created) => created,
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                // Another replica or request won the race, or the name is taken.
                let existing = self
                    .resources
                    .get(&name)
                    .await
                    .map_err(|e| kube_error("get session", e))?;
                return self.adopt_existing(id, existing, &request).await;
            }
            Err(e) => return Err(kube_error("create session", e)),
        };
        if let (Some(secret), Some(secret_name)) = (&secret, &secret_name) {
            self.ensure_secret(&created, secret_name, secret).await?;
        }
        tracing::info!(resource = %name, "session resource created");
        let (info, pending) = self.wait_for_pod(id, Arc::new(created)).await;
        Ok(Created {
            info,
            new: true,
            pending,
        })
    }

    /// A resource of that name exists but the index did not show it yet (or it is going).
    async fn adopt_existing(
        &self,
        id: &str,
        existing: WhatsAppSession,
        request: &CreateSessionRequest,
    ) -> Result<Created, ApiError> {
        if existing.metadata.deletion_timestamp.is_some() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("Session '{id}' is being deleted; create it again once it is gone"),
            )
            .with_retry_after(5));
        }
        if existing.session_id() != id {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "The resource name of session '{id}' is taken by session '{}'",
                    existing.session_id()
                ),
            ));
        }
        let entry = Entry {
            resource: Arc::new(existing),
            pod: None,
        };
        self.update_existing(entry, request).await
    }

    /// `POST` of an existing session: never touches the link, only webhook and labels.
    async fn update_existing(
        &self,
        entry: Entry,
        request: &CreateSessionRequest,
    ) -> Result<Created, ApiError> {
        let mut entry = entry;
        if let Some(webhook) = &request.webhook {
            entry.resource = Arc::new(self.patch_webhook(&entry, Some(webhook)).await?);
        }
        if !request.labels.is_empty() {
            entry.resource = Arc::new(self.patch_labels(&entry, &request.labels).await?);
        }
        Ok(Created {
            info: self.fresh_info(&entry).await,
            new: false,
            pending: false,
        })
    }

    /// Waits (bounded) for the operator's pod, then for the session's first real state.
    async fn wait_for_pod(&self, id: &str, created: Arc<WhatsAppSession>) -> (SessionInfo, bool) {
        let deadline = tokio::time::Instant::now() + self.config.create_wait;
        loop {
            if let Some(entry) = self.index.find(id)
                && let Some(pod) = &entry.pod
            {
                let settle = tokio::time::Instant::now() + FIRST_STATE_WAIT;
                loop {
                    let info = self.pods.info(&pod.http, id, SHORT_CALL_TIMEOUT).await;
                    let settled = info.as_ref().is_ok_and(|i| {
                        !matches!(i.status, SessionState::Starting | SessionState::Connecting)
                    });
                    if let Ok(info) = info {
                        self.index.record_info(pod, info);
                    }
                    if settled || tokio::time::Instant::now() >= settle {
                        break;
                    }
                    tokio::time::sleep(POLL).await;
                }
                self.index.note_change();
                return (self.index.info(&entry), false);
            }
            if tokio::time::Instant::now() >= deadline {
                let entry = self.index.find(id).unwrap_or(Entry {
                    resource: created,
                    pod: None,
                });
                return (self.index.info(&entry), true);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The session's info, asking its pod first when there is one (fresher than the index).
    #[tracing::instrument(skip_all, fields(session = %entry.session_id()))]
    pub(super) async fn fresh_info(&self, entry: &Entry) -> SessionInfo {
        if let Some(pod) = &entry.pod {
            match self
                .pods
                .info(&pod.http, &entry.session_id(), SHORT_CALL_TIMEOUT)
                .await
            {
                Ok(info) => self.index.record_info(pod, info),
                Err(e) => {
                    tracing::debug!(error = %e, "pod did not answer; showing the indexed state")
                }
            }
        }
        self.index.info(entry)
    }

    /// Deletes the resource; the operator logs the session out and, with `purge`, deletes
    /// its volume (`retainAuthOnDelete: false` is set first).
    #[tracing::instrument(skip_all, fields(session = %entry.session_id()))]
    pub(super) async fn delete(&self, entry: &Entry, purge: bool) -> Result<(), ApiError> {
        let name = entry.name();
        if purge && entry.resource.spec.retain_auth_on_delete {
            let patch = json!({ "spec": { "retainAuthOnDelete": false } });
            self.resources
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| kube_error("mark session for purge", e))?;
        }
        match self
            .resources
            .delete(&name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(e) => return Err(kube_error("delete session", e)),
        }
        tracing::info!(resource = %name, purge, "session resource deleted");
        // Read-your-writes on this replica: a list right after the delete must not show it.
        let deadline = tokio::time::Instant::now() + FIRST_STATE_WAIT;
        while self.index.find(&entry.session_id()).is_some()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(POLL).await;
        }
        self.index.note_change();
        Ok(())
    }

    /// `PUT`/`DELETE .../webhook`: the resource's spec is the truth (the operator rolls the
    /// pod onto it; the session resumes without a new QR and its queues are on the volume).
    pub(super) async fn set_webhook(
        &self,
        entry: &Entry,
        config: Option<&WebhookConfig>,
    ) -> Result<SessionInfo, ApiError> {
        if let Some(config) = config {
            self.config.egress.check_webhook(config)?;
        }
        let updated = self.patch_webhook(entry, config).await?;
        self.wait_until_indexed(entry, &updated).await;
        Ok(self.index.info(&Entry {
            resource: Arc::new(updated),
            pod: entry.pod.clone(),
        }))
    }

    /// `PUT .../settings`: the resource's `spec.settings` is the truth (the operator rolls
    /// the pod onto them, as for the webhook).
    pub(super) async fn set_settings(
        &self,
        entry: &Entry,
        settings: &wagate_api::SessionSettings,
    ) -> Result<SessionInfo, ApiError> {
        // A merge patch keeps keys it does not name: a message no longer set is `null`.
        let mut value = serde_json::to_value(settings).expect("settings serialize");
        value["rejectCallsMessage"] = settings.reject_calls_message.clone().into();
        let patch = json!({ "spec": { "settings": value } });
        let updated = self
            .resources
            .patch(
                &entry.name(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|e| kube_error("update session settings", e))?;
        self.wait_until_indexed(entry, &updated).await;
        Ok(self.index.info(&Entry {
            resource: Arc::new(updated),
            pod: entry.pod.clone(),
        }))
    }

    /// Read-your-writes on this replica: waits (briefly) until the index holds the spec this
    /// write produced, so a `GET` right after a `PUT` shows what was put. It compares
    /// `metadata.generation`, which only a spec change moves: the operator writes the status
    /// all the time, so a newer resource version alone may still hold the old spec.
    async fn wait_until_indexed(&self, entry: &Entry, updated: &WhatsAppSession) {
        let Some(written) = updated.metadata.generation else {
            return;
        };
        let deadline = tokio::time::Instant::now() + WRITE_VISIBLE_WAIT;
        while self
            .index
            .find(&entry.session_id())
            .is_some_and(|now| now.resource.metadata.generation.unwrap_or(0) < written)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(POLL).await;
        }
        self.index.note_change();
    }

    async fn patch_webhook(
        &self,
        entry: &Entry,
        config: Option<&WebhookConfig>,
    ) -> Result<WhatsAppSession, ApiError> {
        let name = entry.name();
        let current = entry.resource.spec.webhook.clone();
        // The Secret the router made and the resource points at: `null` once none is.
        let mut made = None;
        let spec = match config {
            None => {
                made = Some(Value::Null);
                None
            }
            Some(config) => {
                let secret_ref = match &config.secret {
                    Some(secret) => {
                        let secret_name = webhook_secret_name(&name);
                        self.ensure_secret(&entry.resource, &secret_name, secret)
                            .await?;
                        made = Some(json!(secret_name));
                        Some(SecretKeyRef {
                            name: secret_name,
                            key: WEBHOOK_SECRET_KEY.into(),
                        })
                    }
                    // An update without a secret keeps the one already set.
                    None => current.as_ref().and_then(|w| w.secret_ref.clone()),
                };
                Some(webhook_spec(config, secret_ref))
            }
        };
        let mut patch = json!({ "spec": { "webhook": webhook_patch(spec.as_ref()) } });
        if let Some(made) = made {
            patch["metadata"] = json!({ "annotations": { ROUTER_SECRET_ANNOTATION: made } });
        }
        let updated = self
            .resources
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| kube_error("update session webhook", e))?;
        self.until_indexed(entry, &updated).await;
        let old_secret = current.and_then(|w| w.secret_ref).map(|r| r.name);
        let new_secret = spec.and_then(|w| w.secret_ref).map(|r| r.name);
        let router_made = entry
            .resource
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROUTER_SECRET_ANNOTATION));
        if let Some(old) = old_secret.filter(|old| Some(old) != new_secret.as_ref())
            && router_made == Some(&old)
            && is_webhook_secret_name(&name, &old)
        {
            self.delete_own_secret(&old).await;
        }
        Ok(updated)
    }

    async fn patch_labels(
        &self,
        entry: &Entry,
        labels: &BTreeMap<String, String>,
    ) -> Result<WhatsAppSession, ApiError> {
        let json = serde_json::to_string(labels).expect("labels serialize");
        let patch = json!({ "metadata": { "annotations": { LABELS_ANNOTATION: json } } });
        let updated = self
            .resources
            .patch(
                &entry.name(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|e| kube_error("update session labels", e))?;
        self.until_indexed(entry, &updated).await;
        Ok(updated)
    }

    /// Read-your-writes on this replica: waits (bounded) until the index holds `updated`
    /// (or anything newer than what the write started from), so a `GET` right after a
    /// change shows it. A write that changed nothing returns at once.
    async fn until_indexed(&self, entry: &Entry, updated: &WhatsAppSession) {
        let before = &entry.resource.metadata.resource_version;
        let after = &updated.metadata.resource_version;
        let deadline = tokio::time::Instant::now() + FIRST_STATE_WAIT;
        while tokio::time::Instant::now() < deadline
            && self.index.find(&entry.session_id()).is_some_and(|e| {
                let indexed = &e.resource.metadata.resource_version;
                indexed == before && indexed != after
            })
        {
            tokio::time::sleep(POLL).await;
        }
        self.index.note_change();
    }

    /// Creates the webhook Secret; its name is derived from its content, so one that exists
    /// already holds this secret.
    async fn ensure_secret(
        &self,
        owner: &WhatsAppSession,
        name: &str,
        secret: &str,
    ) -> Result<(), ApiError> {
        match self
            .secrets
            .create(&PostParams::default(), &webhook_secret(owner, name, secret))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(e) => Err(kube_error("create webhook secret", e)),
        }
    }

    /// Deletes a webhook Secret the router made that nothing references any more.
    async fn delete_own_secret(&self, name: &str) {
        match self.secrets.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                tracing::warn!(secret = %name, error = %e, "cannot delete a replaced webhook secret")
            }
        }
    }
}

/// `spec.webhook` as a JSON merge patch: absent fields are `null`, so a merge replaces the
/// whole webhook rather than keeping old events or secret.
fn webhook_patch(spec: Option<&WebhookSpec>) -> Value {
    match spec {
        None => Value::Null,
        Some(spec) => json!({
            "url": spec.url,
            "events": if spec.events.is_empty() { Value::Null } else { json!(spec.events) },
            "secretRef": spec.secret_ref,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_patch_replaces_every_field() {
        let spec = WebhookSpec {
            url: "https://x.example/h".into(),
            events: vec![],
            secret_ref: None,
        };
        assert_eq!(
            webhook_patch(Some(&spec)),
            json!({ "url": "https://x.example/h", "events": null, "secretRef": null })
        );
        let spec = WebhookSpec {
            events: vec![wagate_api::EventKind::MessageStatus],
            ..spec
        };
        assert_eq!(
            webhook_patch(Some(&spec))["events"],
            json!(["message.status"])
        );
        assert_eq!(webhook_patch(None), Value::Null);
    }
}
