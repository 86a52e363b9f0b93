//! HTTP to session pods with the internal token: the streaming reverse proxy of the
//! per-session routes, and the router's own calls (info, event stream, metrics).

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use futures::TryStreamExt;
use wagate_api::{ApiError, ErrorCode, SessionInfo};

use super::index::PodAddress;

/// A pod that does not accept a connection within this is treated as gone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for response headers: a synchronous send waits up to 60 s in the pod
/// (`--send-wait-secs`); streams (SSE, media) answer headers at once and are not bounded.
const HEADERS_TIMEOUT: Duration = Duration::from_secs(75);
/// The router's own short calls (info, metrics).
const SHORT_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Headers that belong to one hop, or that the proxy sets itself.
const NOT_FORWARDED: [&str; 9] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "host",
    "authorization",
    "x-api-key",
    "content-length",
];

#[derive(Clone)]
pub struct PodClient {
    http: reqwest::Client,
    token: String,
}

impl PodClient {
    pub fn new(token: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a TLS-less HTTP client builds");
        Self { http, token }
    }

    /// Forwards `request` to the pod as is (path, query, headers, body), streaming both
    /// bodies, and returns the pod's answer as is.
    pub async fn forward(
        &self,
        session_id: &str,
        pod: &PodAddress,
        request: axum::extract::Request,
    ) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut outbound = self
            .http
            .request(parts.method.clone(), format!("http://{}{path}", pod.http))
            .bearer_auth(&self.token)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()));
        for (name, value) in &parts.headers {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                outbound = outbound.header(name, value);
            }
        }
        let answer = tokio::time::timeout(HEADERS_TIMEOUT, outbound.send())
            .await
            .map_err(|_| unreachable(session_id, "did not answer in time"))?
            .map_err(|e| unreachable(session_id, &connect_reason(&e)))?;
        let mut response = Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                response = response.header(name, value);
            }
        }
        let stream = answer.bytes_stream().map_err(std::io::Error::other);
        response
            .body(Body::from_stream(stream))
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// `GET /v1/sessions/{id}` of the pod.
    pub async fn info(&self, session_id: &str, pod: &PodAddress) -> Result<SessionInfo, ApiError> {
        let url = format!("http://{}/v1/sessions/{session_id}", pod.http);
        let answer = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .timeout(SHORT_CALL_TIMEOUT)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unreachable(session_id, &connect_reason(&e)))?;
        answer
            .json()
            .await
            .map_err(|e| unreachable(session_id, &e.to_string()))
    }

    /// The pod's event stream (`GET .../events`), as the raw response.
    pub async fn events(
        &self,
        session_id: &str,
        pod: &PodAddress,
    ) -> reqwest::Result<reqwest::Response> {
        let url = format!("http://{}/v1/sessions/{session_id}/events", pod.http);
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()
    }

    /// The pod's `/metrics` text.
    pub async fn metrics(&self, pod: &PodAddress) -> reqwest::Result<String> {
        let url = format!("http://{}/metrics", pod.metrics);
        self.http
            .get(url)
            .timeout(SHORT_CALL_TIMEOUT)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    }
}

fn connect_reason(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "cannot be reached".into()
    } else if e.is_timeout() {
        "did not answer in time".into()
    } else {
        format!("failed: {e}")
    }
}

/// A session whose pod is listed as ready but does not answer: retryable, like a pod that
/// is still starting.
fn unreachable(session_id: &str, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::SessionNotReady,
        format!("The pod of session '{session_id}' {why}"),
    )
    .with_retry_after(2)
}

/// A session without a ready pod.
pub fn not_ready(session_id: &str, phase: &str) -> ApiError {
    ApiError::new(
        ErrorCode::SessionNotReady,
        format!("Session '{session_id}' has no ready pod (phase: {phase})"),
    )
    .with_retry_after(2)
}
