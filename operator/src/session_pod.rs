//! The operator's calls to a session pod: read its status, log it out at deletion. Both
//! present the internal token and are bounded in time, so a dead pod never stalls a
//! reconcile or a deletion.

use std::time::Duration;

use wagate_api::{PairCodeResponse, SessionInfo};

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

#[derive(Clone)]
pub struct SessionPodClient {
    http: reqwest::Client,
    token: String,
}

impl SessionPodClient {
    pub fn new(token: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("a TLS-less reqwest client always builds");
        Self { http, token }
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
}
