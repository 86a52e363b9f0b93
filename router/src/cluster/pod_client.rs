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

    /// Forwards `request` to `path_and_query` on the pod (headers and body as they are,
    /// both bodies streamed) and returns the pod's answer as is.
    pub async fn forward(
        &self,
        session_id: &str,
        pod: &PodAddress,
        path: &str,
        request: axum::extract::Request,
    ) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let may_have_applied =
            parts.method != http::Method::GET && parts.method != http::Method::HEAD;
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
        // Once the request may have reached the pod, a broken or silent connection says
        // nothing about whether it was applied: not a retryable 503 but a 504 that tells the
        // caller to retry with the same idempotency key.
        let in_doubt = |why: &str| {
            if may_have_applied {
                ApiError::new(
                    ErrorCode::UpstreamTimeout,
                    format!(
                        "The pod of session '{session_id}' {why}; the request may have been \
                         applied: retry with the same idempotencyKey"
                    ),
                )
            } else {
                unreachable(session_id, why)
            }
        };
        let answer = tokio::time::timeout(HEADERS_TIMEOUT, outbound.send())
            .await
            .map_err(|_| in_doubt("did not answer in time"))?
            .map_err(|e| {
                if e.is_connect() {
                    unreachable(session_id, &connect_reason(&e))
                } else {
                    in_doubt(&connect_reason(&e))
                }
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod that reads the whole request and then drops the connection unanswered.
    async fn hangs_up_after_reading() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::AsyncReadExt;
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                drop(socket);
            }
        });
        addr
    }

    async fn forward(method: http::Method, http: String) -> ApiError {
        let pod = PodAddress {
            http,
            metrics: String::new(),
            uid: "uid".into(),
        };
        let request = axum::extract::Request::builder()
            .method(method)
            .uri("/v1/sessions/a/messages")
            .body(Body::from("{}"))
            .unwrap();
        PodClient::new("token".into())
            .forward("a", &pod, "/v1/sessions/a/messages", request)
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_write_cut_off_after_it_was_sent_is_in_doubt_not_retryable() {
        let pod = hangs_up_after_reading().await;
        let error = forward(http::Method::POST, pod.clone()).await;
        assert_eq!(error.code, ErrorCode::UpstreamTimeout, "{error:?}");
        assert!(
            error.message.contains("idempotencyKey"),
            "{}",
            error.message
        );
        // A read can simply be retried.
        let error = forward(http::Method::GET, pod).await;
        assert_eq!(error.code, ErrorCode::SessionNotReady, "{error:?}");
        // Nothing listening: the request never left, so a retry is safe.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let error = forward(http::Method::POST, closed).await;
        assert_eq!(error.code, ErrorCode::SessionNotReady, "{error:?}");
    }
}
