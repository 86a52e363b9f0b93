//! HTTP to session pods with the internal token, for the cluster router (the streaming
//! reverse proxy of the per-session routes, info, event stream, metrics) and the operator
//! (status, pairing code, logout at deletion). Every call is bounded in time, so a dead pod
//! never stalls a request, a reconcile or a deletion.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use futures::TryStreamExt;
use wagate_api::{ApiError, ErrorCode, PairCodeResponse, SessionInfo};

/// A pod that does not accept a connection within this is treated as gone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for response headers: a synchronous send waits up to 60 s in the pod
/// (`--send-wait-secs`); streams (SSE, media) answer headers at once and are not bounded.
const HEADERS_TIMEOUT: Duration = Duration::from_secs(75);
/// The router's own short calls (info, metrics).
pub const SHORT_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of a pod's `/metrics` the router reads: a linked pod's is about 10 KB.
pub const METRICS_MAX_BYTES: usize = 1024 * 1024;

/// Why a pod's `/metrics` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("the pod's metrics are over {METRICS_MAX_BYTES} bytes")]
    TooLarge,
}

/// Headers that belong to one hop, that the proxy sets itself, or that are the caller's
/// credentials at the router (a pod, which parses what strangers send, never sees them).
const NOT_FORWARDED: [&str; 12] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "host",
    "authorization",
    "x-api-key",
    "cookie",
    "x-wagate-csrf",
    "content-length",
    // A pod never sets the router's cookies.
    "set-cookie",
];

/// A call to a pod that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PodCallError {
    #[error("session pod at {addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("session pod at {addr}: {source}")]
    Http {
        addr: String,
        source: reqwest::Error,
    },
}

impl PodCallError {
    /// The contract's answer for a session whose pod failed this call: retryable, like a
    /// pod that is still starting.
    pub fn to_api_error(&self, session_id: &str) -> ApiError {
        match self {
            Self::Timeout { .. } => unreachable(session_id, "did not answer in time"),
            Self::Http { source, .. } => unreachable(session_id, &connect_reason(source)),
        }
    }
}

#[derive(Clone)]
pub struct PodClient {
    http: reqwest::Client,
    /// For the metrics scrapes: no idle connections kept. A scrape comes every 15 s per pod,
    /// so pooling would hold one idle socket per pod (10,000 in a large cluster, on top of
    /// the relayed event streams) to save a loopback-cheap TCP handshake.
    scrape: reqwest::Client,
    token: String,
}

impl PodClient {
    pub fn new(token: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a TLS-less HTTP client builds");
        let scrape = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .expect("a TLS-less HTTP client builds");
        Self {
            http,
            scrape,
            token,
        }
    }

    /// Forwards `request` to `path_and_query` on the pod (headers and body as they are,
    /// both bodies streamed) and returns the pod's answer as is.
    pub async fn forward(
        &self,
        session_id: &str,
        addr: &str,
        path: &str,
        request: axum::extract::Request,
    ) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let may_have_applied =
            parts.method != http::Method::GET && parts.method != http::Method::HEAD;
        let mut outbound = self
            .http
            .request(parts.method.clone(), format!("http://{addr}{path}"))
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

    /// `GET /v1/sessions/{id}` on the pod at `addr` (`ip:port`).
    pub async fn info(
        &self,
        addr: &str,
        session_id: &str,
        timeout: Duration,
    ) -> Result<SessionInfo, PodCallError> {
        let request = self
            .http
            .get(format!("http://{addr}/v1/sessions/{session_id}"))
            .bearer_auth(&self.token);
        self.call(addr, timeout, async move {
            request.send().await?.error_for_status()?.json().await
        })
        .await
    }

    /// `POST /v1/sessions/{id}/logout`: unlinks the device from the phone.
    pub async fn logout(
        &self,
        addr: &str,
        session_id: &str,
        timeout: Duration,
    ) -> Result<(), PodCallError> {
        let request = self
            .http
            .post(format!("http://{addr}/v1/sessions/{session_id}/logout"))
            .bearer_auth(&self.token);
        self.call(addr, timeout, async move {
            request.send().await?.error_for_status().map(drop)
        })
        .await
    }

    /// `POST /v1/sessions/{id}/pair-code`: a code to link `phone` without scanning a QR.
    pub async fn pair_code(
        &self,
        addr: &str,
        session_id: &str,
        phone: &str,
        timeout: Duration,
    ) -> Result<PairCodeResponse, PodCallError> {
        let request = self
            .http
            .post(format!("http://{addr}/v1/sessions/{session_id}/pair-code"))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "phone": phone }));
        self.call(addr, timeout, async move {
            request.send().await?.error_for_status()?.json().await
        })
        .await
    }

    async fn call<T>(
        &self,
        addr: &str,
        timeout: Duration,
        call: impl Future<Output = Result<T, reqwest::Error>>,
    ) -> Result<T, PodCallError> {
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(PodCallError::Http {
                addr: addr.to_string(),
                source,
            }),
            Err(_) => Err(PodCallError::Timeout {
                addr: addr.to_string(),
                timeout,
            }),
        }
    }

    /// The pod's event stream (`GET .../events`), as the raw response.
    pub async fn events(&self, addr: &str, session_id: &str) -> reqwest::Result<reqwest::Response> {
        let url = format!("http://{addr}/v1/sessions/{session_id}/events");
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()
    }

    /// The pod's `/metrics` text, from its metrics address (`ip:port`).
    pub async fn metrics(&self, metrics_addr: &str) -> Result<String, ScrapeError> {
        let url = format!("http://{metrics_addr}/metrics");
        let mut response = self
            .scrape
            .get(url)
            .timeout(SHORT_CALL_TIMEOUT)
            .send()
            .await?
            .error_for_status()?;
        // Read in bounded steps: the router scrapes every pod, and one pod answering without
        // end must cost it one refused scrape, not its memory.
        let mut text = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if text.len() + chunk.len() > METRICS_MAX_BYTES {
                return Err(ScrapeError::TooLarge);
            }
            text.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
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

    async fn forward(method: http::Method, addr: String) -> ApiError {
        let request = axum::extract::Request::builder()
            .method(method)
            .uri("/v1/sessions/a/messages")
            .body(Body::from("{}"))
            .unwrap();
        PodClient::new("token".into())
            .forward("a", &addr, "/v1/sessions/a/messages", request)
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

    #[tokio::test]
    async fn a_pods_metrics_are_read_up_to_the_bound_and_no_further() {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let app = axum::Router::new()
            .route("/metrics", get(|| async { "x 1\n".repeat(1000) }))
            .route(
                "/huge/metrics",
                get(|| async { "x".repeat(METRICS_MAX_BYTES + 1) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let pods = PodClient::new("token".into());

        assert_eq!(pods.metrics(&addr).await.unwrap(), "x 1\n".repeat(1000));
        let error = pods.metrics(&format!("{addr}/huge")).await.unwrap_err();
        assert!(matches!(error, ScrapeError::TooLarge), "{error:?}");
    }
}
