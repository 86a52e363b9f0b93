//! `/v1/sessions/{id}/...` in cluster mode. The record routes (the session itself, delete,
//! webhook, QR links it signs) are the same handlers as in-process, over the resource
//! ([`ResourceRecords`]); everything else goes to the session's pod byte for byte.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::any;
use tracing::Instrument;
use wagate_api::{ApiError, SessionInfo, WebhookConfig};
use wagate_http::path_session_id;
use wagate_http::pod_client::not_ready;
use wagate_session::http::{RecordsState, SessionRecords, record_routes};

use super::Shared;
use super::index::Entry;

pub fn session_routes(shared: Arc<Shared>) -> axum::Router {
    let records = record_routes(RecordsState {
        records: Arc::new(ResourceRecords(shared.clone())),
        links: shared.config.links.clone(),
        public_url: shared.config.public_url.clone(),
    });
    axum::Router::new()
        .route("/v1/sessions/{id}/{*rest}", any(proxy))
        .with_state(shared)
        .merge(records)
}

/// Records owned by `WhatsAppSession` resources: the operator rolls the pod onto what
/// the resource says.
struct ResourceRecords(Arc<Shared>);

impl ResourceRecords {
    async fn entry(&self, id: &str) -> Result<Entry, ApiError> {
        self.0.find(id).await
    }
}

#[async_trait]
impl SessionRecords for ResourceRecords {
    async fn ensure_exists(&self, id: &str) -> Result<(), ApiError> {
        self.entry(id).await.map(drop)
    }

    async fn info(&self, id: &str) -> Result<SessionInfo, ApiError> {
        let entry = self.entry(id).await?;
        Ok(self.0.fresh_info(&entry).await)
    }

    async fn delete(&self, id: &str, purge: bool) -> Result<(), ApiError> {
        let entry = self.entry(id).await?;
        self.0.delete(&entry, purge).await
    }

    async fn set_webhook(
        &self,
        id: &str,
        webhook: Option<WebhookConfig>,
    ) -> Result<SessionInfo, ApiError> {
        let entry = self.entry(id).await?;
        self.0.set_webhook(&entry, webhook.as_ref()).await
    }

    async fn set_settings(
        &self,
        id: &str,
        settings: wagate_api::SessionSettings,
    ) -> Result<SessionInfo, ApiError> {
        let entry = self.entry(id).await?;
        self.0.set_settings(&entry, &settings).await
    }
}

/// The session named by `{id}`: `400` for a malformed id, `404` for one the index does not
/// know (or that is being deleted).
struct Session(Entry);

impl FromRequestParts<Arc<Shared>> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let id = path_session_id(parts, shared).await?;
        shared.find(&id).await.map(Self)
    }
}

/// The per-session routes pods serve that the router forwards, by first segment after
/// the id (the rest of the contract it answers itself).
const FORWARDED: [&str; 18] = [
    "chats",
    "contacts",
    "lids",
    "blocklist",
    "profile",
    "presence",
    "logout",
    "restart",
    "qr",
    "pair-code",
    "messages",
    "stats",
    "check-numbers",
    "groups",
    "webhook",
    "events",
    "media",
    "sandbox",
];

/// The path to ask the pod for: rebuilt from the validated id and the decoded segments of
/// a contract route, each encoded again, so nothing in the caller's spelling can make the
/// pod (or a URL parser on the way) see another route.
fn pod_path(id: &str, rest: &str, query: Option<&str>) -> Result<String, ApiError> {
    let segments: Vec<&str> = rest.split('/').collect();
    if !FORWARDED.contains(&segments[0]) {
        return Err(ApiError::new(
            wagate_api::ErrorCode::NotFound,
            format!("No route for /v1/sessions/{id}/{}", segments[0]),
        ));
    }
    let mut path = format!("/v1/sessions/{id}");
    for segment in segments {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(ApiError::field(
                "path",
                "may not contain empty, '.' or '..' segments",
            ));
        }
        path.push('/');
        path.push_str(&wagate_session::media::url_segment(segment));
    }
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    Ok(path)
}

/// Everything else: to the ready pod, streaming; `503` at once when there is none.
async fn proxy(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
    Path((_, rest)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = entry.session_id();
    let path = pod_path(&id, &rest, request.uri().query())?;
    let pod = entry
        .pod
        .as_ref()
        .ok_or_else(|| not_ready(&id, &entry.phase()))?;
    let span = tracing::info_span!("proxy", session = %id, pod = %pod.http);
    shared
        .pods
        .forward(&id, &pod.http, &path, request)
        .instrument(span)
        .await
}

#[cfg(test)]
mod tests {
    use super::pod_path;

    #[test]
    fn pod_paths_are_rebuilt_from_contract_routes() {
        assert_eq!(
            pod_path("a", "messages/3EB0", Some("async=true")).unwrap(),
            "/v1/sessions/a/messages/3EB0?async=true"
        );
        assert_eq!(
            pod_path("a", "media/x y", None).unwrap(),
            "/v1/sessions/a/media/x%20y"
        );
        for bad in [
            "x/../webhook",
            "healthz",
            "messages/..",
            "messages//x",
            "../../metrics",
        ] {
            assert!(pod_path("a", bad, None).is_err(), "{bad}");
        }
    }
}
